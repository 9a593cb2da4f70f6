"""``scf-worker dev``: run every function locally with its triggers, until Ctrl-C."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from types import FrameType

from scf_worker.cli.i18n import detect_lang, text


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("dev", help="run the functions locally: gateway, COS events, timers,"
                                               " queue consumer, webhook receiver")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to listen on")
    parser.add_argument("--port", type=int, default=8900, help="API Gateway port (0 picks a free one)")
    parser.add_argument("--workdir", type=Path, help="state, objects and dev.json (default .scf-worker/dev)")
    parser.add_argument("--poll-seconds", type=float, default=0.5,
                        help="how often the COS watcher and queue consumer look for work")
    parser.add_argument("--no-timers", action="store_true", help="do not run the timer triggers")
    parser.add_argument("--root", type=Path, help="project folder holding scf/")
    parser.add_argument("--lang", choices=("zh", "en"))
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from scf_worker.deploy.errors import DeployToolError
    from scf_worker.deploy.manifest import find_project_root
    from scf_worker.devstack import DevStack
    from scf_worker.devstack.console import use_console_format_if_terminal

    lang = detect_lang(args.lang)
    use_console_format_if_terminal(sys.stderr)
    try:
        root = args.root or find_project_root()
    except DeployToolError as exc:
        print(exc, file=sys.stderr)
        return 2
    workdir = (args.workdir or root / ".scf-worker" / "dev").resolve()
    stack = DevStack(root, workdir, args.host, args.port, args.poll_seconds, timers=not args.no_timers)

    def stop(signum: int, frame: FrameType | None) -> None:
        stack.request_stop()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            info = stack.start()
        except ValueError as exc:
            print(exc, file=sys.stderr)
            return 2
        print(text("dev.ready", lang, gateway=info["gateway"], receiver=info["receiver"],
                   info=workdir / "dev.json"), flush=True)
        stack.wait()
    finally:
        if hasattr(stack, "worker"):
            stack.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print(text("dev.stopped", lang), flush=True)
    return 0
