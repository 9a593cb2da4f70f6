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


def lint_policy(policy: Any, region: str, appid: str, bucket: str, user_prefix: str,
                duration_seconds: int) -> list[str]:
    """Return every problem that makes the policy unsafe to issue; empty means it passes."""
    problems: list[str] = []
    if not 1 <= duration_seconds <= MAX_DURATION_SECONDS:
        problems.append(f"duration {duration_seconds}s is outside 1..{MAX_DURATION_SECONDS}s")
    if not user_prefix.endswith("/"):
        problems.append(f"user prefix {user_prefix!r} does not end with /")
    statements = policy.get("statement") if isinstance(policy, dict) else None
    if not isinstance(policy, dict) or policy.get("version") != "2.0" or not isinstance(statements, list) \
            or not statements:
        return [*problems, "policy must have version 2.0 and a non-empty statement list"]

    allowed_base = resource_for(region, appid, bucket, user_prefix)
    for index, statement in enumerate(statements):
        problems.extend(_lint_statement(f"statement[{index}]", statement, allowed_base))
    return problems


def _lint_statement(where: str, statement: Any, allowed_base: str) -> list[str]:
    if not isinstance(statement, dict):
        return [f"{where}: is not an object"]
    problems = []
    if statement.get("effect") != "allow":
        problems.append(f"{where}: only allow statements are issued")
    if "principal" in statement:
        problems.append(f"{where}: STS policies must not contain principal")

    actions = statement.get("action")
    if not isinstance(actions, list) or not actions:
        problems.append(f"{where}: action must be a non-empty list")
        actions = []
    for action in actions:
        if action not in UPLOAD_ACTIONS:
            problems.append(f"{where}: action {action!r} is not an upload action")
    if any(action in PART_ACTIONS for action in actions) and statement.get("condition"):
        problems.append(f"{where}: part or complete actions carry a header condition")

    resources = statement.get("resource")
    if not isinstance(resources, list) or not resources:
        problems.append(f"{where}: resource must be a non-empty list")
        resources = []
    for resource in resources:
        problems.extend(_lint_resource(where, resource, allowed_base))
    return problems


def _lint_resource(where: str, resource: Any, allowed_base: str) -> list[str]:
    if not isinstance(resource, str):
        return [f"{where}: resource {resource!r} is not a string"]
    problems = []
    if not resource.startswith(allowed_base):
        problems.append(f"{where}: resource {resource!r} is outside {allowed_base}")
    elif any(segment in (".", "..") for segment in resource[len(allowed_base):].split("/")):
        problems.append(f"{where}: resource {resource!r} has a . or .. segment")
    for position, char in enumerate(resource):
        if char == "*" and (position == 0 or resource[position - 1] != "/"):
            problems.append(f"{where}: wildcard in {resource!r} is not preceded by /")
    return problems
