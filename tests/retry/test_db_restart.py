"""The database server restarted in the middle of a 1,000-job run: no job lost, none done twice.

The server is a private MariaDB this test starts on its own port and kills with
SIGKILL while the worker is busy, then starts again on the same data directory.
The worker sees lost connections and failed commits mid-transaction; it waits
(really, only while the port is closed) and carries on. Its clock is fake, so
leases left behind by interrupted runs expire without real waiting.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from retry_support import TOPIC, PrivateMariaDB, Stack, build_stack, plan

from scf_worker.jobs.worker import run_until_idle
from scf_worker.queue.sql import insert_message
from scf_worker.retry.deadletter import DeadLetterQuery, list_entries

JOBS = 1000
RESTART_AFTER_ACKS = 400


@pytest.fixture
def private_mariadb(tmp_path: Path) -> Iterator[PrivateMariaDB]:
    if shutil.which("mariadb-install-db") is None or not Path("/usr/sbin/mariadbd").exists():
        pytest.skip("mariadb-install-db and mariadbd are needed to run a private server")
    server = PrivateMariaDB(tmp_path / "mariadb")
    server.install()
    try:
        yield server
    finally:
        server.stop()


def enqueue_jobs(stack: Stack) -> list[str]:
    jobs = [f"job-{n:04d}" for n in range(JOBS)]
    with stack.db.transaction() as tx:
        for job in jobs:
            tx.execute("INSERT INTO probe_plan (job_id, fail_times, kind) VALUES (?, 0, 'transient')",
                       (job,))
            insert_message(tx, stack.clock(), TOPIC, {"jobId": job})
    return jobs


def test_restart_mid_run_loses_and_repeats_nothing(private_mariadb: PrivateMariaDB, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   request: pytest.FixtureRequest) -> None:
    stack = build_stack("private-mariadb", tmp_path, monkeypatch, request, STATE_URL=private_mariadb.url)
    plan(stack.db, "warm-up")
    jobs = enqueue_jobs(stack)
    queue = stack.services.queue
    acks = {"count": 0}
    restarter = threading.Thread(target=private_mariadb.restart)
    original_ack = queue.ack

    def ack(delivery):  # type: ignore[no-untyped-def]
        acks["count"] += 1
        if acks["count"] == RESTART_AFTER_ACKS:
            restarter.start()  # the kill lands while the worker goes on with the next jobs
        return original_ack(delivery)

    def sleep(seconds: float) -> None:
        if not private_mariadb.up():
            time.sleep(0.02)
        stack.clock.sleep(seconds)

    monkeypatch.setattr(queue, "ack", ack)
    stats = run_until_idle(stack.services, max_messages=5 * JOBS, max_wait_seconds=3600, sleep=sleep,
                           topics=(TOPIC,))
    restarter.join(timeout=60)

    assert stats.infra_errors > 0, "the restart should have interrupted the worker"
    effects = {r["job_id"]: r["effects"] for r in stack.db.query("SELECT job_id, effects FROM probe_plan")}
    assert [effects[job] for job in jobs] == [1] * JOBS
    assert all(stack.services.ledger.is_done(TOPIC, job) for job in jobs[:: 97])
    done = stack.db.query("SELECT COUNT(*) AS n FROM scf_work WHERE status = 'done'")[0]["n"]
    assert done == JOBS
    assert queue.backlog((TOPIC,)).empty
    assert list_entries(stack.services.dead_letters, DeadLetterQuery(statuses=())) == []
