"""Fixtures for the transcode tests: generated hard inputs, probers and a scheduled job on the local stack.

Probe tests run once with ffprobe and once with the PyAV fallback. A missing
prober skips its case with a reason when ``CI`` is unset and fails it under
``CI=true``. ``TEST_WITHOUT_FFPROBE=1`` declares a run meant to go without
ffprobe, as on a fresh machine. Its ffprobe cases skip, and fail if an ffprobe
is found after all, so the run cannot pass on ffprobe by accident.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import pytest

from scf_worker.demo.hard_inputs import generate
from scf_worker.jobs.model import STATUS_SCHEDULED, TYPE_TRANSCODE, Job, Resource
from scf_worker.transcode.binaries import find_ffmpeg, find_ffprobe

BUCKET = "media-1250000000"
WITHOUT_FFPROBE = "TEST_WITHOUT_FFPROBE"


def _missing(reason: str) -> NoReturn:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} and CI=true requires it")
    pytest.skip(reason)


def found_ffprobe() -> str | None:
    """Return the ffprobe that the pipeline finds when FFPROBE_BINARY is unset, or None."""
    return find_ffprobe(None, find_ffmpeg())


@pytest.fixture
def ffprobe() -> str:
    """Return the path of the ffprobe that the pipeline finds; skip or fail when there is none."""
    found = found_ffprobe()
    if os.environ.get(WITHOUT_FFPROBE):
        if found:
            pytest.fail(f"{WITHOUT_FFPROBE} is set but ffprobe was found at {found}; take it off PATH")
        pytest.skip(f"{WITHOUT_FFPROBE} is set: this run checks the PyAV fallback only")
    if found is None:
        _missing("no ffprobe on PATH, beside ffmpeg or under /opt")
    return found


@pytest.fixture
def pyav() -> None:
    """Require PyAV, the prober used when there is no ffprobe."""
    if importlib.util.find_spec("av") is None:
        _missing("PyAV is not installed (pip install 'scf-worker[media]')")


@pytest.fixture(params=["ffprobe", "pyav"])
def prober(request: pytest.FixtureRequest) -> str | None:
    """Return the ``ffprobe`` argument of probe(): a binary path, or None for the PyAV fallback."""
    if request.param == "pyav":
        request.getfixturevalue("pyav")
        return None
    path: str = request.getfixturevalue("ffprobe")
    return path


@pytest.fixture(scope="session")
def probers() -> list[str | None]:
    """Return every prober this machine has, ffprobe then PyAV (None), for checks cheap enough to repeat."""
    available: list[str | None] = []
    found = found_ffprobe()
    if found:
        available.append(found)
    if importlib.util.find_spec("av") is not None:
        available.append(None)
    if not available:
        _missing("neither ffprobe nor PyAV is available to probe with")
    return available


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
