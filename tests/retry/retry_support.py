"""A probe job function and helpers for the retry, queue and dead-letter tests.

The probe's behaviour per job lives in the state store (table ``probe_plan``),
so a worker in another process follows the same plan: fail transiently or
permanently a number of times, then count one side effect in the same
transaction that completes the work. ``probe_runs`` records when each run
started, by the worker's clock. Worker subprocesses run ``worker_main``.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from scf_worker.app import Services, reset_services
from scf_worker.functions import FUNCTIONS, FunctionSpec
from scf_worker.jobs.entry import job_function
from scf_worker.jobs.ledger import effect_transaction
from scf_worker.queue.amqp import AmqpQueue, delay_bucket_ms
from scf_worker.retry.dlq_amqp import AmqpDeadLetterStore
from scf_worker.retry.errors import PermanentError, TransientError
from scf_worker.runtime.config import load_settings
from scf_worker.runtime.invocation import Invocation
from scf_worker.state.sql import Database

TOPIC = "probe"
JOB_TYPE = "test.probe"
SPEC = FunctionSpec(TOPIC, "retry_support", consumes_queue=True)

PROBE_DDL = (
    "CREATE TABLE IF NOT EXISTS probe_plan (job_id VARCHAR(191) PRIMARY KEY, fail_times INTEGER"
    " NOT NULL, kind VARCHAR(20) NOT NULL, runs INTEGER NOT NULL DEFAULT 0, effects INTEGER NOT NULL"
    " DEFAULT 0, pause_at VARCHAR(20))",
    "CREATE TABLE IF NOT EXISTS probe_runs (id INTEGER PRIMARY KEY {auto}, job_id VARCHAR(191)"
    " NOT NULL, at DOUBLE NOT NULL)",
)


@dataclass
class FakeClock:
    """Wall-clock seconds that move only when a test (or ``sleep``) advances them."""

    now: float = field(default_factory=lambda: 1_700_000_000.0)
    slept: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class RealClock:
    """Wall-clock time, for transports whose delays run on a server's clock."""

    def __call__(self) -> float:
        return time.time()

    def advance(self, seconds: float) -> None:
        raise AssertionError("real time cannot be advanced")


def create_probe_tables(db: Database) -> None:
    auto = "AUTOINCREMENT" if db.dialect == "sqlite" else "AUTO_INCREMENT"
    for statement in PROBE_DDL:
        db.execute(statement.replace("{auto}", auto))


def plan(db: Database, job_id: str, fail_times: int = 0, kind: str = "transient",
         pause_at: str | None = None) -> dict[str, str]:
    """Add a job to the plan and return its payload."""
    db.execute("INSERT INTO probe_plan (job_id, fail_times, kind, pause_at) VALUES (?, ?, ?, ?)",
               (job_id, fail_times, kind, pause_at))
    return {"jobId": job_id}


def heal(db: Database) -> None:
    """Fix the fault: from now on every probe job succeeds."""
    db.execute("UPDATE probe_plan SET fail_times = 0")


def row(db: Database, job_id: str) -> dict[str, Any]:
    return db.query("SELECT * FROM probe_plan WHERE job_id = ?", (job_id,))[0]


def run_times(db: Database, job_id: str) -> list[float]:
    return [r["at"] for r in db.query("SELECT at FROM probe_runs WHERE job_id = ? ORDER BY id", (job_id,))]


def _announce_and_block(point: str, job_id: str) -> None:
    """Tell the parent test where we stopped, then block until it kills this process."""
    print(f"PAUSED {point} {job_id}", flush=True)
    sys.stdin.readline()
    raise SystemExit("the parent test should have killed this worker")


def run(services: Services, payload: Any, invocation: Invocation) -> dict[str, Any]:
    job_id = payload["jobId"]
    with services.db.transaction() as tx:
        tx.execute("UPDATE probe_plan SET runs = runs + 1 WHERE job_id = ?", (job_id,))
        tx.execute("INSERT INTO probe_runs (job_id, at) VALUES (?, ?)", (job_id, services.clock()))
        current = tx.query("SELECT * FROM probe_plan WHERE job_id = ?", (job_id,))[0]
    if current["pause_at"] == "before_effect":
        _announce_and_block("before_effect", job_id)
    if current["runs"] <= current["fail_times"]:
        if current["kind"] == "permanent":
            raise PermanentError("invalid_params", f"probe {job_id} rejects its input")
        raise TransientError("http_503", f"probe {job_id} upstream answered 503")
    with effect_transaction(services.db) as tx:
        # A plain increment: only the work ledger keeps it from counting twice.
        tx.execute("UPDATE probe_plan SET effects = effects + 1 WHERE job_id = ?", (job_id,))
        if current["pause_at"] == "in_effect":
            _announce_and_block("in_effect", job_id)
    return {"effects": 1}


main_handler = job_function(TOPIC, JOB_TYPE, run)


def worker_main() -> None:
    """Run the worker loop in a subprocess until idle; ``PROBE_CLOCK_OFFSET`` shifts its clock.

    With ``PROBE_PAUSE_BEFORE_ACK`` set, the worker stops after a run and before
    its ack for jobs planned with ``pause_at = 'before_ack'``.
    """
    from scf_worker.app import reset_services
    from scf_worker.functions import FUNCTIONS
    from scf_worker.jobs import worker
    from scf_worker.runtime.config import load_settings

    FUNCTIONS[TOPIC] = SPEC
    offset = float(os.environ.get("PROBE_CLOCK_OFFSET", "0"))
    services = Services(load_settings(), clock=lambda: time.time() + offset)
    reset_services(services)
    transport = services.queue
    original_ack = transport.ack

    def ack(delivery: Any) -> bool:
        job_id = delivery.payload.get("jobId")
        paused = services.db.query("SELECT pause_at FROM probe_plan WHERE job_id = ?", (job_id,))
        if paused and paused[0]["pause_at"] == "before_ack":
            _announce_and_block("before_ack", job_id)
        return original_ack(delivery)

    transport.ack = ack  # type: ignore[method-assign]
    sleep = getattr(transport, "sleep", time.sleep)
    stats = worker.run_until_idle(services, max_wait_seconds=30, sleep=sleep, topics=(TOPIC,))
    print("IDLE " + json.dumps({"processed": stats.processed, "done": stats.done}), flush=True)


def random_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


MARIADB = ("127.0.0.1", 3306)
RABBITMQ = ("127.0.0.1", 5672)
AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"
TRANSPORTS = ("sqlite", "mariadb", "amqp")


def require(name: str, address: tuple[str, int]) -> None:
    """Skip when the server is down outside CI; fail under CI=true."""
    try:
        with socket.create_connection(address, timeout=1):
            return
    except OSError:
        pass
    if os.environ.get("CI"):
        pytest.fail(f"{name} is not reachable at {address} and CI=true requires it")
    pytest.skip(f"{name} is not running on {address}")


def create_database(name: str, host: str = MARIADB[0], port: int = MARIADB[1]) -> None:
    import pymysql

    conn = pymysql.connect(host=host, port=port, user="root", password="", connect_timeout=5)
    try:
        with conn.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    finally:
        conn.close()


def drop_database(name: str, host: str = MARIADB[0], port: int = MARIADB[1]) -> None:
    import pymysql

    conn = pymysql.connect(host=host, port=port, user="root", password="", connect_timeout=5)
    try:
        with conn.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
    finally:
        conn.close()


def delete_amqp_prefix(prefix: str, topics: tuple[str, ...], max_delay_ms: int = 10_000) -> None:
    """Delete the work, delay and dead-letter queues a test may have created under ``prefix``."""
    queue = AmqpQueue(AMQP_URL, prefix)
    buckets = {delay_bucket_ms(ms) for ms in range(1, max_delay_ms + 1)}
    try:
        channel = queue.connection.channel()
        for topic in topics:
            channel.queue_delete(queue.queue_name(topic))
            for bucket in buckets:
                channel.queue_delete(queue.delay_queue_name(topic, bucket))
        channel.exchange_delete(queue.exchange)
    finally:
        queue.close()
    store = AmqpDeadLetterStore(AMQP_URL, prefix)
    try:
        store.delete_all()
    finally:
        store.close()


@dataclass
class Stack:
    """A configured service container on one transport, with a fake clock."""

    kind: str
    env: dict[str, str]
    services: Services
    clock: FakeClock | RealClock
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def db(self) -> Any:
        return self.services.db

    def sleep(self, seconds: float) -> None:
        """Wait for due retries: advance the fake clock, or wait for the broker's TTL to run out."""
        if self.kind == "amqp":
            self.services.queue.sleep(seconds)  # type: ignore[attr-defined]
        else:
            self.clock.sleep(seconds)


def build_stack(kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                request: pytest.FixtureRequest, **overrides: str) -> Stack:
    env = {
        "WORKER_HOME": str(tmp_path / "home"),
        "STATE_URL": f"sqlite:///{tmp_path / 'state.db'}",
        "STORAGE_URL": f"file://{tmp_path / 'cos'}",
        "RETRY_BASE_MS": "10",
        "RETRY_MAX_DELAY_MS": "1000",
        "RETRY_MAX_ATTEMPTS": "5",
        "RETRY_JITTER": "false",
        "LOG_LEVEL": "DEBUG",
        # Each test gets a fresh database, so the functions may create their tables.
        "STATE_AUTO_MIGRATE": "true",
    }
    if kind == "mariadb":
        env["STATE_URL"] = request.getfixturevalue("mariadb_url")
    if kind == "amqp":
        env["QUEUE_URL"] = AMQP_URL
        env["QUEUE_PREFIX"] = request.getfixturevalue("amqp_prefix")
    env.update(overrides)
    for name in ("QUEUE_URL", "QUEUE_PREFIX", "WEBHOOK_ENDPOINTS", "AUTH_MODE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setitem(FUNCTIONS, TOPIC, SPEC)
    # AMQP delays run on the broker's clock, so that stack runs on real time.
    clock = RealClock() if kind == "amqp" else FakeClock()
    services = Services(load_settings(), clock=clock)
    reset_services(services)
    create_probe_tables(services.db)
    return Stack(kind, env, services, clock)



class PrivateMariaDB:
    """A MariaDB server this test starts on a free loopback port in a temp dir, and may kill.

    Tests that restart a database use this one, never the shared server on 3306.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.datadir = root / "data"
        self.port = _free_port()
        self.process: Any = None

    @property
    def url(self) -> str:
        return f"mysql://root@127.0.0.1:{self.port}/scf"

    def install(self) -> None:
        import subprocess

        subprocess.run(["mariadb-install-db", "--no-defaults", f"--datadir={self.datadir}", "--user=root",
                        "--auth-root-authentication-method=normal", "--skip-test-db"],
                       check=True, capture_output=True, timeout=120)
        self.start()
        create_database("scf", port=self.port)

    def start(self) -> None:
        import subprocess

        # Crash-safe for a killed server process: the log is written to the OS at each commit.
        self.process = subprocess.Popen(
            ["/usr/sbin/mariadbd", "--no-defaults", f"--datadir={self.datadir}", "--user=root",
             f"--port={self.port}", "--bind-address=127.0.0.1", f"--socket={self.root / 'sock'}",
             f"--pid-file={self.root / 'pid'}", "--skip-grant-tables", "--skip-log-bin",
             "--skip-name-resolve", "--innodb-buffer-pool-size=64M", "--innodb-flush-log-at-trx-commit=2",
             f"--log-error={self.root / 'error.log'}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.wait_until_up()

    def up(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def wait_until_up(self, timeout_seconds: float = 60) -> None:
        deadline = time.monotonic() + timeout_seconds
        while not self.up():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"private MariaDB did not start; see {self.root / 'error.log'}")
            # Polling a starting server: the only real wait in these tests.
            time.sleep(0.02)

    def kill(self) -> None:
        """SIGKILL the server, as a crash would, and wait for the process to end."""
        self.process.kill()
        self.process.wait(timeout=30)

    def restart(self) -> None:
        self.kill()
        self.start()

    def stop(self) -> None:
        import subprocess

        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:  # a stuck server is killed instead
                self.process.kill()
                self.process.wait(timeout=30)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


if __name__ == "__main__":
    worker_main()
