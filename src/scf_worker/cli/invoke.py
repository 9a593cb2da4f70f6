"""``scf-worker invoke FUNCTION --event FILE``: call one function's handler locally with an event."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("invoke", help="call a function's handler with an event file")
    parser.add_argument("function", help="folder name under scf/")
    parser.add_argument("--event", required=True, help="event JSON file, or - for stdin")
    parser.add_argument("--root", type=Path, help="project folder holding scf/")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from scf_worker.deploy.errors import DeployToolError
    from scf_worker.deploy.manifest import find_project_root, get_manifest
    from scf_worker.devstack.functions import context_for, load_handler
    from scf_worker.runtime.errors import ConfigError

    try:
        raw = sys.stdin.read() if args.event == "-" else Path(args.event).read_text(encoding="utf-8")
        event = json.loads(raw)
    except (OSError, json.JSONDecodeError) as exc:
        print(f"cannot read the event {args.event}: {exc}", file=sys.stderr)
        return 2
    try:
        manifest = get_manifest(args.root or find_project_root(), args.function)
    except DeployToolError as exc:
        print(exc, file=sys.stderr)
        return 2
    handler = load_handler(manifest)
    try:
        response = handler(event, context_for(manifest))
    except ConfigError as exc:
        # Configuration messages name the variable and never a secret value.
        print(f"{manifest.name}: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 (reported as a failed invocation)
        # SCF marks the invocation failed; say so without the handler's internal text.
        print(f"{manifest.name} raised {type(exc).__name__}; see the log lines above", file=sys.stderr)
        return 1
    print(json.dumps(response, ensure_ascii=False, indent=2))
    return 0
