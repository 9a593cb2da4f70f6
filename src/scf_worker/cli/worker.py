"""``scf-worker worker``: run queued jobs, the local stand-in for queue triggers."""

from __future__ import annotations

import argparse
import sys
import time

from scf_worker.cli.i18n import detect_lang, text


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("worker", help="run queued jobs from the state store")
    parser.add_argument("--until-idle", action="store_true",
                        help="stop when no message is ready or scheduled")
    parser.add_argument("--poll-seconds", type=float, default=1.0,
                        help="pause between polls when running continuously (seconds)")
    parser.add_argument("--workers", type=int, default=1,
                        help="threads running jobs in parallel, e.g. fan-out segments (default 1)")
    parser.add_argument("--lang", choices=("zh", "en"))
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from scf_worker.app import get_services
    from scf_worker.jobs.worker import run_pool, run_until_idle

    if args.poll_seconds <= 0:
        print("--poll-seconds must be greater than 0", file=sys.stderr)
        return 2
    services = get_services()
    lang = detect_lang(args.lang)
    while True:
        stats = run_pool(services, args.workers) if args.workers > 1 else run_until_idle(services)
        if stats.processed or args.until_idle:
            print(text("worker.summary", lang, processed=stats.processed, done=stats.done,
                       retried=stats.retried, dead=stats.dead))
        if args.until_idle:
            # A broker or store that could not be reached is a failed run, even with nothing done.
            return 1 if getattr(stats, "infra_errors", 0) else 0
        time.sleep(args.poll_seconds)
