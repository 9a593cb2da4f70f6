from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from backends import BACKENDS, Clock, backend
from scf_worker.idempotency.base import IdempotencyStore
from scf_worker.idempotency.factory import open_idempotency_store
from scf_worker.state.sql import Database, open_database


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path, clock: Clock) -> Iterator[IdempotencyStore]:
    """The same contract runs against every store, on the real servers."""
    with backend(request.param, tmp_path) as chosen:
        opened: list[Database] = []

        def database() -> Database:
            opened.append(open_database(chosen.state_url))
            return opened[-1]

        yield open_idempotency_store(chosen.state_url, database, clock, expiry_seconds=3600)
        for db in opened:
            db.close()
