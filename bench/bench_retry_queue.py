"""Benchmark: jobs per second through enqueue -> run -> ack on each queue transport, and replay.

Run: ``.venv/bin/python bench/bench_retry_queue.py [--jobs 1000] [--transports sqlite,mariadb,amqp]``

MariaDB uses a random database on 127.0.0.1:3306 and RabbitMQ random queue
names on 127.0.0.1:5672; both are deleted afterwards. The job does one
state-store write in the transaction that completes its work claim, so the
numbers measure the queue, the work ledger and the dispatcher, not the work.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import pymysql

from scf_worker.app import Services, reset_services
from scf_worker.functions import FUNCTIONS, FunctionSpec
from scf_worker.jobs.entry import job_function
from scf_worker.jobs.ledger import effect_transaction
from scf_worker.jobs.worker import run_until_idle
from scf_worker.retry.classify import TRANSIENT, Failure
from scf_worker.retry.deadletter import new_entry
from scf_worker.retry.replay import Replayer, ReplayOptions
from scf_worker.runtime.config import load_settings

TOPIC = "bench-noop"
AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"


def run(services: Services, payload: Any, invocation: Any) -> dict[str, Any]:
    with effect_transaction(services.db) as tx:
        tx.execute("UPDATE bench_counter SET n = n + 1 WHERE id = 1")
    return {}


main_handler = job_function(TOPIC, "bench.noop", run)


def build(kind: str, workdir: Path, database: str | None, prefix: str) -> Services:
    env = {"WORKER_HOME": str(workdir), "STATE_URL": f"sqlite:///{workdir / 'state.db'}",
           "RETRY_BASE_MS": "10", "LOG_LEVEL": "ERROR"}
    if kind == "mariadb":
        env["STATE_URL"] = f"mysql://root@127.0.0.1:3306/{database}"
    if kind == "amqp":
        env.update(QUEUE_URL=AMQP_URL, QUEUE_PREFIX=prefix)
    services = Services(load_settings(env))
    reset_services(services)
    services.db.execute("CREATE TABLE IF NOT EXISTS bench_counter"
                        " (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)")
    services.db.execute("INSERT INTO bench_counter (id, n) VALUES (1, 0)")
    return services


def bench_queue(services: Services, jobs: int) -> float:
    started = time.perf_counter()
    for n in range(jobs):
        services.queue.publish(TOPIC, {"jobId": f"job-{n}"})
    stats = run_until_idle(services, max_messages=jobs * 2, topics=(TOPIC,))
    elapsed = time.perf_counter() - started
    assert stats.done == jobs, stats
    return jobs / elapsed


def bench_replay(services: Services, entries: int) -> float:
    now = time.time()
    failure = Failure(TRANSIENT, "http_503", "TransientError", "upstream answered 503", at=now)
    for n in range(entries):
        services.dead_letters.add(new_entry(TOPIC, "bench.noop", f"replay-{n}", {"jobId": f"replay-{n}"},
                                            5, failure, failure))
    started = time.perf_counter()
    report = Replayer(services).run(ReplayOptions())
    elapsed = time.perf_counter() - started
    assert report.count("replayed") == entries, report.summary()
    return entries / elapsed


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--transports", default="sqlite,mariadb,amqp")
    args = parser.parse_args()
    FUNCTIONS[TOPIC] = FunctionSpec(TOPIC, "bench_retry_queue", consumes_queue=True)
    sys.modules.setdefault("bench_retry_queue", sys.modules[__name__])
    print("| transport | jobs | enqueue→run→ack jobs/s | replay entries/s |")
    print("|---|---|---|---|")
    for kind in args.transports.split(","):
        database = f"scf_i5_bench_{uuid.uuid4().hex[:8]}"
        prefix = f"scf-i5-bench-{uuid.uuid4().hex[:8]}"
        if kind == "mariadb":
            conn = pymysql.connect(host="127.0.0.1", user="root", password="")
            conn.cursor().execute(f"CREATE DATABASE `{database}`")
            conn.close()
        try:
            with tempfile.TemporaryDirectory() as workdir:
                services = build(kind, Path(workdir), database, prefix)
                queue_rate = bench_queue(services, args.jobs)
                replay_rate = bench_replay(services, args.jobs // 2)
                print(f"| {kind} | {args.jobs} | {queue_rate:.0f} | {replay_rate:.0f} |", flush=True)
                if kind == "amqp":
                    services.queue.delete_all((TOPIC,))  # type: ignore[attr-defined]
                    services.dead_letters.delete_all()  # type: ignore[attr-defined]
                reset_services()
        finally:
            if kind == "mariadb":
                conn = pymysql.connect(host="127.0.0.1", user="root", password="")
                conn.cursor().execute(f"DROP DATABASE IF EXISTS `{database}`")
                conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
