"""Signed webhook deliveries per second against plain HTTP client loops, to a loopback sink.

The sink (bench/loopback_sink.py) runs in its own process. Each round measures,
at each concurrency level, for a fixed number of seconds:

- plain loops (no signing, no bookkeeping), the floor to beat: aiohttp, httpx
  (when installed: ``pip install -e '.[bench]'``) and http.client (one
  keep-alive connection per thread);
- ``our transport``: webhook-forward's transport (``webhooks.transport``) posting
  the same fixed body, unsigned and unrecorded. It is not one of the floor's
  client libraries; it shows how much of a delivery's cost is signing and
  bookkeeping rather than HTTP;
- ``signed``: the delivery path of webhook-forward. Each delivery builds the
  message (canonical JSON, SHA-256), signs it, passes the SSRF guard and is
  POSTed by ``WebhookClient``, which keeps the response head;
- ``signed+recorded``: the same, and each attempt is stored in
  ``webhook_deliveries`` with the endpoint-health update (SQLite in the
  benchmark's work directory, batched per transaction on a writer thread;
  the table grows through the whole run, as it would in service);
- ``forwarder`` (concurrency 1 only): ``Forwarder.forward`` per event, with
  the idempotency claim, the health read and one transaction per event.

Each round runs every client back to back, and "vs floor" divides a client's
rate by the fastest plain library loop of the same round and concurrency; the table
shows medians over rounds. Other processes on a shared machine move the
absolute rates from round to round, and comparing within a round cancels most
of that. ``cpu us`` is the client process's CPU time per delivery (all its
threads), which load from other processes disturbs less than wall time.

Usage: python bench/webhook_delivery.py [--seconds 3] [--rounds 3] [--concurrency 1 50]
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import httptools

from scf_worker.idempotency.sql import SqlIdempotencyStore
from scf_worker.jobs.model import EVENT_DONE, STATUS_DONE, Job, Resource, build_event
from scf_worker.observability import logging as obs_logging
from scf_worker.runtime.config import load_settings
from scf_worker.state.sql import open_database
from scf_worker.webhooks.client import WebhookClient
from scf_worker.webhooks.deliveries import DeliveryLog
from scf_worker.webhooks.delivery import Attempt, Message, body_of
from scf_worker.webhooks.endpoints import Endpoint
from scf_worker.webhooks.forwarder import Forwarder
from scf_worker.webhooks.guard import GuardPolicy
from scf_worker.webhooks.health import HealthPolicy, HealthStore
from scf_worker.webhooks.signing import generate_secret
from scf_worker.webhooks.transport import Origin, Transport

HERE = Path(__file__).resolve().parent
WRITE_BATCH = 200


TEMPLATE = build_event(
    EVENT_DONE,
    Job(id="media-transcode-00000000", type="media.transcode", status=STATUS_DONE,
        resource=Resource("media-1250000000", "uploads/u1/clip.mp4", "video/mp4"), attempts=1,
        request_id="req-bench"),
    1_700_000_000, 1234, data={"outputs": [{"kind": "mp4", "key": "outputs/u1/clip-720p.mp4"}]},
)
BODY = body_of(TEMPLATE)


_EVENT_NUMBERS = itertools.count()


def make_event() -> dict[str, Any]:
    """Return a new event, the way webhook-forward receives one: a dict from the queue.

    Numbers never repeat within a process, so each delivery has its own webhook-id.
    """
    return {**TEMPLATE, "jobId": f"media-transcode-{next(_EVENT_NUMBERS):010d}"}


@dataclass(frozen=True)
class Run:
    """One timed run: deliveries completed, wall seconds, and the process's CPU seconds."""

    deliveries: int
    seconds: float
    cpu_seconds: float

    @property
    def rate(self) -> float:
        return self.deliveries / self.seconds

    @property
    def cpu_us(self) -> float:
        return self.cpu_seconds / max(self.deliveries, 1) * 1e6


class Timer:
    def __init__(self) -> None:
        self.wall = time.monotonic()
        self.cpu = time.process_time()

    def stop(self, deliveries: int) -> Run:
        return Run(deliveries, time.monotonic() - self.wall, time.process_time() - self.cpu)


async def _run_workers(concurrency: int, seconds: float, one: Callable[[], Awaitable[None]]) -> int:
    deadline = time.monotonic() + seconds
    counts = [0] * concurrency

    async def worker(index: int) -> None:
        while time.monotonic() < deadline:
            await one()
            counts[index] += 1

    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    return sum(counts)


async def plain_aiohttp(url: str, concurrency: int, seconds: float) -> Run:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100)) as session:
        async def one() -> None:
            async with session.post(url, data=BODY, headers={"Content-Type": "application/json"}) as r:
                await r.read()

        await _run_workers(concurrency, 0.3, one)
        timer = Timer()
        return timer.stop(await _run_workers(concurrency, seconds, one))


async def plain_httpx(url: str, concurrency: int, seconds: float) -> Run:
    import httpx

    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
    async with httpx.AsyncClient(limits=limits) as client:
        async def one() -> None:
            response = await client.post(url, content=BODY, headers={"Content-Type": "application/json"})
            response.read()

        await _run_workers(concurrency, 0.3, one)
        timer = Timer()
        return timer.stop(await _run_workers(concurrency, seconds, one))


def plain_http_client(url: str, concurrency: int, seconds: float) -> Run:
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    counts = [0] * concurrency
    start_barrier = threading.Barrier(concurrency + 1)
    deadline_box: list[float] = []

    def worker(index: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        start_barrier.wait()
        while time.monotonic() < deadline_box[0]:
            connection.request("POST", "/hook", body=BODY, headers={"Content-Type": "application/json"})
            connection.getresponse().read()
            counts[index] += 1
        connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(concurrency)]
    for thread in threads:
        thread.start()
    deadline_box.append(time.monotonic() + seconds)
    timer = Timer()
    start_barrier.wait()
    for thread in threads:
        thread.join()
    return timer.stop(sum(counts))


async def our_transport(url: str, concurrency: int, seconds: float) -> Run:
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    origin = Origin("http", "127.0.0.1", port)

    async def loopback(_: Origin) -> list[str]:
        return ["127.0.0.1"]

    transport = Transport(loopback, 3.0, 5.0)
    headers = [("Content-Type", "application/json")]

    async def one() -> None:
        await transport.post(origin, "/hook", headers, BODY)

    try:
        await _run_workers(concurrency, 0.3, one)
        timer = Timer()
        return timer.stop(await _run_workers(concurrency, seconds, one))
    finally:
        await transport.close()


class BatchWriter:
    """Stores attempts and their health updates in batches, on one writer thread."""

    def __init__(self, state_url: str) -> None:
        self.db = open_database(state_url)
        self.log = DeliveryLog(self.db)
        self.health = HealthStore(self.db, HealthPolicy())
        self.pending: list[Attempt] = []
        self.executor = ThreadPoolExecutor(max_workers=1)
        self.inflight: list[Any] = []

    def add(self, attempt: Attempt) -> None:
        self.pending.append(attempt)
        if len(self.pending) >= WRITE_BATCH:
            self.flush()

    def flush(self) -> None:
        batch, self.pending = self.pending, []
        if batch:
            loop = asyncio.get_running_loop()
            self.inflight.append(loop.run_in_executor(self.executor, self._write, batch))

    def _write(self, batch: list[Attempt]) -> None:
        # One health update per endpoint per batch: the last attempt decides its state.
        last_by_endpoint = {attempt.endpoint_id: attempt for attempt in batch}
        with self.db.transaction() as tx:
            self.log.record(tx, batch)
            for attempt in last_by_endpoint.values():
                self.health.record_success(tx, attempt.endpoint_id, attempt.attempted_at)

    async def drain(self) -> None:
        self.flush()
        await asyncio.gather(*self.inflight)
        self.inflight = []


async def signed(url: str, concurrency: int, seconds: float, state_url: str | None) -> Run:
    """Deliver through ``WebhookClient``; with a ``state_url``, also store every attempt."""
    client = WebhookClient(GuardPolicy(allow_loopback=True), 3.0, 5.0)
    endpoint = Endpoint.create(url, [generate_secret()])
    writer = BatchWriter(state_url) if state_url else None

    async def one() -> None:
        attempt = await client.send(endpoint, Message.for_event(make_event(), url))
        if not attempt.delivered:
            raise RuntimeError(f"delivery failed: {attempt.outcome} {attempt.detail}")
        if writer is not None:
            writer.add(attempt)

    try:
        await _run_workers(concurrency, 0.3, one)
        if writer is not None:
            await writer.drain()
        timer = Timer()
        done = await _run_workers(concurrency, seconds, one)
        if writer is not None:
            await writer.drain()
        return timer.stop(done)
    finally:
        await client.close()
        if writer is not None:
            writer.executor.shutdown()


def forwarder_loop(url: str, seconds: float, state_url: str, workdir: str) -> Run:
    env = {"WORKER_HOME": workdir, "STATE_URL": state_url, "WEBHOOK_ALLOW_LOOPBACK": "true",
           "WEBHOOK_ENDPOINTS": json.dumps([{"url": url, "secret": generate_secret()}])}
    settings = load_settings(env)
    db = open_database(state_url)
    forwarder = Forwarder(settings, db, SqlIdempotencyStore(db))
    try:
        for _ in range(100):
            forwarder.forward(make_event())
        done = 0
        timer = Timer()
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            forwarder.forward(make_event())
            done += 1
        return timer.stop(done)
    finally:
        forwarder.close()


def run_client(name: str, url: str, concurrency: int, seconds: float, workdir: str) -> Run:
    state_url = f"sqlite:///{os.path.join(workdir, 'state.db')}"
    if name == "plain aiohttp":
        return asyncio.run(plain_aiohttp(url, concurrency, seconds))
    if name == "plain httpx":
        return asyncio.run(plain_httpx(url, concurrency, seconds))
    if name == "plain http.client":
        return plain_http_client(url, concurrency, seconds)
    if name == "our transport":
        return asyncio.run(our_transport(url, concurrency, seconds))
    if name == "signed":
        return asyncio.run(signed(url, concurrency, seconds, None))
    if name == "signed+recorded":
        return asyncio.run(signed(url, concurrency, seconds, state_url))
    return forwarder_loop(url, seconds, state_url, workdir)


def start_sink() -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen([sys.executable, str(HERE / "loopback_sink.py")],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    port = int(process.stdout.readline())
    return process, f"http://127.0.0.1:{port}/hook"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="measured seconds per run")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; the median is reported")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 50])
    args = parser.parse_args()
    obs_logging.configure("WARNING", stream=sys.stderr)

    try:
        import httpx  # noqa: F401

        has_httpx = True
    except ImportError:
        has_httpx = False
        print("httpx is not installed; its plain loop is skipped", file=sys.stderr)

    sink, url = start_sink()
    results: dict[tuple[str, int], list[Run]] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="scf-worker-bench-") as workdir:
            for _ in range(args.rounds):
                for concurrency in args.concurrency:
                    names = ["plain aiohttp", "plain http.client", "our transport", "signed",
                             "signed+recorded"]
                    names += ["plain httpx"] if has_httpx else []
                    names += ["forwarder"] if concurrency == 1 else []
                    for name in names:
                        run = run_client(name, url, concurrency, args.seconds, workdir)
                        results.setdefault((name, concurrency), []).append(run)
    finally:
        assert sink.stdin is not None
        sink.stdin.close()
        sink.wait(timeout=10)

    print_table(results, args)


def print_table(results: dict[tuple[str, int], list[Run]], args: argparse.Namespace) -> None:
    print(f"rounds={args.rounds} seconds={args.seconds} cpus={os.cpu_count()}"
          f" python={sys.version.split()[0]} aiohttp={aiohttp.__version__}"
          f" httptools={httptools.__version__}")
    print(f"{'client':<18}{'conc.':>6}{'median/s':>10}{'cpu us':>8}{'vs floor':>10}   rates per round")
    for concurrency in args.concurrency:
        names = [name for (name, c) in results if c == concurrency]
        plain = [name for name in names if name.startswith("plain")]
        floors = [max(results[(name, concurrency)][i].rate for name in plain) for i in range(args.rounds)]
        rows = []
        for name in names:
            runs = results[(name, concurrency)]
            ratio = statistics.median(run.rate / floor for run, floor in zip(runs, floors, strict=True))
            rows.append((name, statistics.median(run.rate for run in runs),
                         statistics.median(run.cpu_us for run in runs), ratio, runs))
        for name, rate, cpu_us, ratio, runs in sorted(rows, key=lambda row: -row[1]):
            print(f"{name:<18}{concurrency:>6}{rate:>10.0f}{cpu_us:>8.0f}{ratio:>10.2f}   "
                  + " ".join(f"{run.rate:.0f}" for run in runs))


if __name__ == "__main__":
    main()
