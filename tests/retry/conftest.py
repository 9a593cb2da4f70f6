"""Fixtures for the retry, queue and dead-letter tests: real servers under random names.

Every MariaDB database and RabbitMQ queue a test creates carries a random
suffix and is dropped afterwards, because other suites use the same servers.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from retry_support import (
    MARIADB,
    RABBITMQ,
    TOPIC,
    TRANSPORTS,
    Stack,
    build_stack,
    create_database,
    delete_amqp_prefix,
    drop_database,
    random_name,
    require,
)

from scf_worker.app import reset_services


@pytest.fixture(scope="session")
def mariadb_database() -> Iterator[str]:
    """One random database per test process, dropped at the end of the session."""
    require("MariaDB", MARIADB)
    name = random_name("scf_i5")
    create_database(name)
    try:
        yield name
    finally:
        drop_database(name)


@pytest.fixture
def mariadb_url(mariadb_database: str) -> str:
    """The session's database, emptied before the test (faster than a new database each time)."""
    import pymysql

    conn = pymysql.connect(host=MARIADB[0], port=MARIADB[1], user="root", password="",
                           database=mariadb_database, connect_timeout=5)
    try:
        with conn.cursor() as cursor:
            cursor.execute("SHOW TABLES")
            for (table,) in cursor.fetchall():
                cursor.execute(f"DROP TABLE `{table}`")
        conn.commit()
    finally:
        conn.close()
    return f"mysql://root@{MARIADB[0]}:{MARIADB[1]}/{mariadb_database}"


@pytest.fixture
def amqp_prefix() -> Iterator[str]:
    require("RabbitMQ", RABBITMQ)
    prefix = random_name("scf-i5")
    try:
        yield prefix
    finally:
        delete_amqp_prefix(prefix, (TOPIC, "webhook-forward", "transcode", "other"))


@pytest.fixture(params=TRANSPORTS)
def stack(request: pytest.FixtureRequest, tmp_path: Path,
          monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    built = build_stack(request.param, tmp_path, monkeypatch, request)
    yield built
    reset_services()
