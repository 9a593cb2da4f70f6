"""Fixtures for the batch tests: a loopback HTTPS media server, a resolver the test controls,
and the state store on SQLite or a private MariaDB database.
"""

from __future__ import annotations

import os
import ssl
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from scf_worker.app import Services, get_services, reset_services
from scf_worker.batch import Importer, ResolvingUrlGuard, load_batch_settings
from scf_worker.batch.fetch import HttpsFetcher
from scf_worker.observability import logging as obs_logging
from scf_worker.runtime.config import load_settings

from .batch_support import (
    MARIADB,
    MEDIA_HOST,
    MediaServer,
    OffsetClock,
    Resolver,
    _MediaServer,
    require_mariadb,
)


@pytest.fixture(scope="session")
def tls_ca() -> Any:
    import trustme

    return trustme.CA()


@pytest.fixture
def media_server(tls_ca: Any, tmp_path: Path) -> Iterator[MediaServer]:
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls_ca.issue_cert(MEDIA_HOST, "127.0.0.1", "localhost").configure_cert(server_context)
    client_context = ssl.create_default_context()
    tls_ca.configure_trust(client_context)
    ca_file = tmp_path / "test-ca.pem"
    tls_ca.cert_pem.write_to_path(str(ca_file))

    server = _MediaServer(server_context)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield MediaServer(server, client_context, ca_file)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def resolver(media_server: MediaServer) -> Resolver:
    return Resolver({MEDIA_HOST: ["127.0.0.1"]})


@pytest.fixture(params=["sqlite", "mariadb"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """SQLite by default; a fresh MariaDB database when the test uses the ``backend`` fixture."""
    backend = request.getfixturevalue("backend") if "backend" in request.fixturenames else "sqlite"
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'state.db'}"
        return
    require_mariadb()
    import pymysql

    name = f"scfw_batch_{uuid.uuid4().hex[:12]}"
    host, port = MARIADB
    admin = pymysql.connect(host=host, port=port, user="root", password="", autocommit=True)
    try:
        with admin.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        yield f"mysql://root@{host}:{port}/{name}"
    finally:
        reset_services()
        with admin.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        admin.close()


@pytest.fixture
def clock() -> OffsetClock:
    return OffsetClock()


@pytest.fixture
def batch_env(local_env: dict[str, str], state_url: str, monkeypatch: pytest.MonkeyPatch,
              tmp_path: Path) -> dict[str, str]:
    env = {
        "STATE_URL": state_url,
        # Each test gets a fresh database, so the functions may create their tables.
        "STATE_AUTO_MIGRATE": "true",
        "IMPORT_MAX_BYTES": "2048",
        "IMPORT_CHUNK_ROWS": "50",
        "IMPORT_ALLOW_LOOPBACK": "true",
        "LOG_LEVEL": "INFO",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    local_env.update(env)
    return local_env


@pytest.fixture
def batch_services(batch_env: dict[str, str], clock: OffsetClock) -> Iterator[Services]:
    settings = load_settings()
    obs_logging.configure(settings.log_level)
    reset_services(Services(settings, clock=clock))
    yield get_services()
    reset_services()


ImporterFactory = Callable[..., Importer]


@pytest.fixture
def make_importer(batch_services: Services, media_server: MediaServer,
                  resolver: Resolver) -> ImporterFactory:
    def build(allow_loopback: bool = True, **env: str) -> Importer:
        environ = {**os.environ, **env}
        batch = load_batch_settings(batch_services.settings, environ)
        guard = ResolvingUrlGuard(allow_loopback, resolver)
        fetcher = HttpsFetcher(guard, batch.max_source_bytes, 5, 10, batch.max_redirects,
                               ssl_context=media_server.client_context)
        return Importer(batch_services.settings, batch, batch_services.jobs, batch_services.store,
                        batch_services.scratch_root, batch_services.clock, guard=guard, fetcher=fetcher)

    return build
