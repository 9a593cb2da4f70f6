"""The ``scf-worker`` command; each subcommand lives in its own module with ``register()``."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from scf_worker.runtime.errors import ConfigError
from scf_worker.state.errors import StateError

SUBCOMMAND_MODULES = (
    "demo", "worker", "alerts", "trace", "report", "policy",
    "check", "package", "deploy", "invoke", "event", "dev", "dlq", "db", "webhooks",
    "batch", "reconcile",
)


class _CurrentStderr:
    """Write to whatever ``sys.stderr`` is at the time, so a replaced stream is never kept."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scf-worker",
                                     description="Tencent Cloud SCF media worker toolkit")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(f"scf_worker.cli.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Function logs stay JSON but go to stderr, so stdout holds only the command's output.
    from scf_worker.observability.logging import configure

    configure(stream=_CurrentStderr())
    try:
        code: int = args.run(args)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    except StateError as exc:
        print(f"state store error: {exc}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # one readable line instead of a traceback
        if os.environ.get("WORKER_DEBUG"):
            raise
        from scf_worker.observability.logging import redact_text

        print(redact_text(f"error: {type(exc).__name__}: {exc}"), file=sys.stderr)
        print("set WORKER_DEBUG=1 to see the traceback", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # The reader (for example `| head`) went away; that is not an error of the command.
        sys.stderr.close()
        return 0
    return code


if __name__ == "__main__":
    sys.exit(main())
