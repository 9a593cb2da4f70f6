"""``scf-worker reconcile``: record lost uploads and push stuck transcode jobs, once."""

from __future__ import annotations

import argparse
import json
import sys

from scf_worker.cli.i18n import MESSAGES, detect_lang, text


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "reconcile", help="record uploads whose event was lost and push stuck transcode jobs",
        description="Scan the upload prefix for objects with no upload record and the job tables for"
                    " transcode jobs that stopped moving, and drive each through the normal path.",
    )
    parser.add_argument("--dry-run", action="store_true", help="report findings without changing anything")
    parser.add_argument("--concurrency", type=int, default=None, metavar="N",
                        help="objects recorded at once (1-32; default RECONCILE_CONCURRENCY, 4)")
    parser.add_argument("--json", action="store_true", help="print only a JSON object")
    parser.add_argument("--lang", choices=("zh", "en"), help="output language (default: by locale)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from scf_worker.app import get_services
    from scf_worker.batch.wiring import reconciler_for
    from scf_worker.cli.progress import TerminalProgress

    lang = detect_lang(args.lang)
    if args.concurrency is not None and not 1 <= args.concurrency <= 32:
        print("--concurrency must be from 1 to 32", file=sys.stderr)
        return 2
    reconciler = reconciler_for(get_services())
    prefix = "status.outcome."
    names = {key[len(prefix):]: value[lang] for key, value in MESSAGES.items() if key.startswith(prefix)}
    progress = TerminalProgress(sys.stderr, text("reconcile.progress", lang), names)
    summary = reconciler.run(dry_run=args.dry_run, progress=progress, concurrency=args.concurrency)

    if args.json:
        print(json.dumps(summary.as_json(), ensure_ascii=False, indent=2))
        return 0
    print(f"== {text('reconcile.title', lang)} ==")
    print(text("reconcile.scanned", lang, count=summary.scanned_objects,
               prefix=reconciler.batch.reconcile_prefix))
    print(text("reconcile.orphans", lang, orphans=summary.orphans, recorded=summary.recorded,
               raced=summary.raced, deleted=summary.deleted))
    for key in summary.orphan_keys:
        print(f"  {key}")
    print(text("reconcile.stuck", lang, stuck=summary.stuck_jobs, requeued=summary.requeued,
               released=summary.released, failed=summary.failed_jobs))
    for job in summary.stuck:
        print(f"  {job.job_id}  {job.kind}  {job.status}  attempts={job.attempts}")
    if summary.dry_run:
        print(text("reconcile.dry_run", lang))
    if not summary.complete:
        print(text("reconcile.incomplete", lang))
    return 0
