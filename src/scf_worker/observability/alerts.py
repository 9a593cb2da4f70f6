"""Alert rules evaluated over a window of invocation records and the dead-letter store.

Defaults follow the operators' brief: failure rate above 5 % over the window,
a dead-letter backlog above 100, and p95 latency above 80 % of the function's
timeout. Each threshold can be changed by an environment variable.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from scf_worker.observability.aggregate import load_records, summarize
from scf_worker.runtime.config import env_float


@dataclass(frozen=True)
class Thresholds:
    failure_rate: float = 0.05
    dead_letter_backlog: int = 100
    p95_timeout_ratio: float = 0.8
    min_invocations: int = 1

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Thresholds:
        env = os.environ if environ is None else environ
        return cls(
            failure_rate=env_float(env, "ALERT_FAILURE_RATE", cls.failure_rate, 0.0, 1.0),
            dead_letter_backlog=int(env_float(env, "ALERT_DLQ_BACKLOG", cls.dead_letter_backlog, 0, 1e9)),
            p95_timeout_ratio=env_float(env, "ALERT_P95_TIMEOUT_RATIO", cls.p95_timeout_ratio, 0.0, 1.0),
            min_invocations=int(env_float(env, "ALERT_MIN_INVOCATIONS", cls.min_invocations, 1, 1e9)),
        )


@dataclass(frozen=True)
class AlertResult:
    """One rule checked for one function (or for the whole store)."""

    rule: str
    scope: str
    value: float
    threshold: float
    fired: bool

    def as_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "scope": self.scope, "value": self.value,
                "threshold": self.threshold, "fired": self.fired}


def parse_window(text: str) -> float:
    """Parse ``30s``, ``5m``, ``2h`` or ``1d`` into seconds."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    text = text.strip().lower()
    if len(text) < 2 or text[-1] not in units or not text[:-1].replace(".", "", 1).isdigit():
        raise ValueError(f"invalid window {text!r}; use a positive number with s, m, h or d, e.g. 5m")
    seconds = float(text[:-1]) * units[text[-1]]
    if seconds <= 0:
        raise ValueError(f"invalid window {text!r}; it must be longer than zero")
    return seconds


def evaluate(db: Any, window_seconds: float, timeouts_ms: Mapping[str, int],
             thresholds: Thresholds | None = None,
             clock: Callable[[], float] = time.time,
             dead_letter_backlog: int | None = None) -> list[AlertResult]:
    """Check every rule; ``dead_letter_backlog`` defaults to the pending rows of ``scf_dlq``.

    Pass the backlog from the dead-letter store when it is not the SQL table (AMQP).
    """
    limits = thresholds or Thresholds.from_env()
    since = clock() - window_seconds
    by_function: dict[str, list[dict[str, Any]]] = {}
    for row in load_records(db, since=since):
        by_function.setdefault(row["function"], []).append(row)

    results = []
    for function, rows in sorted(by_function.items()):
        summary = summarize(rows)
        if summary.invocations >= limits.min_invocations:
            results.append(AlertResult("failure_rate", function, summary.failure_rate,
                                       limits.failure_rate,
                                       summary.failure_rate > limits.failure_rate))
        timeout_ms = timeouts_ms.get(function)
        if timeout_ms:
            limit_ms = limits.p95_timeout_ratio * timeout_ms
            results.append(AlertResult("p95_near_timeout", function, summary.p95_ms, limit_ms,
                                       summary.p95_ms > limit_ms))

    backlog = dead_letter_backlog
    if backlog is None:
        backlog = int(db.query("SELECT COUNT(*) AS n FROM scf_dlq WHERE status = 'pending'")[0]["n"])
    results.append(AlertResult("dead_letter_backlog", "all", float(backlog),
                               float(limits.dead_letter_backlog),
                               backlog > limits.dead_letter_backlog))
    return results


def pending_dead_letters(dead_letters: Any) -> int:
    """Count pending entries in any dead-letter store (SQL table or AMQP queue)."""
    return sum(count.count for count in dead_letters.counts() if count.status == "pending")
