"""A worker killed with SIGKILL mid-job, 20 times in a row: every job still ends done exactly once.

Each job pauses once at one of three points (inside the run before its effect,
inside the effect's transaction before commit, after the commit and before the
ack) and the test kills the worker process there. The next worker runs with
its clock moved past the lease, as a real one would after waiting, so the SQL
leases and work claims of the dead worker have expired. The side-effect
counter is a plain ``effects = effects + 1``: only the work ledger keeps it at 1.
"""

from __future__ import annotations

import os
import selectors
import subprocess
import sys
import time
from pathlib import Path

import pytest
from retry_support import TOPIC, TRANSPORTS, build_stack, plan, row

KILLS = 20
PAUSE_POINTS = ("before_effect", "in_effect", "before_ack")
# Each worker generation's clock runs this far ahead of the previous one (past every lease).
GENERATION_SECONDS = 1000
LINE_TIMEOUT_SECONDS = 60


def start_worker(env: dict[str, str], generation: int) -> subprocess.Popen[str]:
    child_env = {**os.environ, **env, "PROBE_CLOCK_OFFSET": str(generation * GENERATION_SECONDS),
                 "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent),
                                                os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen([sys.executable, "-m", "retry_support"], env=child_env, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)


def read_signal(process: subprocess.Popen[str]) -> str:
    """Return the worker's next PAUSED or IDLE line, failing after a bounded wait."""
    assert process.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + LINE_TIMEOUT_SECONDS
    try:
        while time.monotonic() < deadline:
            if not selector.select(timeout=deadline - time.monotonic()):
                break
            line = process.stdout.readline()
            if not line:
                break
            if line.startswith(("PAUSED", "IDLE")):
                return line.strip()
    finally:
        selector.close()
    process.kill()
    pytest.fail(f"worker gave no PAUSED or IDLE line (exit code {process.poll()})")


@pytest.mark.parametrize("kind", TRANSPORTS)
def test_sigkill_mid_job_twenty_times(kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      request: pytest.FixtureRequest) -> None:
    stack = build_stack(kind, tmp_path, monkeypatch, request)
    jobs = [f"job-{n:02d}" for n in range(KILLS)]
    for n, job in enumerate(jobs):
        stack.services.queue.publish(TOPIC, plan(stack.db, job, pause_at=PAUSE_POINTS[n % 3]))

    killed_at: list[str] = []
    for generation in range(KILLS):
        worker = start_worker(stack.env, generation)
        signal = read_signal(worker)
        assert signal.startswith("PAUSED"), signal
        worker.kill()
        worker.wait(timeout=30)
        _, point, job = signal.split()
        killed_at.append(point)
        stack.db.execute("UPDATE probe_plan SET pause_at = NULL WHERE job_id = ?", (job,))

    final = start_worker(stack.env, KILLS)
    assert read_signal(final).startswith("IDLE")
    assert final.wait(timeout=30) == 0

    assert sorted(set(killed_at)) == sorted(PAUSE_POINTS)
    assert [row(stack.db, job)["effects"] for job in jobs] == [1] * KILLS
    assert all(row(stack.db, job)["runs"] >= 1 for job in jobs)
    assert all(stack.services.ledger.is_done(TOPIC, job) for job in jobs)
    assert stack.services.queue.backlog((TOPIC,)).ready == 0
