"""``scf-worker batch import MANIFEST``: import a manifest with the configured stores."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from scf_worker.cli.i18n import MESSAGES, detect_lang, text

EXIT_FAILED_ROWS = 1
EXIT_USAGE = 2
EXIT_BUSY = 3


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("batch", help="batch jobs: import media listed in a manifest")
    commands = parser.add_subparsers(dest="batch_command", required=True)
    importer = commands.add_parser(
        "import", help="import the rows of a CSV or JSON lines manifest",
        description="Import each row (source object key or https:// URL) through the upload path."
                    " MANIFEST is a local file, or an object key in COS_BUCKET. The per-row report"
                    " is written next to the manifest as <MANIFEST>.report.jsonl.",
    )
    importer.add_argument("manifest", metavar="MANIFEST", help="local file path, or object key in the bucket")
    importer.add_argument("--dry-run", action="store_true",
                          help="check every row without downloading, storing or recording anything")
    importer.add_argument("--rerun", action="store_true",
                          help="run a finished import again as a new pass; rows already imported"
                               " are reported as such and not stored or recorded again")
    importer.add_argument("--concurrency", type=int, default=None, metavar="N",
                          help="rows processed at once (1-32; default IMPORT_CONCURRENCY, 4)")
    importer.add_argument("--json", action="store_true", help="print only a JSON object")
    importer.add_argument("--lang", choices=("zh", "en"), help="output language (default: by locale)")
    importer.set_defaults(run=run_import)


def _status_names(lang: str) -> dict[str, str]:
    prefix = "batch.status."
    return {key[len(prefix):]: value[lang] for key, value in MESSAGES.items() if key.startswith(prefix)}


def run_import(args: argparse.Namespace) -> int:
    from scf_worker.app import get_services
    from scf_worker.batch import ImportBusy, ManifestError
    from scf_worker.batch.preview import preview_import
    from scf_worker.batch.wiring import importer_for
    from scf_worker.cli.progress import TerminalProgress

    lang = detect_lang(args.lang)
    if args.concurrency is not None and not 1 <= args.concurrency <= 32:
        print("--concurrency must be from 1 to 32", file=sys.stderr)
        return EXIT_USAGE
    services = get_services()
    importer = importer_for(services)
    ref = _manifest_ref(args.manifest, importer.bucket, importer.store)
    if ref is None:
        print(text("batch.not_found", lang, manifest=args.manifest), file=sys.stderr)
        return EXIT_USAGE

    label = text("batch.preview_progress" if args.dry_run else "batch.progress", lang)
    progress = TerminalProgress(sys.stderr, label, _status_names(lang))
    try:
        if args.dry_run:
            preview = preview_import(importer, ref, progress, args.concurrency)
            _print(preview.as_json(), args.json, lambda: _print_preview(preview.as_json(), lang))
            return 0
        summary = importer.run(ref, progress=progress, rerun=args.rerun, concurrency=args.concurrency)
    except ManifestError as exc:
        print(text("batch.manifest_error", lang, error=exc), file=sys.stderr)
        return EXIT_USAGE
    except ImportBusy as exc:
        print(text("batch.busy", lang, error=exc), file=sys.stderr)
        return EXIT_BUSY

    result = summary.as_json()
    _print(result, args.json, lambda: _print_summary(result, lang, importer.ledger))
    if summary.status == "failed" or summary.totals.get("failed"):
        return EXIT_FAILED_ROWS
    return 0


def _manifest_ref(raw: str, bucket: str, store: Any) -> Any:
    """Return a local manifest when the path exists, else a stored one when the key exists."""
    from scf_worker.batch import ManifestRef
    from scf_worker.batch.manifest import key_problem

    path = Path(raw)
    if path.is_file():
        return ManifestRef.local(path)
    key = raw[len(f"cos://{bucket}/"):] if raw.startswith(f"cos://{bucket}/") else raw
    if key_problem(key) is None and store.head(bucket, key) is not None:
        return ManifestRef.stored(bucket, key)
    return None


def _print(result: dict[str, Any], as_json: bool, human: Any) -> None:
    if as_json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
    else:
        human()


def _print_summary(result: dict[str, Any], lang: str, ledger: Any) -> None:
    names = _status_names(lang)
    print(f"{text('batch.manifest', lang)}: {result['manifest']}")
    print(f"{text('batch.import_id', lang)}: {result['importId']}")
    status = text(f"batch.import_status.{result['status']}", lang)
    print(text("batch.state", lang, status=status, pass_number=result["pass"], total=result["totalRows"]))
    if result.get("error"):
        print(text("batch.manifest_error", lang, error=result["error"]))
    print(f"{text('batch.totals', lang)}:")
    for status, count in sorted(result["totals"].items()):
        print(f"  {names.get(status, status):<12} {count}")
    print(text("batch.this_run", lang, count=sum(result["thisRun"].values())))
    if result["status"] == "done" and not result["thisRun"]:
        print(text("batch.already_done", lang))
    reasons = _reasons(ledger, result)
    if reasons:
        print(f"{text('batch.reasons', lang)}:")
        for reason, count in reasons:
            print(f"  {reason:<20} {count}")
    if result.get("report"):
        print(f"{text('batch.report', lang)}: {result['report']}")


def _reasons(ledger: Any, result: dict[str, Any]) -> list[tuple[str, int]]:
    from collections import Counter

    if not result["importId"]:
        return []
    rows = ledger.rows(result["importId"], result["pass"])
    return Counter(row.reason for row in rows.values() if row.reason).most_common()


def _print_preview(preview: dict[str, Any], lang: str) -> None:
    from collections import Counter

    names = _status_names(lang)
    print(f"{text('batch.preview', lang)}")
    print(f"{text('batch.manifest', lang)}: {preview['manifest']}  ({preview['totalRows']})")
    for status, count in sorted(preview["totals"].items()):
        print(f"  {names.get(status, status):<12} {count}")
    reasons = Counter(row["reason"] for row in preview["rows"] if row.get("reason")).most_common()
    if reasons:
        print(f"{text('batch.reasons', lang)}:")
        for reason, count in reasons:
            print(f"  {reason:<20} {count}")
