"""Fixtures for the transcode tests: generated hard inputs and a scheduled job on the local stack."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from scf_worker.demo.hard_inputs import generate
from scf_worker.jobs.model import STATUS_SCHEDULED, TYPE_TRANSCODE, Job, Resource

BUCKET = "media-1250000000"


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """Return a function that generates a hard input once per test session and returns its path."""
    folder = tmp_path_factory.mktemp("media")
    made: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in made:
            made[name] = generate(name, folder)
        return made[name]

    return get


@pytest.fixture
def schedule(services: Any) -> Callable[..., Job]:
    """Upload a file and queue a transcode job for it, as cos-callback would."""

    def make(path: Path, params: dict[str, Any] | None = None, key: str | None = None,
             job_id: str = "job-1", enqueue: bool = True) -> Job:
        key = key or f"uploads/u1/{path.name}"
        services.store.upload(BUCKET, key, path, None)
        job = Job(job_id, TYPE_TRANSCODE, STATUS_SCHEDULED, Resource(BUCKET, key), params=params or {})
        with services.db.transaction() as tx:
            services.jobs.insert_job(tx, job)
            if enqueue:
                services.jobs.enqueue(tx, "transcode", {"jobId": job_id}, dedupe_key=job_id)
        return job

    return make
