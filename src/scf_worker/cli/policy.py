"""``scf-worker policy lint FILE``: the self-check media-sign runs before every issuance.

FILE contains a CAM policy (``{"version": "2.0", "statement": [...]}``) or the
parameters of an STS call (``{"Policy": ..., "DurationSeconds": ...}``, with
the policy as a URL-encoded string or an object); ``-`` reads standard input.
Exit status: 0 when the policy passes, 1 when it has problems, 2 when the
input or the options are invalid.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from scf_worker.cli.i18n import detect_lang, text

_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9-]*-(\d{5,})$")


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("policy", help="check STS upload policies")
    commands = parser.add_subparsers(dest="policy_command", required=True)
    lint = commands.add_parser("lint", help="check a policy the way media-sign does before issuing it")
    lint.add_argument("file", help="policy JSON or STS request parameters; - for standard input")
    lint.add_argument("--bucket", default=os.environ.get("COS_BUCKET"),
                      help="bucket name with APPID suffix (default: COS_BUCKET)")
    lint.add_argument("--region", default=os.environ.get("COS_REGION", "ap-guangzhou"),
                      help="COS region (default: COS_REGION or ap-guangzhou)")
    scope = lint.add_mutually_exclusive_group(required=True)
    scope.add_argument("--user-id", help="user whose prefix the resources must stay in (COS_ALLOWED_PREFIX)")
    scope.add_argument("--prefix", help="exact user prefix, for example uploads/u123/")
    lint.add_argument("--duration", type=int,
                      help="credential lifetime in seconds (default: DurationSeconds in FILE, else 600)")
    lint.add_argument("--json", action="store_true", help="print a JSON object instead of text")
    lint.add_argument("--lang", choices=("zh", "en"), help="output language (default: by locale)")
    lint.set_defaults(run=run_lint)


def run_lint(args: argparse.Namespace) -> int:
    from scf_worker.uploads.policy import lint_policy

    lang = detect_lang(args.lang)
    try:
        document = _read(args.file)
        policy, file_duration = _policy_and_duration(document)
    except ValueError as exc:
        print(text("policy.invalid_input", lang, error=exc), file=sys.stderr)
        return 2
    match = _BUCKET_RE.match(args.bucket or "")
    if match is None:
        print(text("policy.invalid_bucket", lang, bucket=args.bucket), file=sys.stderr)
        return 2

    # An explicit --prefix is checked as given (a missing trailing / is reported); the template is
    # normalised the way media-sign's configuration normalises COS_ALLOWED_PREFIX.
    template = os.environ.get("COS_ALLOWED_PREFIX", "uploads/${userId}/").rstrip("/") + "/"
    prefix = args.prefix or template.replace("${userId}", args.user_id)
    duration = args.duration if args.duration is not None else file_duration or 600
    problems = lint_policy(policy, args.region, match.group(1), args.bucket, prefix, duration)

    if args.json:
        print(json.dumps({"ok": not problems, "prefix": prefix, "durationSeconds": duration,
                          "problems": problems}, ensure_ascii=False, indent=2))
    elif problems:
        print(text("policy.problems", lang, count=len(problems), prefix=prefix))
        for problem in problems:
            print(f"  - {problem}")
    else:
        print(text("policy.ok", lang, prefix=prefix, duration=duration))
    return 1 if problems else 0


def _read(name: str) -> Any:
    try:
        raw = sys.stdin.read() if name == "-" else Path(name).read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"cannot read {name}: {exc.strerror}") from None
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{name} is not JSON: {exc.msg} at line {exc.lineno}") from None


def _policy_and_duration(document: Any) -> tuple[Any, int | None]:
    if not isinstance(document, dict) or "Policy" not in document:
        return document, None
    policy = document["Policy"]
    if isinstance(policy, str):
        try:
            policy = json.loads(unquote(policy))
        except json.JSONDecodeError:
            raise ValueError("Policy is neither JSON nor URL-encoded JSON") from None
    duration = document.get("DurationSeconds")
    if duration is not None and (isinstance(duration, bool) or not isinstance(duration, int)):
        raise ValueError("DurationSeconds must be an integer")
    return policy, duration
