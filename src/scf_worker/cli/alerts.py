"""``scf-worker alerts check``: evaluate the alert rules over a recent window."""

from __future__ import annotations

import argparse
import json
import sys

from scf_worker.cli.i18n import detect_lang


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("alerts", help="evaluate alert rules on recorded metrics")
    actions = parser.add_subparsers(dest="action", required=True)
    check = actions.add_parser("check", help="exit 1 when any rule fires")
    check.add_argument("--window", default="5m", help="look-back window, e.g. 30s, 5m, 1h (default 5m)")
    check.add_argument("--json", action="store_true", help="print the results as JSON")
    check.add_argument("--lang", choices=("zh", "en"))
    check.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from scf_worker.app import get_services
    from scf_worker.functions import FUNCTIONS
    from scf_worker.observability.alerts import (
        Thresholds,
        evaluate,
        parse_window,
        pending_dead_letters,
    )

    try:
        window = parse_window(args.window)
        thresholds = Thresholds.from_env()
    except ValueError as exc:
        print(f"invalid value: {exc}", file=sys.stderr)
        return 2
    timeouts = {name: spec.timeout_seconds * 1000 for name, spec in FUNCTIONS.items()}
    services = get_services()
    results = evaluate(services.db, window, timeouts, thresholds,
                       dead_letter_backlog=pending_dead_letters(services.dead_letters))
    fired = [r for r in results if r.fired]
    if args.json:
        print(json.dumps({"window": args.window, "fired": len(fired),
                          "results": [r.as_dict() for r in results]}, ensure_ascii=False))
        return 1 if fired else 0

    zh = detect_lang(args.lang) == "zh"
    for result in results:
        mark = ("告警" if zh else "FIRING") if result.fired else ("正常" if zh else "ok")
        print(f"{mark:<7} {result.rule:<20} {result.scope:<16} "
              f"{_format(result.rule, result.value)} (threshold {_format(result.rule, result.threshold)})")
    if not results:
        print("没有可评估的数据" if zh else "no data to evaluate")
    return 1 if fired else 0


def _format(rule: str, value: float) -> str:
    if rule == "failure_rate":
        return f"{value * 100:.2f}%"
    if rule == "p95_near_timeout":
        return f"{value:.1f} ms"
    return f"{value:.0f}"
