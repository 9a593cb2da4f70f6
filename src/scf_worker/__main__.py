import sys

from scf_worker.cli import main

sys.exit(main())
