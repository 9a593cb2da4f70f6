"""Callbacks per second per process for cos-callback on SQLite, MariaDB and Redis.

For each store it measures, in one process and one run:

- ``ours``: ``CallbackService.handle_http`` on a parsed request: signature
  check, body validation, idempotency claim, HEAD and first-bytes check on a
  folder store, the outbox write, storing the response, and its INFO log line
  (sent to /dev/null);
- ``end to end``: the same through ``main_handler`` on an API Gateway event,
  adding event parsing, the JSON response and the ``invocation_end`` line;
- ``floor``: the signature check plus one ``INSERT IGNORE`` (SQLite: ``INSERT OR
  IGNORE``) or ``SET NX`` with the same driver, autocommitted;
- on Redis, ``powertools``: the same signature check, body validation and upload
  work (cos-callback's ``_process``), with Powertools for AWS Lambda's
  idempotency (``idempotent_function`` on a ``CachePersistenceLayer``) in place
  of ours.

Each is measured twice: first deliveries (new uploads) and redeliveries of the
same requests (duplicates). Usage:

    python bench/cos_callback_bench.py --count 500 --rounds 5 --stores sqlite,mariadb,redis

Each round runs every variant once in a shuffled order, on fresh uploads, and
the table shows the median over rounds, so load that drifts during the run
affects all variants alike.

Needs MariaDB on 127.0.0.1:3306 (root, no password) and Redis on 127.0.0.1:6379;
it creates a database ``scf_bench_<random>`` and Redis keys under a random
prefix, and removes both afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

MP4 = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + bytes(64)
BUCKET = "media-1250000000"


Sample = tuple[float, float]  # (operations per second, CPU microseconds per operation)


def rate(count: int, run: Callable[[int], Any]) -> Sample:
    """Run ``count`` operations; return their rate and this process's CPU time per operation.

    The CPU time is the client's. With SQLite it includes the database engine, which runs
    in-process, and with MariaDB or Redis it excludes the server's own CPU time.
    """
    cpu = time.process_time()
    started = time.perf_counter()
    for index in range(count):
        run(index)
    wall = time.perf_counter() - started
    return count / wall, (time.process_time() - cpu) / count * 1e6


@contextmanager
def mariadb_url() -> Iterator[str]:
    import pymysql

    name = "scf_bench_" + secrets.token_hex(4)
    admin = pymysql.connect(host="127.0.0.1", port=3306, user="root", autocommit=True)
    admin.cursor().execute(f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
    try:
        yield f"mysql://root@127.0.0.1:3306/{name}"
    finally:
        admin.cursor().execute(f"DROP DATABASE IF EXISTS {name}")
        admin.close()


@contextmanager
def redis_url() -> Iterator[str]:
    import redis

    prefix = "scf-bench-" + secrets.token_hex(4) + ":"
    yield f"redis://127.0.0.1:6379/0?prefix={prefix}"
    client = redis.Redis()
    for pattern in (prefix + "*", os.environ["AWS_LAMBDA_FUNCTION_NAME"] + "*"):
        keys = list(client.scan_iter(match=pattern, count=1000))
        for start in range(0, len(keys), 500):
            client.delete(*keys[start:start + 500])


class Workload:
    """Signed callback events for ``count`` objects stored in a folder store."""

    def __init__(self, root: Path, count: int, secret: str, tag: str) -> None:
        from scf_worker.runtime import samples
        from scf_worker.storage.local import LocalObjectStore
        from scf_worker.webhooks.signing import decode_secret, sign

        store = LocalObjectStore(root)
        self.key = decode_secret(secret)
        self.events: list[dict[str, Any]] = []
        self.requests: list[tuple[dict[str, str], bytes]] = []
        now = int(time.time())
        for index in range(count):
            key = f"uploads/bench/{tag}/{index}.mp4"
            data = MP4 + index.to_bytes(4, "big")
            etag = store.put_bytes(BUCKET, key, data).etag
            body = json.dumps({"objectKey": key, "etag": etag, "bucket": BUCKET, "size": len(data),
                               "mime": "video/mp4"}).encode()
            msg_id = f"msg_{tag}_{index}"
            headers = {"webhook-id": msg_id, "webhook-timestamp": str(now),
                       "webhook-signature": sign(self.key, msg_id, now, body)}
            self.requests.append((headers, body))
            self.events.append(samples.apigw_event("POST", "/cos/callback", body, headers))


def configure_env(state_url: str, root: Path, secret: str) -> None:
    os.environ.update({
        "STATE_URL": state_url, "STORAGE_URL": f"file://{root}", "COS_BUCKET": BUCKET,
        "CALLBACK_SHARED_SECRET": secret, "LOG_LEVEL": "INFO", "WORKER_HOME": str(root.parent),
    })
    os.environ.pop("IDEMPOTENCY_URL", None)


def bench_ours(state_url: str, root: Path, secret: str, count: int,
               end_to_end: bool) -> tuple[Sample, Sample]:
    from scf_worker.app import get_services, reset_services
    from scf_worker.callbacks.service import Budget
    from scf_worker.handlers import cos_callback
    from scf_worker.runtime import samples
    from scf_worker.runtime.events import parse_http
    from scf_worker.state.redis import is_redis_url
    from scf_worker.state.sql import open_database

    if not is_redis_url(state_url):
        open_database(state_url).close()
    configure_env(state_url, root, secret)
    reset_services()
    workload = Workload(root, count, secret, "ours-" + secrets.token_hex(3))
    context = samples.context("cos-callback", time_limit_ms=30_000)
    service = cos_callback.callback_service(get_services())
    requests = [parse_http(event) for event in workload.events]
    budget = Budget(lease_seconds=60, wait_seconds=5)

    def handle(index: int) -> None:
        service.handle_http(requests[index], budget)

    def deliver(index: int) -> None:
        response = cos_callback.main_handler(workload.events[index], context)
        assert response["statusCode"] == 200, response["body"]

    run = deliver if end_to_end else handle
    first = rate(count, run)
    again = rate(count, run)
    reset_services()
    return first, again


def bench_floor(state_url: str, requests: list[tuple[dict[str, str], bytes]],
                key: bytes) -> tuple[Sample, Sample]:
    from scf_worker.state.redis import is_redis_url, open_redis
    from scf_worker.webhooks.signing import verify

    if is_redis_url(state_url):
        target = open_redis(state_url)
        client = target.client

        def write(msg_id: str) -> None:
            client.set(target.key("floor", msg_id), "1", nx=True, px=3_600_000)
    elif state_url.startswith("mysql://"):
        import pymysql

        name = state_url.rsplit("/", 1)[1]
        conn = pymysql.connect(host="127.0.0.1", port=3306, user="root", database=name, autocommit=True)
        cursor = conn.cursor()
        cursor.execute("CREATE TABLE IF NOT EXISTS floor (k VARCHAR(191) PRIMARY KEY)")

        def write(msg_id: str) -> None:
            cursor.execute("INSERT IGNORE INTO floor (k) VALUES (%s)", (msg_id,))
    else:
        import sqlite3

        conn = sqlite3.connect(state_url[len("sqlite:///"):], isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("CREATE TABLE IF NOT EXISTS floor (k TEXT PRIMARY KEY)")

        def write(msg_id: str) -> None:
            conn.execute("INSERT OR IGNORE INTO floor (k) VALUES (?)", (msg_id,))

    def deliver(index: int) -> None:
        headers, body = requests[index]
        write(verify(headers, body, [key]))

    return rate(len(requests), deliver), rate(len(requests), deliver)


def bench_powertools(state_url: str, root: Path, secret: str, count: int) -> tuple[Sample, Sample]:
    """Measure the same verification and upload work with Powertools' idempotency on the same Redis."""
    import redis
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
    from aws_lambda_powertools.utilities.idempotency.persistence.cache import CachePersistenceLayer

    from scf_worker.app import get_services, reset_services
    from scf_worker.callbacks.notices import notice_from_callback
    from scf_worker.handlers.cos_callback import callback_service
    from scf_worker.webhooks.signing import verify

    configure_env(state_url, root, secret)
    reset_services()
    service = callback_service(get_services())
    workload = Workload(root, count, secret, "powertools-" + secrets.token_hex(3))
    client = redis.Redis(host="127.0.0.1", port=6379, decode_responses=True)
    persistence = CachePersistenceLayer(client=client)
    # NOTE: no payload_validation_jmespath: in aws-lambda-powertools 3.37 the Redis layer's
    # _update_record rewrites the record without the validation hash, so every replay
    # raises IdempotencyValidationError. Ours checks the fingerprint on every claim.
    config = IdempotencyConfig(event_key_jmespath="webhook_id", expires_after_seconds=7 * 24 * 3600)

    @idempotent_function(data_keyword_argument="request", persistence_store=persistence, config=config)
    def process(request: dict[str, Any]) -> dict[str, Any]:
        return service._process(notice_from_callback(request["body"]), None)

    def deliver(index: int) -> None:
        headers, body = workload.requests[index]
        webhook_id = verify(headers, body, [workload.key])
        parsed = json.loads(body)
        notice_from_callback(parsed)
        process(request={"webhook_id": webhook_id, "body": parsed})

    first = rate(count, deliver)
    again = rate(count, deliver)
    reset_services()
    return first, again


def _variants(store: str, url: str, root: Path, secret: str,
              count: int) -> dict[str, Callable[[], tuple[Sample, Sample]]]:
    """Return each variant to measure on this store as a call giving (first, duplicate) rates."""
    from scf_worker.webhooks.signing import decode_secret

    def floor() -> tuple[Sample, Sample]:
        workload = Workload(root, count, secret, "floor-" + secrets.token_hex(3))
        return bench_floor(url, workload.requests, decode_secret(secret))

    variants: dict[str, Callable[[], tuple[Sample, Sample]]] = {
        "ours": lambda: bench_ours(url, root, secret, count, end_to_end=False),
        "end_to_end": lambda: bench_ours(url, root, secret, count, end_to_end=True),
        "floor": floor,
    }
    if store == "redis":
        variants["powertools"] = lambda: bench_powertools(url, root, secret, count)
    return variants


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=500, help="callbacks per measurement")
    parser.add_argument("--rounds", type=int, default=5,
                        help="rounds per store; each round runs every variant once, in a shuffled order")
    parser.add_argument("--stores", default="sqlite,mariadb,redis", help="comma-separated stores")
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    args = parser.parse_args(argv)

    from scf_worker.observability import logging as obs_logging
    from scf_worker.webhooks.signing import generate_secret

    obs_logging.configure("INFO", stream=open(os.devnull, "w"))
    os.environ["AWS_LAMBDA_FUNCTION_NAME"] = "scf-bench-pt-" + secrets.token_hex(4)
    secret = generate_secret()
    shuffle = random.Random(7).shuffle
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="scf-bench-") as work:
        for store in args.stores.split(","):
            root = Path(work) / store / "cos"
            opened = {"sqlite": _sqlite, "mariadb": lambda _: mariadb_url(),
                      "redis": lambda _: redis_url()}[store](Path(work) / store)
            with opened as url:
                variants = _variants(store, url, root, secret, args.count)
                samples: dict[str, list[float]] = {}
                for _ in range(args.rounds):
                    names = list(variants)
                    shuffle(names)
                    for name in names:
                        measured = zip(("first", "duplicate"), variants[name](), strict=True)
                        for kind, (per_second, cpu_us) in measured:
                            samples.setdefault(f"{name}_{kind}", []).append(per_second)
                            samples.setdefault(f"{name}_{kind}_cpu_us", []).append(cpu_us)
                row = {name: statistics.median(values) for name, values in samples.items()}
                results[store] = row
            print(f"{store}: " + ", ".join(f"{k}={v:.0f}" + ("" if k.endswith("_us") else "/s")
                                          for k, v in sorted(row.items())), flush=True)

    print(f"\nPython {platform.python_version()}, {os.cpu_count()} cores, median of {args.rounds} rounds"
          f" of {args.count} callbacks")
    print("| store | delivery | ours (/s) | ours (µs/op) | ours CPU (µs/op) | end to end (/s)"
          " | floor (/s) | ours / floor | Powertools (/s) | ours / Powertools |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for store, row in results.items():
        for kind in ("first", "duplicate"):
            ours, floor = row[f"ours_{kind}"], row[f"floor_{kind}"]
            powertools = row.get(f"powertools_{kind}")
            versus = f"{powertools:.0f} | {ours / powertools:.2f}" if powertools else "- | -"
            print(f"| {store} | {kind} | {ours:.0f} | {1e6 / ours:.0f} | {row[f'ours_{kind}_cpu_us']:.0f}"
                  f" | {row[f'end_to_end_{kind}']:.0f} | {floor:.0f} | {ours / floor:.2f} | {versus} |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


@contextmanager
def _sqlite(folder: Path) -> Iterator[str]:
    folder.mkdir(parents=True, exist_ok=True)
    yield f"sqlite:///{folder / 'state.db'}"


if __name__ == "__main__":
    sys.exit(main())
