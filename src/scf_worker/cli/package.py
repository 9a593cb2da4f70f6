"""``scf-worker package FUNCTION``: build the deployable zip of one function."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from scf_worker.cli.i18n import detect_lang, text


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("package", help="build the deployable zip of one function")
    parser.add_argument("function", help="folder name under scf/")
    parser.add_argument("--output", type=Path, help="zip path (default: dist/FUNCTION.zip)")
    parser.add_argument("--python-version", help="target Python X.Y (default: the function's runtime)")
    parser.add_argument("--wheelhouse", type=Path,
                        help="install dependencies only from wheels in this folder (no index)")
    parser.add_argument("--root", type=Path, help="project folder holding scf/")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--lang", choices=("zh", "en"))
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from scf_worker.deploy.check import check_function
    from scf_worker.deploy.errors import DeployToolError
    from scf_worker.deploy.manifest import find_project_root, get_manifest
    from scf_worker.deploy.package import build_package

    lang = detect_lang(args.lang)
    try:
        root = args.root or find_project_root()
        manifest = get_manifest(root, args.function)
        problems = check_function(manifest)
        if problems:
            for problem in problems:
                print(problem, file=sys.stderr)
            return 1
        output = args.output or root / "dist" / f"{manifest.name}.zip"
        result = build_package(manifest, output, args.python_version, args.wheelhouse)
    except DeployToolError as exc:
        print(f"{text('package.failed', lang)}: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(result.as_json(), ensure_ascii=False, indent=2))
        return 0
    print(text("package.done", lang, path=result.path, files=result.files,
               zip_mb=result.zip_bytes / 1048576, unzipped_mb=result.unzipped_bytes / 1048576,
               python=result.python_version))
    if result.ffmpeg:
        print(f"ffmpeg: {result.ffmpeg}")
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return 0
