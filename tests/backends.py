"""Real state stores for tests: a temp SQLite file, a throwaway MariaDB database, a Redis prefix.

Each MariaDB database is named ``scf_i4_<random>`` and dropped afterwards; each
Redis run uses its own key prefix on the shared server and deletes only its
own keys. Nothing here stops, restarts or flushes a shared server.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

BACKENDS = ("sqlite", "mariadb", "redis")
# The same addresses as the root conftest. That module cannot be imported from here, because
# every test folder's conftest.py is also named "conftest".
SERVERS = {"mariadb": ("127.0.0.1", 3306), "redis": ("127.0.0.1", 6379)}


def require_server(name: str) -> None:
    """Skip when the server is down outside CI; fail under CI=true."""
    try:
        with socket.create_connection(SERVERS[name], timeout=1):
            return
    except OSError:
        pass
    if os.environ.get("CI"):
        pytest.fail(f"{name} is not reachable at {SERVERS[name]} and CI=true requires it")
    pytest.skip(f"{name} is not running on {SERVERS[name]}")


class Clock:
    """A settable clock for leases and expiry; tests move it instead of sleeping."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@contextmanager
def mariadb_database() -> Iterator[str]:
    """Create a private database on the shared MariaDB; yield its URL; drop it afterwards."""
    import pymysql

    require_server("mariadb")
    host, port = SERVERS["mariadb"]
    name = "scf_i4_" + secrets.token_hex(6)
    admin = pymysql.connect(host=host, port=port, user="root", autocommit=True)
    try:
        with admin.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
        yield f"mysql://root@{host}:{port}/{name}"
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {name}")
        admin.close()


@contextmanager
def redis_prefix() -> Iterator[str]:
    """Yield a redis:// URL with a private key prefix; delete that prefix's keys afterwards."""
    import redis

    require_server("redis")
    host, port = SERVERS["redis"]
    prefix = "scf-i4-" + secrets.token_hex(6) + ":"
    yield f"redis://{host}:{port}/0?prefix={prefix}"
    client = redis.Redis(host=host, port=port)
    try:
        keys = list(client.scan_iter(match=prefix + "*", count=1000))
        for start in range(0, len(keys), 500):
            client.delete(*keys[start:start + 500])
    finally:
        client.close()


@dataclass(frozen=True)
class Backend:
    """One store under test: its name and the STATE_URL that selects it."""

    name: str
    state_url: str

    @property
    def is_redis(self) -> bool:
        return self.name == "redis"


@contextmanager
def backend(name: str, tmp_path: Path) -> Iterator[Backend]:
    if name == "sqlite":
        yield Backend(name, f"sqlite:///{tmp_path / 'state.db'}")
    elif name == "mariadb":
        with mariadb_database() as url:
            from scf_worker.state.sql import open_database

            open_database(url).close()
            yield Backend(name, url)
    else:
        with redis_prefix() as url:
            yield Backend(name, url)
