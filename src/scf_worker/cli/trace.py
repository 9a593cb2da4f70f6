"""``scf-worker trace ID``: print the whole path of one upload."""

from __future__ import annotations

import argparse
import json
import sys

from scf_worker.cli.i18n import detect_lang


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("trace", help="show every step of one upload")
    parser.add_argument("id", help="an object key, job id, or requestId on the upload's path")
    parser.add_argument("--json", action="store_true", help="print the steps as JSON")
    parser.add_argument("--lang", choices=("zh", "en"))
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from scf_worker.app import get_services
    from scf_worker.observability.trace import trace

    key, steps = trace(get_services().db, args.id)
    zh = detect_lang(args.lang) == "zh"
    if key is None:
        message = f"未找到与 {args.id} 相关的上传" if zh else f"no upload found for {args.id}"
        if args.json:
            print(json.dumps({"key": None, "steps": [], "error": message}, ensure_ascii=False))
        else:
            print(message, file=sys.stderr)
            print("提示:状态库由 STATE_URL 或 WORKER_HOME 指定" if zh else
                  "hint: the state store comes from STATE_URL or WORKER_HOME", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({"key": key, "steps": [s.as_dict() for s in steps]}, ensure_ascii=False))
        return 0
    print(f"{'对象' if zh else 'object'}: {key}")
    for step in steps:
        duration = f"{step.duration_ms:8.1f} ms" if step.duration_ms is not None else " " * 11
        print(f"  {step.as_dict()['at']}  {step.kind:<11} {step.name:<18} {step.outcome:<10}"
              f" {duration}  {step.detail}")
    return 0
