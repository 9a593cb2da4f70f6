"""Shared fixtures: an isolated local stack per test, and real-server availability.

A test that needs MariaDB, Redis or RabbitMQ skips with a reason only when the
server is absent and ``CI`` is unset; under ``CI=true`` it fails instead.
"""

from __future__ import annotations

import io
import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from scf_worker.app import get_services, reset_services
from scf_worker.observability import logging as obs_logging
from scf_worker.webhooks.signing import generate_secret

SERVERS = {"mariadb": ("127.0.0.1", 3306), "redis": ("127.0.0.1", 6379),
           "rabbitmq": ("127.0.0.1", 5672)}


def server_up(name: str) -> bool:
    host, port = SERVERS[name]
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def require_server(name: str) -> None:
    """Skip when the server is down outside CI; fail under CI=true."""
    if server_up(name):
        return
    if os.environ.get("CI"):
        pytest.fail(f"{name} is not reachable at {SERVERS[name]} and CI=true requires it")
    pytest.skip(f"{name} is not running on {SERVERS[name]}")


class LogCapture:
    """Every JSON log line written by the package during a test."""

    def __init__(self, stream: io.StringIO) -> None:
        self.stream = stream

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    def lines(self) -> list[dict]:
        return [json.loads(line) for line in self.text.splitlines() if line.strip()]

    def events(self, name: str) -> list[dict]:
        return [line for line in self.lines() if line.get("event") == name]


@pytest.fixture
def logs() -> Iterator[LogCapture]:
    import logging

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(obs_logging.JsonFormatter())
    logger = logging.getLogger(obs_logging.LOGGER_NAME)
    logger.addHandler(handler)
    try:
        yield LogCapture(stream)
    finally:
        logger.removeHandler(handler)


@pytest.fixture
def local_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """Configure the embedded defaults in a temp dir; return the variables that were set."""
    env = {
        "WORKER_HOME": str(tmp_path / "home"),
        "STATE_URL": f"sqlite:///{tmp_path / 'state.db'}",
        "STORAGE_URL": f"file://{tmp_path / 'cos'}",
        "COS_BUCKET": "media-1250000000",
        "COS_REGION": "ap-guangzhou",
        "AUTH_JWT_SECRET": "test-jwt-secret-" + "x" * 24,
        "CALLBACK_SHARED_SECRET": generate_secret(),
        "WEBHOOK_ALLOW_LOOPBACK": "true",
        "RETRY_BASE_MS": "10",
        "LOG_LEVEL": "DEBUG",
    }
    for name in ("WEBHOOK_ENDPOINTS", "STS_SECRET_ID", "STS_SECRET_KEY", "AUTH_MODE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    reset_services()
    yield env
    reset_services()


@pytest.fixture
def services(local_env: dict[str, str]):  # type: ignore[no-untyped-def]
    return get_services()
