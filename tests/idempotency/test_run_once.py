"""run_once: replay, waiting for a live holder, and release on failure (SQLite store)."""

from __future__ import annotations

from pathlib import Path

import pytest

from backends import Clock
from scf_worker.idempotency.errors import AlreadyInProgress
from scf_worker.idempotency.runner import run_once
from scf_worker.idempotency.sql import SqlIdempotencyStore
from scf_worker.state.sql import open_database


@pytest.fixture
def sql_store(tmp_path: Path, clock: Clock) -> SqlIdempotencyStore:
    return SqlIdempotencyStore(open_database(f"sqlite:///{tmp_path / 's.db'}"), clock)


def test_first_run_stores_response(sql_store: SqlIdempotencyStore) -> None:
    result = run_once(sql_store, "k", "fp", 60, lambda: {"n": 1})

    assert result.response == {"n": 1}
    assert result.replayed is False


def test_duplicate_gets_stored_response(sql_store: SqlIdempotencyStore) -> None:
    run_once(sql_store, "k", "fp", 60, lambda: {"n": 1})
    calls: list[int] = []

    result = run_once(sql_store, "k", "fp", 60, lambda: calls.append(1) or {"n": 2})

    assert result.response == {"n": 1}
    assert result.replayed is True
    assert calls == []


def test_failed_work_releases_claim(sql_store: SqlIdempotencyStore) -> None:
    def fail() -> dict[str, int]:
        raise RuntimeError("store down")

    with pytest.raises(RuntimeError):
        run_once(sql_store, "k", "fp", 60, fail)

    assert run_once(sql_store, "k", "fp", 60, lambda: {"n": 3}).response == {"n": 3}


def test_waits_for_holder_to_complete(sql_store: SqlIdempotencyStore) -> None:
    token = sql_store.claim("k", "fp", 60)
    pauses: list[float] = []

    def sleep(seconds: float) -> None:
        pauses.append(seconds)
        if len(pauses) == 3:
            sql_store.complete("k", {"by": "holder"}, token)

    ticks = iter(range(1000))
    result = run_once(sql_store, "k", "fp", 60, lambda: {"by": "waiter"}, wait_seconds=5.0,
                      sleep=sleep, monotonic=lambda: next(ticks) * 0.01)

    assert result.response == {"by": "holder"}
    assert result.replayed is True
    assert pauses == [0.005, 0.01, 0.02]


def test_gives_up_after_wait(sql_store: SqlIdempotencyStore) -> None:
    sql_store.claim("k", "fp", 60)
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    with pytest.raises(AlreadyInProgress):
        run_once(sql_store, "k", "fp", 60, lambda: {}, wait_seconds=1.0, sleep=sleep,
                 monotonic=lambda: now[0])
    assert now[0] <= 1.0
