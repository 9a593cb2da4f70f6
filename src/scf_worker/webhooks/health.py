"""Endpoint health: a circuit breaker on consecutive failures, and disabling.

The state lives in the SQL store so every function instance sees the same
breaker. Each change is one conditional UPDATE, never a read followed by a
write: the counters move in SQL, and only the instance whose UPDATE matched
opens a half-open probe or disables an endpoint.

- After ``breaker_failures`` consecutive failed attempts the circuit opens for
  ``open_seconds``; no request is sent while it is open.
- When the open window ends, one instance wins the probe (the window is
  re-armed for the others); its success closes the circuit, its failure keeps
  it open for another window.
- An endpoint whose failures have lasted ``disable_after_seconds`` without a
  success in between, or that answered 410 Gone, is disabled until an operator
  enables it again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from scf_worker.state.sql import Database, Row, Transaction

ENABLED = "enabled"
DISABLED = "disabled"
CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half_open"


@dataclass(frozen=True)
class HealthPolicy:
    breaker_failures: int = 5
    open_seconds: int = 60
    disable_after_seconds: int = 72 * 3600


@dataclass(frozen=True)
class EndpointState:
    """One row of ``webhook_endpoint_state``; an endpoint without a row is healthy."""

    endpoint_id: str
    status: str = ENABLED
    disabled_reason: str | None = None
    disabled_at: float | None = None
    consecutive_failures: int = 0
    failing_since: float | None = None
    circuit_open_until: float | None = None
    last_success_at: float | None = None
    last_failure_at: float | None = None

    @property
    def enabled(self) -> bool:
        return self.status == ENABLED

    def circuit(self, now: float) -> str:
        if self.circuit_open_until is None:
            return CLOSED
        return OPEN if now < self.circuit_open_until else HALF_OPEN


@dataclass(frozen=True)
class FailureEffect:
    """What one recorded failure changed: the circuit opened, or the endpoint was disabled."""

    opened: bool = False
    disabled: bool = False


def _state_from_row(row: Row) -> EndpointState:
    return EndpointState(**{name: row[name] for name in EndpointState.__dataclass_fields__})


class HealthStore:
    """Reads and atomic updates of ``webhook_endpoint_state``."""

    def __init__(self, db: Database, policy: HealthPolicy,
                 clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.policy = policy
        self.clock = clock

    def states(self, endpoint_ids: Iterable[str]) -> dict[str, EndpointState]:
        ids = list(endpoint_ids)
        if not ids:
            return {}
        placeholders = ", ".join("?" for _ in ids)
        rows = self.db.query(
            f"SELECT * FROM webhook_endpoint_state WHERE endpoint_id IN ({placeholders})",  # noqa: S608
            ids,
        )
        found = {row["endpoint_id"]: _state_from_row(row) for row in rows}
        return {endpoint_id: found.get(endpoint_id, EndpointState(endpoint_id)) for endpoint_id in ids}

    def claim_probe(self, endpoint_id: str) -> bool:
        """Take the half-open probe; return False when another instance took it first."""
        now = self.clock()
        taken = self.db.execute(
            "UPDATE webhook_endpoint_state SET circuit_open_until = ?, updated_at = ?"
            " WHERE endpoint_id = ? AND circuit_open_until IS NOT NULL AND circuit_open_until <= ?",
            (now + self.policy.open_seconds, now, endpoint_id, now),
        )
        return taken == 1

    def record_success(self, tx: Transaction, endpoint_id: str, now: float) -> None:
        self._ensure_row(tx, endpoint_id, now)
        tx.execute(
            "UPDATE webhook_endpoint_state SET consecutive_failures = 0, failing_since = NULL,"
            " circuit_open_until = NULL, last_success_at = ?, updated_at = ? WHERE endpoint_id = ?",
            (now, now, endpoint_id),
        )

    def record_failure(self, tx: Transaction, endpoint_id: str, now: float) -> FailureEffect:
        self._ensure_row(tx, endpoint_id, now)
        # circuit_open_until is assigned before the counter moves, because MySQL
        # evaluates SET left to right with the new values while SQLite uses the old.
        tx.execute(
            "UPDATE webhook_endpoint_state SET"
            " circuit_open_until = CASE WHEN consecutive_failures + 1 >= ? THEN ?"
            "   ELSE circuit_open_until END,"
            " consecutive_failures = consecutive_failures + 1,"
            " failing_since = COALESCE(failing_since, ?), last_failure_at = ?, updated_at = ?"
            " WHERE endpoint_id = ?",
            (self.policy.breaker_failures, now + self.policy.open_seconds, now, now, now, endpoint_id),
        )
        state = _state_from_row(tx.query(
            "SELECT * FROM webhook_endpoint_state WHERE endpoint_id = ?", (endpoint_id,))[0])
        disabled = tx.execute(
            "UPDATE webhook_endpoint_state SET status = ?, disabled_reason = ?, disabled_at = ?,"
            " updated_at = ? WHERE endpoint_id = ? AND status = ? AND failing_since <= ?",
            (DISABLED, "failing_too_long", now, now, endpoint_id, ENABLED,
             now - self.policy.disable_after_seconds),
        )
        return FailureEffect(opened=state.consecutive_failures == self.policy.breaker_failures,
                             disabled=disabled == 1)

    def disable(self, endpoint_id: str, reason: str, tx: Transaction | None = None) -> bool:
        """Disable an endpoint; return False when it was already disabled."""
        now = self.clock()
        if tx is None:
            with self.db.transaction() as own_tx:
                return self.disable(endpoint_id, reason, own_tx)
        self._ensure_row(tx, endpoint_id, now)
        changed = tx.execute(
            "UPDATE webhook_endpoint_state SET status = ?, disabled_reason = ?, disabled_at = ?,"
            " updated_at = ? WHERE endpoint_id = ? AND status = ?",
            (DISABLED, reason, now, now, endpoint_id, ENABLED),
        )
        return changed == 1

    def enable(self, endpoint_id: str) -> None:
        """Enable an endpoint with a clean slate: counters reset, circuit closed."""
        now = self.clock()
        with self.db.transaction() as tx:
            self._ensure_row(tx, endpoint_id, now)
            tx.execute(
                "UPDATE webhook_endpoint_state SET status = ?, disabled_reason = NULL,"
                " disabled_at = NULL, consecutive_failures = 0, failing_since = NULL,"
                " circuit_open_until = NULL, updated_at = ? WHERE endpoint_id = ?",
                (ENABLED, now, endpoint_id),
            )

    @staticmethod
    def _ensure_row(tx: Transaction, endpoint_id: str, now: float) -> None:
        tx.execute(
            "INSERT OR IGNORE INTO webhook_endpoint_state (endpoint_id, status,"
            " consecutive_failures, updated_at) VALUES (?, ?, 0, ?)",
            (endpoint_id, ENABLED, now),
        )
