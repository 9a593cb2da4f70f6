"""``scf-worker check``: validate every scf/*/config.json against SCF's limits."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from scf_worker.cli.i18n import detect_lang, text


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("check", help="validate scf/*/config.json against SCF limits")
    parser.add_argument("--root", type=Path, help="project folder holding scf/ (default: search upward)")
    parser.add_argument("--json", action="store_true", help="print the problems as a JSON list")
    parser.add_argument("--lang", choices=("zh", "en"))
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from scf_worker.deploy.check import check_project
    from scf_worker.deploy.errors import ManifestError
    from scf_worker.deploy.manifest import find_project_root, function_folders

    lang = detect_lang(args.lang)
    try:
        root = args.root or find_project_root()
        problems = check_project(root)
    except ManifestError as exc:
        problems = exc.problems
        root = args.root or Path.cwd()
    if args.json:
        print(json.dumps([{"file": p.file, "field": p.field, "value": p.value, "allowed": p.allowed}
                          for p in problems], ensure_ascii=False, indent=2, default=str))
        return 1 if problems else 0
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(text("check.failed", lang, count=len(problems)), file=sys.stderr)
        return 1
    print(text("check.ok", lang, count=len(function_folders(root))))
    return 0
