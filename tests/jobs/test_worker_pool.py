from __future__ import annotations

from typing import Any

import pytest

from scf_worker.jobs.worker import run_pool


def test_pool_drains_queue_then_stops(services: Any) -> None:
    with services.db.transaction() as tx:
        for index in range(5):
            # Payloads the transcode function rejects at once: each dead-letters on its first attempt.
            services.jobs.enqueue(tx, "transcode", {"jobId": index})

    stats = run_pool(services, workers=3, max_wait_seconds=1)

    assert stats.processed == 5
    assert stats.dead == 5
    assert stats.by_topic == {"transcode": 5}
    assert services.queue.lease(["transcode"], 1) is None


def test_pool_with_empty_queue_returns(services: Any) -> None:
    stats = run_pool(services, workers=2, max_wait_seconds=1)

    assert stats.processed == 0


def test_pool_rejects_zero_workers(services: Any) -> None:
    with pytest.raises(ValueError):
        run_pool(services, workers=0)
