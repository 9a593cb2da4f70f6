"""``scf-worker demo``: run the whole pipeline on real media and print a summary."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from scf_worker.cli.i18n import detect_lang, text


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("demo", help="run the pipeline on one media file (or a generated clip)")
    parser.add_argument("media_file", nargs="?", type=Path, help="media to upload; omit to generate a clip")
    parser.add_argument("--workdir", type=Path, help="directory for state, objects and outputs")
    parser.add_argument("--json", action="store_true", help="print only a JSON object")
    parser.add_argument("--lang", choices=("zh", "en"), help="summary language (default: by locale)")
    parser.add_argument("--verbose", action="store_true", help="write INFO log lines to stderr")
    parser.set_defaults(run=run)


def _usage_error(args: argparse.Namespace, key: str, **values: object) -> int:
    message = text(key, detect_lang(args.lang), **values)
    if args.json:
        print(json.dumps({"ok": False, "error": message}, ensure_ascii=False))
    else:
        print(message, file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    from scf_worker.demo.pipeline import run_demo

    media = args.media_file
    if media is not None and not media.exists():
        return _usage_error(args, "demo.no_such_file", path=media)
    if media is not None and not media.is_file():
        return _usage_error(args, "demo.not_a_file", path=media)
    workdir = args.workdir
    if workdir is not None and (workdir.exists() and (not workdir.is_dir() or any(workdir.iterdir()))):
        return _usage_error(args, "demo.workdir_not_empty", path=workdir)
    try:
        report = run_demo(media, workdir, log_level="INFO" if args.verbose else "WARNING")
    except OSError as exc:
        return _usage_error(args, "demo.workdir_failed", path=workdir, error=exc.strerror or exc)
    if args.json:
        print(json.dumps(report.as_json(), ensure_ascii=False, indent=2))
    else:
        print_summary(report, detect_lang(args.lang))
    return 0 if report.ok else 1


def print_summary(report, lang: str) -> None:  # type: ignore[no-untyped-def]
    source = report.source if report.source != "generated" else text("demo.generated", lang)
    print(f"== {text('demo.title', lang)} ==")
    print(f"{text('demo.source', lang)}: {source}")
    print(f"{text('demo.workdir', lang)}: {report.workdir}")
    print(f"\n{text('demo.steps', lang)}:")
    for step in report.steps:
        print(f"  {step['name']:<16} {step['durationMs']:>7} ms")
    print(f"\n{text('demo.callbacks', lang)}: {', '.join(report.callbacks)}")
    print(f"\n{text('demo.jobs', lang)}:")
    for job in report.jobs:
        error = f"  ({job['error']})" if job.get("error") else ""
        print(f"  {job['type']:<16} {job['status']:<8} attempts={job['attempts']}  {job['id']}{error}")
    print(f"\n{text('demo.outputs', lang)}:")
    for output in report.outputs:
        size = f"{output['width']}x{output['height']}" if output["width"] and output["height"] else "-"
        still = output["kind"] in ("thumbnail", "sprite", "image")
        duration = "-" if still or not output["durationSeconds"] else f"{output['durationSeconds']:.2f}s"
        print(f"  {output['kind']:<13} {size:>10} {duration:>7}  {output['path']}")
    print(f"\n{text('demo.webhooks', lang)}: {text('demo.webhooks_line', lang, **report.webhooks)}")
    for name in report.webhooks.get("events", []):
        print(f"  {name}")
    if report.error:
        print(f"\n{text('demo.error', lang)}: {report.error}")
    if report.ok:
        print(f"\n{text('demo.ok', lang)}")
    else:
        print(f"\n{text('demo.failed' if report.jobs else 'demo.not_started', lang)}")
