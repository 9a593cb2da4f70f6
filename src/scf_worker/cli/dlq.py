"""``scf-worker dlq list|show|replay|discard``: inspect and replay dead letters.

The store is the configured one (``QUEUE_URL`` set: the AMQP dead-letter queue;
unset: the ``scf_dlq`` table of ``STATE_URL``). Exit status: 0 on success, 1
when a replayed entry failed again, 2 for invalid arguments or a missing entry.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from datetime import datetime, timezone
from typing import Any, TextIO

from scf_worker.cli.i18n import detect_lang, text

_RELATIVE = re.compile(r"^(\d+)([smhd])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
BAR_WIDTH = 30


def parse_time(value: str, now: float | None = None) -> float:
    """Parse epoch seconds, ISO 8601 (UTC unless an offset is given) or an age like ``24h``."""
    now = time.time() if now is None else now
    raw = value.strip()
    relative = _RELATIVE.match(raw)
    if relative:
        return now - int(relative.group(1)) * _UNIT_SECONDS[relative.group(2)]
    try:
        return float(raw)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"invalid time {value!r}: use ISO 8601 (2024-05-01T02:00:00Z), epoch seconds or an age"
            " such as 30m, 24h, 7d") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()


def _positive_rate(value: str) -> float:
    try:
        rate = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid rate {value!r}: expected a number") from None
    if rate <= 0:
        raise argparse.ArgumentTypeError(f"invalid rate {value!r}: must be greater than 0")
    return rate


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number {value!r}: expected an integer") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"invalid number {value!r}: must be at least 1")
    return number


def _add_filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--function", help="only entries of this function (e.g. webhook-forward)")
    parser.add_argument("--type", dest="job_type",
                        help="only entries of this job type (e.g. media.transcode)")
    parser.add_argument("--since", type=parse_time,
                        help="only entries whose last failure is at or after this time"
                             " (ISO 8601, epoch seconds, or an age such as 24h)")
    parser.add_argument("--until", type=parse_time,
                        help="only entries whose last failure is before this time")
    parser.add_argument("--id", dest="ids", action="append", default=[],
                        help="only this entry id (repeatable)")
    parser.add_argument("--limit", type=_positive_int, help="at most this many entries")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--lang", choices=("zh", "en"), help="output language (default: by locale)")


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("dlq", help="list, show, replay or discard dead letters")
    actions = parser.add_subparsers(dest="dlq_action", required=True)

    listing = actions.add_parser("list", help="list dead letters (pending by default)")
    _add_filters(listing)
    listing.add_argument("--status", choices=("pending", "replayed", "discarded", "all"),
                         default="pending", help="entry status to list (default: pending)")
    listing.set_defaults(run=run_list)

    show = actions.add_parser("show", help="show one dead letter with its payload")
    show.add_argument("entry_id", nargs="?", help="entry id (or use --id)")
    _add_filters(show)
    show.set_defaults(run=run_show)

    replay = actions.add_parser("replay", help="run pending dead letters again, once per piece of work")
    _add_filters(replay)
    replay.add_argument("--dry-run", action="store_true", help="report what would happen; change nothing")
    replay.add_argument("--rate", type=_positive_rate,
                        help="at most this many replays per second (default: no limit)")
    replay.set_defaults(run=run_replay)

    discard = actions.add_parser("discard", help="mark pending dead letters as discarded")
    _add_filters(discard)
    discard.add_argument("--dry-run", action="store_true", help="report what would happen; change nothing")
    discard.add_argument("--all", dest="all_entries", action="store_true",
                         help="discard every pending entry; required when no filter is given")
    discard.set_defaults(run=run_discard)


def _query(args: argparse.Namespace, statuses: tuple[str, ...] = ("pending",)) -> Any:
    from scf_worker.retry.deadletter import DeadLetterQuery

    ids = tuple(args.ids) + ((args.entry_id,) if getattr(args, "entry_id", None) else ())
    return DeadLetterQuery(function=args.function, job_type=args.job_type, since=args.since,
                           until=args.until, ids=ids, statuses=statuses, limit=args.limit)


def _iso(epoch: float | None) -> str:
    if not epoch:
        return "-"
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _print_json(value: Any) -> None:
    print(json.dumps(value, ensure_ascii=False, indent=2))


def run_list(args: argparse.Namespace) -> int:
    from scf_worker.app import get_services
    from scf_worker.retry.deadletter import STATUSES, list_entries

    statuses = STATUSES if args.status == "all" else (args.status,)
    entries = list_entries(get_services().dead_letters, _query(args, statuses))
    if args.json:
        _print_json([entry.as_json() for entry in entries])
        return 0
    lang = detect_lang(args.lang)
    if not entries:
        print(text("dlq.empty", lang))
        return 0
    print(f"{'ID':<18} {'FUNCTION':<16} {'TYPE':<18} {'STATUS':<10} {'ATT':>3}  "
          f"{'LAST FAILURE':<20}  ERROR")
    for entry in entries:
        error = f"{entry.last_failure.error_class}: {entry.last_failure.message}"
        print(f"{entry.id or '-':<18} {entry.function:<16} {entry.job_type:<18} {entry.status:<10} "
              f"{entry.attempts:>3}  {_iso(entry.last_failed_at):<20}  {error[:80]}")
    print(text("dlq.listed", lang, count=len(entries)))
    return 0


def run_show(args: argparse.Namespace) -> int:
    from scf_worker.app import get_services
    from scf_worker.retry.deadletter import STATUSES, list_entries

    query = _query(args, STATUSES)
    lang = detect_lang(args.lang)
    if not query.ids:
        print(text("dlq.id_required", lang), file=sys.stderr)
        return 2
    entries = list_entries(get_services().dead_letters, query)
    if not entries:
        print(text("dlq.not_found", lang, ids=", ".join(query.ids)), file=sys.stderr)
        return 2
    if args.json:
        _print_json([entry.as_json() for entry in entries] if len(entries) > 1 else entries[0].as_json())
        return 0
    for entry in entries:
        data = entry.as_json()
        for name in ("id", "function", "jobType", "idempotencyKey", "status", "resolution", "attempts"):
            print(f"{name:<16} {data[name]}")
        for name in ("firstError", "lastError"):
            error = data[name]
            print(f"{name:<16} [{error['kind']}] {error['class']}: {error['message']}")
        print(f"{'firstFailedAt':<16} {_iso(entry.first_failed_at)}")
        print(f"{'lastFailedAt':<16} {_iso(entry.last_failed_at)}")
        print("payload")
        print(json.dumps(entry.payload, ensure_ascii=False, indent=2))
    return 0


class ProgressBar:
    """A one-line bar redrawn with carriage returns; drawn only on a terminal."""

    def __init__(self, stream: TextIO, label: str) -> None:
        self.stream = stream
        self.label = label
        self.enabled = stream.isatty()

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or total <= 0:
            return
        filled = BAR_WIDTH * done // total
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        self.stream.write(f"\r{self.label} [{bar}] {done}/{total}")
        if done >= total:
            self.stream.write("\n")
        self.stream.flush()


def run_replay(args: argparse.Namespace) -> int:
    from scf_worker.app import get_services
    from scf_worker.retry.replay import Replayer, ReplayOptions

    lang = detect_lang(args.lang)
    progress = None if args.json else ProgressBar(sys.stderr, text("dlq.replaying", lang))
    replayer = Replayer(get_services(), progress=progress)
    query = _query(args)
    report = replayer.run(ReplayOptions(query=query, dry_run=args.dry_run,
                                        rate_per_second=args.rate))
    missing = sorted(set(query.ids) - {item.entry_id for item in report.items})
    if missing:
        print(text("dlq.not_found", lang, ids=", ".join(missing)), file=sys.stderr)
        return 2
    if args.json:
        _print_json({**report.summary(), "items": [item.as_json() for item in report.items]})
    else:
        for item in report.items:
            error = f"  ({item.error})" if item.error else ""
            print(f"{item.entry_id or '-':<18} {item.function:<16} {item.action}{error}")
        print(text("dlq.replay_summary", lang, **report.summary()))
    return 1 if report.count("failed") else 0


def _has_filter(args: argparse.Namespace) -> bool:
    return bool(args.function or args.job_type or args.since or args.until or args.ids or args.limit)


def run_discard(args: argparse.Namespace) -> int:
    from scf_worker.app import get_services
    from scf_worker.retry.replay import discard

    if not _has_filter(args) and not args.all_entries and not args.dry_run:
        # Discarding is the one step that gives work up for good, so it is never the default.
        print(text("dlq.discard_needs_filter", detect_lang(args.lang)), file=sys.stderr)
        return 2
    services = get_services()
    ids = discard(services.dead_letters, _query(args), services.clock(), dry_run=args.dry_run)
    if args.json:
        _print_json({"dryRun": args.dry_run, "discarded": ids})
    else:
        key = "dlq.discard_dry_run" if args.dry_run else "dlq.discarded"
        print(text(key, detect_lang(args.lang), count=len(ids), ids=", ".join(ids) or "-"))
    return 0
