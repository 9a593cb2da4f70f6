"""Attempt, success, retry and dead-letter counts per function and job type, by minute.

The dispatcher adds one row update per attempt. ``job_counts`` is the query the
metrics capability reads; counting is best effort, so a failed update is logged
and never fails the job.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from scf_worker.observability.logging import get_logger
from scf_worker.state.errors import StateError
from scf_worker.state.sql import Database

log = get_logger(__name__)


@dataclass(frozen=True)
class JobCounts:
    """Totals for one function and job type over the queried window."""

    function: str
    job_type: str
    attempts: int
    successes: int
    retries: int
    dead_letters: int


def record_attempt(db: Database, function: str, job_type: str, now: float, outcome: str) -> None:
    """Count one attempt and its outcome (``done``, ``retry`` or ``dead``)."""
    minute = int(now // 60)
    column = {"done": "successes", "retry": "retries", "dead": "dead_letters"}.get(outcome)
    extra = f", {column} = {column} + 1" if column else ""
    try:
        with db.transaction() as tx:
            tx.execute("INSERT OR IGNORE INTO scf_job_stats (minute, function, job_type)"
                       " VALUES (?, ?, ?)", (minute, function, job_type))
            # ``extra`` names a column from the fixed mapping above; values are parameters.
            tx.execute("UPDATE scf_job_stats SET attempts = attempts + 1" + extra  # noqa: S608
                       + " WHERE minute = ? AND function = ? AND job_type = ?",
                       (minute, function, job_type))
    except StateError as exc:
        log.warning("job_stats_not_recorded", function=function, jobType=job_type, error=str(exc))


def job_counts(db: Database, since: float | None = None, until: float | None = None,
               function: str | None = None, job_type: str | None = None) -> list[JobCounts]:
    """Sum the counts for minutes in ``[since, until)`` (epoch seconds), by function and job type."""
    clauses, params = ["1 = 1"], []
    conditions: list[tuple[str, Any]] = [
        ("minute >= ?", None if since is None else int(since // 60)),
        ("minute < ?", None if until is None else -(-int(until) // 60)),
        ("function = ?", function), ("job_type = ?", job_type)]
    for clause, value in conditions:
        if value is not None:
            clauses.append(clause)
            params.append(value)
    # Every clause is a fixed string with a placeholder; values travel as parameters.
    where = " AND ".join(clauses)
    rows = db.query(
        "SELECT function, job_type, SUM(attempts) AS attempts, SUM(successes) AS successes,"  # noqa: S608
        " SUM(retries) AS retries, SUM(dead_letters) AS dead_letters FROM scf_job_stats WHERE "
        + where + " GROUP BY function, job_type ORDER BY function, job_type",
        params)
    return [JobCounts(r["function"], r["job_type"], int(r["attempts"] or 0), int(r["successes"] or 0),
                      int(r["retries"] or 0), int(r["dead_letters"] or 0)) for r in rows]
