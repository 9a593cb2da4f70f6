"""run_once_in_transaction: the key completes in the work's own transaction (SQLite, MariaDB).

The race tests hold one delivery's transaction open on a real MariaDB
connection while others run on their own connections, and release it only
once the server reports them waiting on its lock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from backends import Clock, backend
from scf_worker.idempotency.errors import AlreadyInProgress, IdempotencyConflict
from scf_worker.idempotency.runner import Prepared, RunResult, run_once, run_once_in_transaction
from scf_worker.idempotency.sql import SqlIdempotencyStore
from scf_worker.state.sql import Database, Transaction, open_database

WAIT_TIMEOUT_SECONDS = 30


@pytest.fixture(params=["sqlite", "mariadb"])
def sql_store(request: pytest.FixtureRequest, tmp_path: Path, clock: Clock) -> Iterator[SqlIdempotencyStore]:
    with backend(request.param, tmp_path) as chosen:
        db = open_database(chosen.state_url)
        yield SqlIdempotencyStore(db, clock, expiry_seconds=3600)
        db.close()


@pytest.fixture
def mariadb_store(tmp_path: Path) -> Iterator[SqlIdempotencyStore]:
    with backend("mariadb", tmp_path) as chosen:
        db = open_database(chosen.state_url)
        yield SqlIdempotencyStore(db, expiry_seconds=3600)
        db.close()


def _writing(name: str, response: Any, before: Callable[[], None] = lambda: None) -> Prepared:
    """Work that writes one events row named ``name`` next to the key."""

    def write(tx: Transaction) -> Any:
        before()
        tx.execute("INSERT INTO events (name, job_id, payload, created_at) VALUES (?, ?, ?, ?)",
                   (name, "job-1", "{}", 0))
        return response

    return Prepared(response, write)


def _rows(db: Database) -> list[str]:
    return [r["name"] for r in db.query("SELECT name FROM events ORDER BY id")]


def _claims(db: Database) -> list[tuple[str, str]]:
    return [(r["status"], r["response"]) for r in db.query("SELECT status, response FROM idempotency")]


def test_first_run_commits_key_and_writes_together(sql_store: SqlIdempotencyStore) -> None:
    result = run_once_in_transaction(sql_store, "k", "fp", lambda _: _writing("first", {"n": 1}))

    assert result == RunResult({"n": 1}, replayed=False)
    assert _rows(sql_store.db) == ["first"]
    assert _claims(sql_store.db) == [("completed", '{"n": 1}')]


def test_duplicate_replays_without_preparing(sql_store: SqlIdempotencyStore) -> None:
    run_once_in_transaction(sql_store, "k", "fp", lambda _: _writing("first", {"n": 1}))
    calls: list[int] = []

    result = run_once_in_transaction(sql_store, "k", "fp",
                                     lambda _: calls.append(1) or _writing("again", {"n": 2}))

    assert result == RunResult({"n": 1}, replayed=True)
    assert calls == []
    assert _rows(sql_store.db) == ["first"]


def test_other_fingerprint_is_conflict(sql_store: SqlIdempotencyStore) -> None:
    run_once_in_transaction(sql_store, "k", "fp", lambda _: _writing("first", {"n": 1}))

    with pytest.raises(IdempotencyConflict):
        run_once_in_transaction(sql_store, "k", "other", lambda _: _writing("again", {"n": 2}))


def test_failed_write_leaves_nothing(sql_store: SqlIdempotencyStore) -> None:
    def fail() -> None:
        raise RuntimeError("store down")

    with pytest.raises(RuntimeError):
        run_once_in_transaction(sql_store, "k", "fp", lambda _: _writing("first", {"n": 1}, fail))

    assert _rows(sql_store.db) == []
    assert _claims(sql_store.db) == []
    assert run_once_in_transaction(sql_store, "k", "fp",
                                   lambda _: _writing("retry", {"n": 2})).response == {"n": 2}


def test_answer_without_writes_is_stored(sql_store: SqlIdempotencyStore) -> None:
    run_once_in_transaction(sql_store, "k", "fp", lambda _: Prepared({"status": "superseded"}))

    replay = run_once_in_transaction(sql_store, "k", "fp", lambda _: _writing("x", {}))

    assert replay == RunResult({"status": "superseded"}, replayed=True)
    assert _rows(sql_store.db) == []


def test_write_with_another_answer_replaces_stored_response(sql_store: SqlIdempotencyStore) -> None:
    prepared = Prepared({"status": "recorded"}, lambda tx: {"status": "duplicate"})

    first = run_once_in_transaction(sql_store, "k", "fp", lambda _: prepared)
    replay = run_once_in_transaction(sql_store, "k", "fp", lambda _: prepared)

    assert first.response == replay.response == {"status": "duplicate"}


def test_expired_key_is_new_again(sql_store: SqlIdempotencyStore, clock: Clock) -> None:
    run_once_in_transaction(sql_store, "k", "fp", lambda _: _writing("first", {"n": 1}))
    clock.advance(3600 + 1)

    result = run_once_in_transaction(sql_store, "k", "other", lambda _: _writing("later", {"n": 2}))

    assert result == RunResult({"n": 2}, replayed=False)
    assert _claims(sql_store.db) == [("completed", '{"n": 2}')]


def test_live_in_progress_claim_is_waited_for(sql_store: SqlIdempotencyStore) -> None:
    """A claim taken by run_once (claims configured apart elsewhere) is honoured."""
    token = sql_store.claim("k", "fp", 60)
    pauses: list[float] = []

    def sleep(seconds: float) -> None:
        pauses.append(seconds)
        if len(pauses) == 2:
            sql_store.complete("k", {"by": "holder"}, token)

    ticks = iter(range(1000))
    result = run_once_in_transaction(sql_store, "k", "fp", lambda _: _writing("waiter", {}),
                                     wait_seconds=5.0, sleep=sleep, monotonic=lambda: next(ticks) * 0.01)

    assert result == RunResult({"by": "holder"}, replayed=True)
    assert _rows(sql_store.db) == []


def test_live_in_progress_claim_past_wait_is_in_progress(sql_store: SqlIdempotencyStore) -> None:
    sql_store.claim("k", "fp", 60)

    with pytest.raises(AlreadyInProgress):
        run_once_in_transaction(sql_store, "k", "fp", lambda _: _writing("waiter", {}))


def test_in_progress_claim_past_its_lease_is_taken_over(sql_store: SqlIdempotencyStore,
                                                          clock: Clock) -> None:
    sql_store.claim("k", "fp", 60)
    clock.advance(61)

    result = run_once_in_transaction(sql_store, "k", "fp", lambda _: _writing("after", {"n": 1}))

    assert result == RunResult({"n": 1}, replayed=False)
    assert _claims(sql_store.db) == [("completed", '{"n": 1}')]
    # The crashed holder's late completion changes nothing.
    assert run_once(sql_store, "k", "fp", 60, lambda: {"n": 2}).response == {"n": 1}


def test_beside_row_comes_with_the_lookup(sql_store: SqlIdempotencyStore) -> None:
    from scf_worker.idempotency.sql import Beside

    sql_store.db.execute("INSERT INTO events (name, job_id, payload, created_at) VALUES (?, ?, ?, ?)",
                         ("SCF_JOB_DONE", "job-9", '{"n": 9}', 5))
    seen: list[Any] = []
    beside = Beside("events", "job_id", "job-9", ("job_id", "payload"))
    missing = Beside("events", "job_id", "job-0", ("job_id", "payload"))

    run_once_in_transaction(sql_store, "k1", "fp", lambda row: seen.append(row) or Prepared({}),
                            beside=beside)
    run_once_in_transaction(sql_store, "k2", "fp", lambda row: seen.append(row) or Prepared({}),
                            beside=missing)

    assert seen == [{"job_id": "job-9", "payload": '{"n": 9}'}, None]


# Races on real MariaDB connections


def _waiting_transactions(db: Database) -> int:
    """Transactions of this test's database waiting for a lock (the server is shared)."""
    rows = db.query("SELECT COUNT(*) AS n FROM information_schema.innodb_trx AS t"
                    " JOIN information_schema.processlist AS p ON p.id = t.trx_mysql_thread_id"
                    " WHERE t.trx_state = 'LOCK WAIT' AND p.db = DATABASE()")
    return int(rows[0]["n"])


def _until(condition: Callable[[], bool]) -> None:
    pause = threading.Event()
    # InnoDB refreshes innodb_trx only when it was last read over 0.1 s ago, so faster
    # polling would keep reading the same stale copy.
    for _ in range(WAIT_TIMEOUT_SECONDS * 5):
        if condition():
            return
        pause.wait(0.2)
    raise AssertionError("the condition never held")


class _Delivery(threading.Thread):
    """One delivery of key "k" on its own connection (the Database keeps one per thread)."""

    def __init__(self, store: SqlIdempotencyStore, name: str, prepared: Callable[[], Prepared],
                 fingerprint: str = "fp") -> None:
        super().__init__(name=name)
        self.store, self.prepared, self.fingerprint = store, prepared, fingerprint
        self.result: RunResult | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = run_once_in_transaction(self.store, "k", self.fingerprint,
                                                  lambda _: self.prepared())
        except BaseException as exc:  # the test reads it
            self.error = exc
        finally:
            self.store.db.close()


def test_second_delivery_waits_on_the_uncommitted_key(mariadb_store: SqlIdempotencyStore) -> None:
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        holding.set()
        assert release.wait(WAIT_TIMEOUT_SECONDS)

    first = _Delivery(mariadb_store, "first", lambda: _writing("first", {"by": "first"}, hold))
    second = _Delivery(mariadb_store, "second", lambda: _writing("second", {"by": "second"}))
    first.start()
    assert holding.wait(WAIT_TIMEOUT_SECONDS)
    second.start()
    _until(lambda: _waiting_transactions(mariadb_store.db) == 1)
    release.set()
    first.join(WAIT_TIMEOUT_SECONDS)
    second.join(WAIT_TIMEOUT_SECONDS)

    assert first.error is None
    assert second.error is None
    assert first.result == RunResult({"by": "first"}, replayed=False)
    assert second.result == RunResult({"by": "first"}, replayed=True)
    assert _rows(mariadb_store.db) == ["first"]


def test_waiting_delivery_with_another_body_is_conflict(mariadb_store: SqlIdempotencyStore) -> None:
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        holding.set()
        assert release.wait(WAIT_TIMEOUT_SECONDS)

    first = _Delivery(mariadb_store, "first", lambda: _writing("first", {"by": "first"}, hold))
    other = _Delivery(mariadb_store, "other", lambda: _writing("other", {}), fingerprint="other")
    first.start()
    assert holding.wait(WAIT_TIMEOUT_SECONDS)
    other.start()
    _until(lambda: _waiting_transactions(mariadb_store.db) == 1)
    release.set()
    first.join(WAIT_TIMEOUT_SECONDS)
    other.join(WAIT_TIMEOUT_SECONDS)

    assert first.error is None
    assert isinstance(other.error, IdempotencyConflict)
    assert _rows(mariadb_store.db) == ["first"]


def test_holder_that_rolls_back_lets_one_waiter_win(mariadb_store: SqlIdempotencyStore,
                                                     logs) -> None:  # type: ignore[no-untyped-def]
    """Two waiters on a holder that rolls back: MariaDB may pick one as a deadlock victim,
    which is retried. Either way one waiter records and the other replays its response."""
    holding, release = threading.Event(), threading.Event()

    def hold_then_fail() -> None:
        holding.set()
        assert release.wait(WAIT_TIMEOUT_SECONDS)
        raise RuntimeError("the holder fails")

    holder = _Delivery(mariadb_store, "holder", lambda: _writing("holder", {}, hold_then_fail))
    waiters = [_Delivery(mariadb_store, f"w{n}", lambda n=n: _writing(f"w{n}", {"by": f"w{n}"}))
               for n in (1, 2)]
    holder.start()
    assert holding.wait(WAIT_TIMEOUT_SECONDS)
    for waiter in waiters:
        waiter.start()
    _until(lambda: _waiting_transactions(mariadb_store.db) == 2)
    release.set()
    for thread in (holder, *waiters):
        thread.join(WAIT_TIMEOUT_SECONDS)

    assert isinstance(holder.error, RuntimeError)
    assert [w.error for w in waiters] == [None, None]
    results = sorted((w.result for w in waiters), key=lambda r: r.replayed)  # type: ignore[union-attr]
    assert results[0].replayed is False
    assert results[1] == RunResult(results[0].response, replayed=True)
    assert _rows(mariadb_store.db) == [results[0].response["by"]]
    assert [e["reason"] for e in logs.events("idempotency_retried")] in ([], ["deadlock"])
