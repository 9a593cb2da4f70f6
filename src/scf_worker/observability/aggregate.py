"""Aggregate invocation records into rates, counts and latency percentiles.

Definitions, used the same way in reports, alerts and docs:

- invocations: records (one per HTTP call, COS event, or job message attempt);
- successes: outcome ``ok``, ``done`` or ``duplicate``;
- failures: outcome ``error`` or ``dead`` (the attempt failed and will not be retried);
- retries: attempts that failed and were scheduled again;
- dead letters: attempts that ended in the dead-letter store;
- each rate is its count divided by invocations.

Percentiles use linear interpolation between closest ranks, the default of
``numpy.percentile``, so figures match numpy on the same samples.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

SUCCESS_OUTCOMES = frozenset({"ok", "done", "duplicate"})
FAILURE_OUTCOMES = frozenset({"error", "dead"})


def percentile(values: Sequence[float], q: float) -> float:
    """Return the q-th percentile (0-100) with numpy's default linear method; NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    lower = math.floor(position)
    upper = min(lower + 1, len(ordered) - 1)
    fraction = position - lower
    return ordered[lower] + (ordered[upper] - ordered[lower]) * fraction


@dataclass
class Summary:
    """Counts, rates and latency of one set of invocation records."""

    invocations: int = 0
    successes: int = 0
    failures: int = 0
    retries: int = 0
    dead_letters: int = 0
    duplicates: int = 0
    cold_starts: int = 0
    failures_by_code: dict[str, int] = field(default_factory=dict)
    p50_ms: float = math.nan
    p95_ms: float = math.nan
    p99_ms: float = math.nan
    max_ms: float = math.nan
    ffmpeg_ms_total: float = 0.0
    durations_ms: list[float] = field(default_factory=list, repr=False)

    def rate(self, count: int) -> float:
        return count / self.invocations if self.invocations else 0.0

    @property
    def success_rate(self) -> float:
        return self.rate(self.successes)

    @property
    def failure_rate(self) -> float:
        return self.rate(self.failures)

    @property
    def retry_rate(self) -> float:
        return self.rate(self.retries)

    @property
    def dead_letter_rate(self) -> float:
        return self.rate(self.dead_letters)

    def as_dict(self) -> dict[str, Any]:
        return {
            "invocations": self.invocations, "successes": self.successes,
            "failures": self.failures, "retries": self.retries,
            "deadLetters": self.dead_letters, "duplicates": self.duplicates,
            "coldStarts": self.cold_starts, "failuresByCode": self.failures_by_code,
            "successRate": self.success_rate, "failureRate": self.failure_rate,
            "retryRate": self.retry_rate, "deadLetterRate": self.dead_letter_rate,
            "p50Ms": self.p50_ms, "p95Ms": self.p95_ms, "p99Ms": self.p99_ms,
            "maxMs": self.max_ms, "ffmpegMsTotal": self.ffmpeg_ms_total,
        }


def summarize(rows: Iterable[dict[str, Any]]) -> Summary:
    summary = Summary()
    codes: Counter[str] = Counter()
    for row in rows:
        summary.invocations += 1
        outcome = row["outcome"]
        if outcome in SUCCESS_OUTCOMES:
            summary.successes += 1
        elif outcome in FAILURE_OUTCOMES:
            summary.failures += 1
            codes[row["code"]] += 1
        summary.retries += int(row.get("retries") or 0)
        summary.dead_letters += int(row.get("dead_letters") or 0)
        summary.duplicates += int(row.get("duplicates") or 0)
        summary.cold_starts += int(row.get("cold_start") or 0)
        summary.ffmpeg_ms_total += float(row.get("ffmpeg_ms") or 0)
        summary.durations_ms.append(float(row["duration_ms"]))
    summary.failures_by_code = dict(codes)
    if summary.durations_ms:
        summary.p50_ms = percentile(summary.durations_ms, 50)
        summary.p95_ms = percentile(summary.durations_ms, 95)
        summary.p99_ms = percentile(summary.durations_ms, 99)
        summary.max_ms = max(summary.durations_ms)
    return summary


def load_records(db: Any, function: str | None = None, since: float | None = None) -> list[dict[str, Any]]:
    """Read invocation records from the state store, oldest first."""
    sql = "SELECT * FROM invocation_metrics WHERE 1 = 1"
    params: list[Any] = []
    if function:
        sql += " AND function = ?"
        params.append(function)
    if since is not None:
        sql += " AND ts >= ?"
        params.append(since)
    rows: list[dict[str, Any]] = db.query(sql + " ORDER BY ts, id", params)
    return rows
