"""STS policy documents for one upload, and the self-check run before issuing any.

The statement with header conditions carries only the actions whose requests
send those headers (PutObject, PostObject, InitiateMultipartUpload). The part
and complete actions do not send Content-Type, so a condition on them would
break multipart uploads; they get a separate statement limited to the exact key.
"""

from __future__ import annotations

from typing import Any

SIMPLE_ACTIONS = ("name/cos:PutObject", "name/cos:PostObject")
INITIATE_ACTION = "name/cos:InitiateMultipartUpload"
PART_ACTIONS = (
    "name/cos:UploadPart",
    "name/cos:CompleteMultipartUpload",
    "name/cos:ListParts",
    "name/cos:AbortMultipartUpload",
)
UPLOAD_ACTIONS = frozenset((*SIMPLE_ACTIONS, INITIATE_ACTION, *PART_ACTIONS))
MAX_DURATION_SECONDS = 600


def resource_for(region: str, appid: str, bucket: str, key: str) -> str:
    return f"qcs::cos:{region}:uid/{appid}:{bucket}/{key}"


def build_policy(region: str, appid: str, bucket: str, key: str, mime: str, size: int,
                 multipart: bool) -> dict[str, Any]:
    """Build the policy for uploading exactly ``key`` with this MIME type and size."""
    resource = resource_for(region, appid, bucket, key)
    header_actions = [*SIMPLE_ACTIONS, *([INITIATE_ACTION] if multipart else [])]
    statements: list[dict[str, Any]] = [{
        "effect": "allow",
        "action": header_actions,
        "resource": [resource],
        "condition": {
            "string_equal": {"cos:content-type": mime},
            "numeric_less_than_equal": {"cos:content-length": size},
        },
    }]
    if multipart:
        statements.append({"effect": "allow", "action": list(PART_ACTIONS), "resource": [resource]})
    return {"version": "2.0", "statement": statements}


def lint_policy(policy: dict[str, Any], region: str, appid: str, bucket: str, user_prefix: str,
                duration_seconds: int) -> list[str]:
    """Return every problem that makes the policy unsafe to issue; empty means it passes."""
    problems: list[str] = []
    if duration_seconds > MAX_DURATION_SECONDS:
        problems.append(f"duration {duration_seconds}s exceeds {MAX_DURATION_SECONDS}s")
    allowed_base = resource_for(region, appid, bucket, user_prefix)
    if not user_prefix.endswith("/"):
        problems.append(f"user prefix {user_prefix!r} does not end with /")
    statements = policy.get("statement")
    if policy.get("version") != "2.0" or not isinstance(statements, list) or not statements:
        return [*problems, "policy must have version 2.0 and a non-empty statement list"]
    for index, statement in enumerate(statements):
        where = f"statement[{index}]"
        if statement.get("effect") != "allow":
            problems.append(f"{where}: only allow statements are issued")
        actions = statement.get("action") or []
        for action in actions:
            if action not in UPLOAD_ACTIONS:
                problems.append(f"{where}: action {action!r} is not an upload action")
        if any(a in PART_ACTIONS for a in actions) and statement.get("condition"):
            problems.append(f"{where}: part or complete actions carry a header condition")
        for resource in statement.get("resource") or []:
            if not isinstance(resource, str) or not resource.startswith(allowed_base):
                problems.append(f"{where}: resource {resource!r} is outside {allowed_base}")
                continue
            rest = resource[len(allowed_base):]
            if ".." in rest.split("/"):
                problems.append(f"{where}: resource {resource!r} has a .. segment")
            for position, char in enumerate(resource):
                if char == "*" and (position == 0 or resource[position - 1] != "/"):
                    problems.append(f"{where}: wildcard in {resource!r} not preceded by /")
    return problems
