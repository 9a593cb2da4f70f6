"""Fixtures for the webhook tests: an injected clock, loopback receivers and a wired stack."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from webhook_support import KNOWN_SECRETS, FakeClock, Receiver, Stack, reference_signs

from scf_worker.app import Services, reset_services
from scf_worker.handlers.webhook_forward import EXTENSION_KEY
from scf_worker.runtime.config import load_settings
from scf_worker.webhooks.forwarder import Forwarder
from scf_worker.webhooks.signing import generate_secret


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def receivers(clock: FakeClock) -> Iterator[Callable[..., Receiver]]:
    started: list[Receiver] = []

    def start(host: str = "127.0.0.1", port: int = 0, tls: Any = None) -> Receiver:
        receiver = Receiver(clock, host, port, tls)
        started.append(receiver)
        return receiver

    yield start
    for receiver in started:
        receiver.close()
    unverified = [received.webhook_id for receiver in started for received in receiver.requests
                  if not any(reference_signs(secret, received) for secret in KNOWN_SECRETS)]
    assert unverified == [], "requests the standardwebhooks library does not verify"


@pytest.fixture(autouse=True)
def known_secrets() -> Iterator[list[str]]:
    KNOWN_SECRETS.clear()
    yield KNOWN_SECRETS
    KNOWN_SECRETS.clear()


@pytest.fixture
def receiver(receivers: Callable[..., Receiver]) -> Receiver:
    return receivers()


@pytest.fixture
def make_stack(local_env: dict[str, str], monkeypatch: pytest.MonkeyPatch,
               clock: FakeClock) -> Iterator[Callable[..., Stack]]:
    """Build the stack for endpoint URLs; ``env`` sets extra variables first."""

    def build(urls: list[str], env: dict[str, str] | None = None, secret: str | list[str] | None = None,
              resolver: Any = None, endpoint_extra: dict[str, Any] | None = None) -> Stack:
        secret = secret or generate_secret()
        KNOWN_SECRETS.extend([secret] if isinstance(secret, str) else secret)
        endpoints = [{"url": url, "secret": secret, **(endpoint_extra or {})} for url in urls]
        monkeypatch.setenv("WEBHOOK_ENDPOINTS", json.dumps(endpoints))
        for name, value in (env or {}).items():
            monkeypatch.setenv(name, value)
        services = Services(load_settings(), clock=clock)
        reset_services(services)
        forwarder = Forwarder(services.settings, services.db, services.idempotency, clock, resolver)
        services.extensions[EXTENSION_KEY] = forwarder
        return Stack(services, forwarder, secret if isinstance(secret, str) else secret[0])

    yield build
    reset_services()


