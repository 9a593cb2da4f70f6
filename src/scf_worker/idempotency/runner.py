"""Run a piece of work at most once per idempotency key, with the store's claim.

``run_once`` claims the key, runs the work, stores its response and returns
it; a duplicate gets the stored response back. When another invocation holds
a live claim, it polls until that claim completes or ``wait_seconds`` pass,
then raises AlreadyInProgress. Work that raises releases the claim, so the
retry proceeds at once instead of after the lease.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from scf_worker.idempotency.base import IdempotencyStore
from scf_worker.idempotency.errors import AlreadyCompleted, AlreadyInProgress
from scf_worker.observability.logging import get_logger
from scf_worker.state.errors import StateError

log = get_logger(__name__)
FIRST_POLL_SECONDS = 0.005
MAX_POLL_SECONDS = 0.2


@dataclass(frozen=True)
class RunResult:
    """The work's response; ``replayed`` is True when it came from an earlier invocation."""

    response: Any
    replayed: bool


def run_once(store: IdempotencyStore, key: str, payload_fingerprint: str, lease_seconds: float,
             work: Callable[[], Any], wait_seconds: float = 0.0,
             sleep: Callable[[float], None] = time.sleep,
             monotonic: Callable[[], float] = time.monotonic) -> RunResult:
    """Claim ``key``, run ``work`` and store its JSON-serialisable response."""
    token = _claim(store, key, payload_fingerprint, lease_seconds, wait_seconds, sleep, monotonic)
    if isinstance(token, RunResult):
        return token

    try:
        response = work()
    except BaseException:
        _release_quietly(store, key, token)
        raise

    if not store.complete(key, response, token):
        # The lease ran out and another invocation took over; the work is idempotent
        # by its own key, so this response is still correct for the caller.
        log.warning("idempotency_claim_lost", idempotencyKey=key)
    return RunResult(response, replayed=False)


def _claim(store: IdempotencyStore, key: str, payload_fingerprint: str, lease_seconds: float,
           wait_seconds: float, sleep: Callable[[float], None],
           monotonic: Callable[[], float]) -> str | RunResult:
    deadline = monotonic() + wait_seconds
    pause = FIRST_POLL_SECONDS
    while True:
        try:
            return store.claim(key, payload_fingerprint, lease_seconds)
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
