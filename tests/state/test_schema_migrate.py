"""Schema check and migration on SQLite and MariaDB, and the cold-start check."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from backends import mariadb_database
from scf_worker.app import get_services, reset_services
from scf_worker.state.errors import SchemaMismatch
from scf_worker.state.schema import SQLITE_SCHEMA, mysql_schema, parse_ddl
from scf_worker.state.sql import Database, open_database


@pytest.fixture(params=["sqlite", "mariadb"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
    else:
        with mariadb_database() as url:
            yield url


def _fresh(url: str) -> Database:
    return open_database(url, migrate=False)


def test_parse_ddl_lists_every_table() -> None:
    for ddl in (SQLITE_SCHEMA, mysql_schema()):
        tables, indexes = parse_ddl(ddl)
        names = {t.name for t in tables}
        assert {"media_jobs", "jobs", "queue", "scf_dlq", "idempotency", "events"} <= names
        media_jobs = next(t for t in tables if t.name == "media_jobs")
        assert {"job_key", "object_key", "etag", "status", "reason"} <= {c for c, _ in media_jobs.columns}
        assert "media_jobs_object_key" in {i.name for i in indexes}


def test_empty_database_reports_missing(empty_url: str) -> None:
    db = _fresh(empty_url)

    problems = db.check_schema()

    assert "table media_jobs is missing" in problems
    with pytest.raises(SchemaMismatch) as caught:
        db.require_schema()
    assert "scf-worker db migrate" in str(caught.value)
    db.close()


def test_migrate_then_check_is_clean(empty_url: str) -> None:
    db = _fresh(empty_url)

    created = db.migrate()

    assert "created table media_jobs" in created
    assert db.check_schema() == []
    db.close()


def test_migrate_twice_changes_nothing(empty_url: str) -> None:
    _fresh(empty_url).migrate()

    assert _fresh(empty_url).migrate() == []


def test_migrate_adds_missing_column_and_index(empty_url: str) -> None:
    db = _fresh(empty_url)
    db.migrate()
    with db.transaction() as tx:
        tx.execute("DROP INDEX queue_ready" + (" ON queue" if db.dialect == "mysql" else ""))
        tx.execute("ALTER TABLE idempotency DROP COLUMN token")
    db.close()
    again = _fresh(empty_url)

    assert set(again.check_schema()) == {"column idempotency.token is missing",
                                         "index queue_ready on queue is missing"}
    assert set(again.migrate()) == {"added column idempotency.token", "created index queue_ready"}
    assert again.check_schema() == []
    again.close()


def test_cold_start_checks_server_schema(local_env: dict[str, str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    with mariadb_database() as url:
        monkeypatch.setenv("STATE_URL", url)
        reset_services()

        with pytest.raises(SchemaMismatch):
            get_services().db  # noqa: B018 (the property opens and checks the database)

        open_database(url).close()
        reset_services()
        assert get_services().db.check_schema() == []
        reset_services()


def test_cold_start_migrates_sqlite(local_env: dict[str, str]) -> None:
    assert get_services().db.check_schema() == []
