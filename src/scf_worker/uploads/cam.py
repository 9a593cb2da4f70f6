"""Evaluate a CAM policy (version 2.0) against one COS request, as COS does for STS credentials.

A request is allowed when some ``allow`` statement matches and no ``deny``
statement does. A statement matches when the action and the resource match
(``*`` matches any run of characters) and every condition holds. A condition
key the request does not carry fails the condition, unless the operator ends
in ``_if_exist``. An operator this module does not know fails closed: the
allow statement does not apply, a deny statement does.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

ConditionValue = str | int


@dataclass(frozen=True)
class AccessRequest:
    """The permission one COS request needs: ``name/cos:<Action>``, the resource and the condition keys."""

    action: str
    resource: str
    values: Mapping[str, ConditionValue] = field(default_factory=dict)


@lru_cache(maxsize=512)
def _glob(pattern: str) -> re.Pattern[str]:
    return re.compile("^" + ".*".join(re.escape(part) for part in pattern.split("*")) + "$", re.DOTALL)


def _matches_any(patterns: Any, value: str) -> bool:
    if isinstance(patterns, str):
        patterns = [patterns]
    if not isinstance(patterns, list):
        return False
    return any(isinstance(p, str) and _glob(p).match(value) is not None for p in patterns)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _ip_in(actual: Any, expected: Any) -> bool:
    try:
        return ipaddress.ip_address(str(actual)) in ipaddress.ip_network(str(expected), strict=False)
    except ValueError:
        return False


def _compare(operator: str, actual: ConditionValue, expected: Any) -> bool | None:
    """Return the operator's verdict for one expected value, or None for an unknown operator."""
    if operator == "string_equal":
        return str(actual) == str(expected)
    if operator == "string_not_equal":
        return str(actual) != str(expected)
    if operator == "string_like":
        return _glob(str(expected)).match(str(actual)) is not None
    if operator == "string_not_like":
        return _glob(str(expected)).match(str(actual)) is None
    if operator == "ip_equal":
        return _ip_in(actual, expected)
    if operator == "ip_not_equal":
        return not _ip_in(actual, expected)
    if operator == "bool_equal":
        return str(actual).lower() == str(expected).lower()
    if operator.startswith("numeric_"):
        left, right = _number(actual), _number(expected)
        if left is None or right is None:
            return False
        return {
            "numeric_equal": left == right,
            "numeric_not_equal": left != right,
            "numeric_less_than": left < right,
            "numeric_less_than_equal": left <= right,
            "numeric_greater_than": left > right,
            "numeric_greater_than_equal": left >= right,
        }.get(operator)
    return None


def _condition_holds(operator: str, key: str, expected: Any,
                     values: Mapping[str, ConditionValue]) -> bool | None:
    if_exist = operator.endswith("_if_exist")
    base = operator[: -len("_if_exist")] if if_exist else operator
    if key not in values:
        if if_exist:
            return True
        return None if _compare(base, "", "") is None else False
    candidates = expected if isinstance(expected, list) else [expected]
    verdicts = [_compare(base, values[key], candidate) for candidate in candidates]
    if any(verdict is None for verdict in verdicts):
        return None
    # Negated operators hold only when the value differs from every listed one.
    if base in ("string_not_equal", "string_not_like", "numeric_not_equal", "ip_not_equal"):
        return all(verdicts)
    return any(verdicts)


def _conditions_hold(conditions: Any, values: Mapping[str, ConditionValue], effect: str) -> bool:
    if not conditions:
        return True
    if not isinstance(conditions, dict):
        return effect == "deny"
    for operator, pairs in conditions.items():
        if not isinstance(pairs, dict):
            return effect == "deny"
        for key, expected in pairs.items():
            verdict = _condition_holds(str(operator), str(key), expected, values)
            if verdict is None:
                return effect == "deny"
            if not verdict:
                return False
    return True


def statement_matches(statement: Any, request: AccessRequest) -> bool:
    if not isinstance(statement, dict):
        return False
    effect = statement.get("effect")
    return (
        _matches_any(statement.get("action"), request.action)
        and _matches_any(statement.get("resource"), request.resource)
        and _conditions_hold(statement.get("condition"), request.values, str(effect))
    )


def is_allowed(policy: Any, request: AccessRequest) -> bool:
    """Return True when the policy allows the request (explicit deny wins)."""
    statements = policy.get("statement") if isinstance(policy, dict) else None
    if not isinstance(statements, list):
        return False
    matching = [s for s in statements if statement_matches(s, request)]
    if any(s.get("effect") == "deny" for s in matching):
        return False
    return any(s.get("effect") == "allow" for s in matching)
