"""Run a piece of work at most once per idempotency key, with the store's claim.

``run_once`` claims the key, runs the work, stores its response and returns
it; a duplicate gets the stored response back. When another invocation holds
a live claim, it polls until that claim completes or ``wait_seconds`` pass,
then raises AlreadyInProgress. Work that raises releases the claim, so the
retry proceeds at once instead of after the lease.

``run_once_in_transaction`` is for SQL work whose writes live in the claims'
own database: it looks the key up, runs the read-only part of the work, and
commits the key as COMPLETED in the same transaction as the work's writes.
There is no IN_PROGRESS row and no lease: a second delivery of the key waits
on the first one's uncommitted row and replays its response, and a holder
that dies leaves nothing behind, because its transaction rolls back.

NOTE: that wait is the database's (MySQL innodb_lock_wait_timeout, SQLite's busy
timeout), not ``wait_seconds``. It is long only when a holder hangs inside its
few statements while its connection stays open.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from scf_worker.idempotency.base import IdempotencyStore
from scf_worker.idempotency.errors import AlreadyCompleted, AlreadyInProgress, ClaimChanged
from scf_worker.observability.logging import get_logger
from scf_worker.state.errors import StateError
from scf_worker.state.sql import Row, Transaction

if TYPE_CHECKING:
    from scf_worker.idempotency.sql import Beside, SqlIdempotencyStore

log = get_logger(__name__)
FIRST_POLL_SECONDS = 0.005
MAX_POLL_SECONDS = 0.2
# A changed row or a deadlock (MySQL picks a victim when a winner rolls back under
# several waiters) is retried at once, a few times.
RETRIES = 3


@dataclass(frozen=True)
class RunResult:
    """The work's response; ``replayed`` is True when it came from an earlier invocation."""

    response: Any
    replayed: bool


def run_once(store: IdempotencyStore, key: str, payload_fingerprint: str, lease_seconds: float,
             work: Callable[[], Any], wait_seconds: float = 0.0,
             sleep: Callable[[float], None] = time.sleep,
             monotonic: Callable[[], float] = time.monotonic,
             claim: Callable[[], str] | None = None) -> RunResult:
    """Claim ``key``, run ``work`` and store its JSON-serialisable response.

    ``claim`` replaces ``store.claim(key, payload_fingerprint, lease_seconds)``, for a
    caller that sends other commands in the claim's round trip. Work that completed
    the claim with its own writes returns its response wrapped in Completed.
    """
    claim = claim or (lambda: store.claim(key, payload_fingerprint, lease_seconds))
    token = _claim(claim, wait_seconds, sleep, monotonic)
    if isinstance(token, RunResult):
        return token

    try:
        response = work()
    except BaseException:
        _release_quietly(store, key, token)
        raise

    if isinstance(response, Completed):
        return RunResult(response.response, replayed=False)
    if not store.complete(key, response, token):
        # The lease ran out and another invocation took over; the work is idempotent
        # by its own key, so this response is still correct for the caller.
        log.warning("idempotency_claim_lost", idempotencyKey=key)
    return RunResult(response, replayed=False)


@dataclass(frozen=True)
class Completed:
    """Returned by work that stored its response on the claim itself, with the claim's token."""

    response: Any


@dataclass(frozen=True)
class Prepared:
    """The read-only part of a piece of work: its response, and the writes that go with it.

    ``write`` runs inside the transaction that completes the key and returns the
    final response, which replaces ``response`` when it differs.
    """

    response: Any
    write: Callable[[Transaction], Any] | None = None


def run_once_in_transaction(store: SqlIdempotencyStore, key: str, payload_fingerprint: str,
                            prepare: Callable[[Row | None], Prepared], wait_seconds: float = 0.0,
                            sleep: Callable[[float], None] = time.sleep,
                            monotonic: Callable[[], float] = time.monotonic,
                            beside: Beside | None = None) -> RunResult:
    """Run ``prepare`` and commit its writes with the key as COMPLETED, in one transaction.

    ``prepare`` gets the ``beside`` row, read in the same query as the key (None when
    there is none, or when no ``beside`` was given).
    """
    deadline = monotonic() + wait_seconds
    pause = FIRST_POLL_SECONDS
    retries = 0
    while True:
        try:
            looked = store.lookup(key, payload_fingerprint, beside)
            prepared = prepare(looked.beside)
            return RunResult(_commit(store, key, payload_fingerprint, prepared, looked.takeover), False)
        except AlreadyCompleted as done:
            return RunResult(done.response, replayed=True)
        except AlreadyInProgress:
            # Only a claim taken by run_once (another deployment's settings) is IN_PROGRESS.
            if monotonic() + pause > deadline:
                raise
        except ClaimChanged as exc:
            if retries == RETRIES:
                raise AlreadyInProgress(str(exc)) from None
            retries += 1
            log.info("idempotency_retried", idempotencyKey=key, reason="changed")
            continue
        except StateError as exc:
            if retries == RETRIES or not store.db.is_deadlock(exc):
                raise
            retries += 1
            log.info("idempotency_retried", idempotencyKey=key, reason="deadlock")
            continue
        sleep(pause)
        pause = min(pause * 2, MAX_POLL_SECONDS)


def _commit(store: SqlIdempotencyStore, key: str, payload_fingerprint: str, prepared: Prepared,
            takeover: bool) -> Any:
    # The key goes first, so deliveries of one key queue on it before touching other rows,
    # and every transaction takes its locks in the same order.
    with store.db.transaction() as tx:
        store.complete_in(tx, key, payload_fingerprint, prepared.response, takeover)
        if prepared.write is None:
            return prepared.response
        response = prepared.write(tx)
        if response != prepared.response:
            store.set_response(tx, key, response)
    return response


def _claim(claim: Callable[[], str], wait_seconds: float, sleep: Callable[[float], None],
           monotonic: Callable[[], float]) -> str | RunResult:
    deadline = monotonic() + wait_seconds
    pause = FIRST_POLL_SECONDS
    while True:
        try:
            return claim()
        except AlreadyCompleted as done:
            return RunResult(done.response, replayed=True)
        except AlreadyInProgress:
            if monotonic() + pause > deadline:
                raise
        sleep(pause)
        pause = min(pause * 2, MAX_POLL_SECONDS)


def _release_quietly(store: IdempotencyStore, key: str, token: str) -> None:
    try:
        store.release(key, token)
    except StateError as exc:
        # The lease still expires, so the retry is only delayed, not blocked.
        log.warning("idempotency_release_failed", idempotencyKey=key, error=str(exc))
