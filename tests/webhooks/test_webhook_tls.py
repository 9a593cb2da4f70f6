"""HTTPS delivery: the client connects to the checked address and verifies the certificate by name."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from webhook_support import FakeClock, Receiver, Stack, reference_verify, sample_event

from scf_worker.handlers.webhook_forward import EXTENSION_KEY
from scf_worker.retry.policy import TransientError
from scf_worker.webhooks.forwarder import Forwarder

HOST = "hooks.example.test"


def make_certificate(directory: Path, name: str) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", f"/CN={name}", "-addext", f"subjectAltName=DNS:{name}",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


def tls_receiver(receivers: Callable[..., Receiver], tmp_path: Path, name: str) -> tuple[Receiver, Path]:
    cert, key = make_certificate(tmp_path, name)
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert, key)
    return receivers(tls=server_context), cert


def https_stack(make_stack: Callable[..., Stack], clock: FakeClock, port: int, cafile: Path) -> Stack:
    async def resolve(host: str, port: int) -> list[str]:
        return ["127.0.0.1"] if host == HOST else []

    stack = make_stack([f"https://{HOST}:{port}/hook"], {"WEBHOOK_ALLOW_LOOPBACK": "true"})
    client_context = ssl.create_default_context(cafile=str(cafile))
    forwarder = Forwarder(stack.services.settings, stack.services.db, stack.services.idempotency, clock,
                          resolve, client_context)
    stack.services.extensions[EXTENSION_KEY] = forwarder
    return Stack(stack.services, forwarder, stack.secret)


def test_https_delivery_to_checked_address(make_stack: Callable[..., Stack], receivers, clock: FakeClock,
                                           tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    receiver, cert = tls_receiver(receivers, tmp_path, HOST)
    stack = https_stack(make_stack, clock, receiver.port, cert)

    assert stack.forwarder.forward(sample_event())["delivered"] == 1

    assert len(receiver.requests) == 1
    assert receiver.requests[0].headers["host"] == f"{HOST}:{receiver.port}"
    reference_verify(stack.secret, receiver.requests[0], receiver.requests[0].received_at)


def test_https_certificate_checked_by_name(make_stack: Callable[..., Stack], receivers, clock: FakeClock,
                                           tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    receiver, cert = tls_receiver(receivers, tmp_path, "other.example.test")
    stack = https_stack(make_stack, clock, receiver.port, cert)

    with pytest.raises(TransientError) as caught:
        stack.forwarder.forward(sample_event())

    assert caught.value.code == "tls_error"
    assert receiver.requests == []
