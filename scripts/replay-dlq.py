#!/usr/bin/env python3
"""Replay dead letters: the same as ``scf-worker dlq replay`` with the same flags.

Example: ``scripts/replay-dlq.py --function webhook-forward --since 24h --rate 5 --dry-run``
"""

import sys

from scf_worker.cli import main

if __name__ == "__main__":
    sys.exit(main(["dlq", "replay", *sys.argv[1:]]))
