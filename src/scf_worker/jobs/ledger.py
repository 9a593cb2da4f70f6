"""The work ledger: which work (function + idempotency key) has completed, and who runs it now.

Deliveries are at least once: a lost lease, a relay crash or a replay can hand
the same work out twice. Before running, the dispatcher claims the work here
with a lease. A claim on completed work returns ``DONE``, so the work is not
run again. A claim held by a live runner returns ``BUSY``. A runner that died
leaves a claim whose lease expires, and the next claim takes it over.

Completion can commit in the same transaction as the work's own effects
(``effect_transaction``). Then a crash after the effects commit cannot lead
to a second run, and a runner whose claim was taken over cannot commit its
effects at all.
"""

from __future__ import annotations

import contextvars
import hashlib
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from scf_worker.runtime.ids import random_hex
from scf_worker.state.sql import Database, Transaction

CLAIMED = "claimed"
DONE = "done"
BUSY = "busy"
# Keys longer than this are stored as their SHA-256, to fit the indexed column.
MAX_KEY_CHARS = 600


class WorkAlreadyDone(Exception):
    """A control-flow signal: the work was completed by another run, so this run's effects roll back."""


@dataclass
class WorkClaim:
    """A live claim on one piece of work."""

    key: str
    function: str
    owner: str
    ledger: WorkLedger
    completed: bool = False


@dataclass(frozen=True)
class ClaimResult:
    state: str
    claim: WorkClaim | None = None
    # For BUSY: seconds until the holder's lease runs out.
    retry_after_seconds: float = 0.0


_current: contextvars.ContextVar[WorkClaim | None] = contextvars.ContextVar(
    "scf_worker_work_claim", default=None)


def work_key(function: str, idempotency_key: str) -> str:
    key = f"{function}\n{idempotency_key}"
    if len(key) <= MAX_KEY_CHARS:
        return key
    return f"{function}\nsha256:{hashlib.sha256(idempotency_key.encode()).hexdigest()}"


class WorkLedger:
    """Claims and completions in the ``scf_work`` table."""

    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.clock = clock

    def claim(self, function: str, idempotency_key: str, lease_seconds: float) -> ClaimResult:
        key = work_key(function, idempotency_key)
        owner = random_hex()
        now = self.clock()
        with self.db.transaction() as tx:
            inserted = tx.insert(
                "INSERT OR IGNORE INTO scf_work (idem_key, function, status, owner, lease_until,"
                " runs, updated_at) VALUES (?, ?, 'running', ?, ?, 1, ?)",
                (key, function, owner, now + lease_seconds, now),
            )
            taken = inserted is not None or tx.execute(
                "UPDATE scf_work SET owner = ?, lease_until = ?, runs = runs + 1, updated_at = ?"
                " WHERE idem_key = ? AND status = 'running' AND lease_until <= ?",
                (owner, now + lease_seconds, now, key, now),
            ) == 1
            if taken:
                return ClaimResult(CLAIMED, WorkClaim(key, function, owner, self))
            rows = tx.query("SELECT status, lease_until FROM scf_work WHERE idem_key = ?", (key,))
        if rows and rows[0]["status"] == "done":
            return ClaimResult(DONE)
        lease_until = float(rows[0]["lease_until"]) if rows else now
        return ClaimResult(BUSY, retry_after_seconds=max(0.0, lease_until - now))

    def complete_in(self, tx: Transaction, claim: WorkClaim) -> bool:
        """Mark the work done inside ``tx``; False when this claim no longer holds it."""
        return tx.execute(
            "UPDATE scf_work SET status = 'done', updated_at = ? WHERE idem_key = ? AND owner = ?"
            " AND status = 'running'",
            (self.clock(), claim.key, claim.owner),
        ) == 1

    def complete(self, claim: WorkClaim) -> bool:
        with self.db.transaction() as tx:
            done = self.complete_in(tx, claim)
        claim.completed = claim.completed or done
        return done

    def release(self, claim: WorkClaim) -> None:
        """Give the work back after a failed run, so the next attempt can claim it at once."""
        self.db.execute(
            "UPDATE scf_work SET lease_until = 0, updated_at = ? WHERE idem_key = ? AND owner = ?"
            " AND status = 'running'",
            (self.clock(), claim.key, claim.owner),
        )

    def is_done(self, function: str, idempotency_key: str) -> bool:
        rows = self.db.query("SELECT status FROM scf_work WHERE idem_key = ?",
                             (work_key(function, idempotency_key),))
        return bool(rows) and rows[0]["status"] == "done"


@contextmanager
def holding(claim: WorkClaim | None) -> Iterator[None]:
    """Make ``claim`` the current run's claim for ``effect_transaction``."""
    token = _current.set(claim)
    try:
        yield
    finally:
        _current.reset(token)


@contextmanager
def effect_transaction(db: Database) -> Iterator[Transaction]:
    """Open a transaction that also completes the current claim, all or nothing.

    Raises WorkAlreadyDone (after rolling back) when the claim was lost. Outside a
    claimed run it is a plain transaction.
    """
    claim = _current.get()
    with db.transaction() as tx:
        yield tx
        if claim is not None and not claim.completed and claim.ledger.db is db:
            if not claim.ledger.complete_in(tx, claim):
                raise WorkAlreadyDone(f"work {claim.key!r} was completed or taken over by another run")
    if claim is not None and claim.ledger.db is db:
        claim.completed = True
