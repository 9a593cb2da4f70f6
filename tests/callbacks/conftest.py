from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from callback_helpers import Harness

from backends import BACKENDS, Backend, backend
from scf_worker.app import reset_services


def _harness(chosen: Backend, local_env: dict[str, str],
             monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    monkeypatch.setenv("STATE_URL", chosen.state_url)
    local_env = {**local_env, "STATE_URL": chosen.state_url}
    reset_services()
    try:
        yield Harness(chosen, local_env)
    finally:
        reset_services()


@pytest.fixture(params=BACKENDS)
def harness(request: pytest.FixtureRequest, tmp_path: Path, local_env: dict[str, str],
            monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    """cos-callback on each store in turn: SQLite, MariaDB, Redis."""
    with backend(request.param, tmp_path) as chosen:
        yield from _harness(chosen, local_env, monkeypatch)


@pytest.fixture
def sqlite_harness(tmp_path: Path, local_env: dict[str, str],
                   monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    with backend("sqlite", tmp_path) as chosen:
        yield from _harness(chosen, local_env, monkeypatch)
