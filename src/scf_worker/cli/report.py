"""``scf-worker report FUNCTION``: run a measured simulation and write its Chinese report."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "report", help="simulate load with faults and write docs/scf-<function>-report.md")
    parser.add_argument("function", help="media-sign, cos-callback, transcode or webhook-forward")
    parser.add_argument("--requests", type=_positive, help="number of requests or jobs to send")
    parser.add_argument("--faults", help="fractions, e.g. bad_signature=0.05,duplicate=0.1,transient=0.05")
    parser.add_argument("--seed", type=int, default=1, help="random seed for fault placement")
    parser.add_argument("--docs-dir", type=Path, default=Path("docs"), help="where to write the page")
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    parser.set_defaults(run=run)


def _positive(raw: str) -> int:
    value = int(raw)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {raw}")
    return value


def run(args: argparse.Namespace) -> int:
    from scf_worker.observability import report

    try:
        result = report.run(args.function, args.requests, args.faults, args.seed)
    except ValueError as exc:
        print(exc)
        return 2
    path = report.write(result, args.docs_dir)
    if args.json:
        print(json.dumps(report.as_json(result), ensure_ascii=False))
    else:
        print(f"wrote {path}")
    return 0
