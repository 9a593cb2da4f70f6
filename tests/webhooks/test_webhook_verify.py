"""The public receiver helper ``scf_worker.webhooks.verify`` and the package surface."""

from __future__ import annotations

import time
from datetime import datetime, timezone

import pytest
import standardwebhooks

import scf_worker.webhooks as webhooks
from scf_worker.webhooks import InvalidSecret, VerificationError, generate_secret, verify
from scf_worker.webhooks.signing import decode_secret, signature_headers

BODY = '{"event":"SCF_JOB_DONE","jobId":"j1","note":"转码完成"}'.encode()


def signed(secret: str, timestamp: int, msg_id: str = "msg_1") -> dict[str, str]:
    return signature_headers([decode_secret(secret)], msg_id, timestamp, BODY)


def test_verify_returns_id_timestamp_payload() -> None:
    secret = generate_secret()
    now = time.time()

    verified = verify(signed(secret, int(now)), BODY, secret, now=now)

    assert verified.id == "msg_1"
    assert verified.timestamp == int(now)
    assert verified.payload["note"] == "转码完成"


def test_verify_headers_any_case() -> None:
    secret = generate_secret()
    headers = {name.upper(): value for name, value in signed(secret, 1_000).items()}

    assert verify(headers, BODY, secret, now=1_000).id == "msg_1"


def test_verify_accepts_rotated_secret() -> None:
    old, new = generate_secret(), generate_secret()

    assert verify(signed(old, 1_000), BODY, [new, old], now=1_000).id == "msg_1"


def test_verify_accepts_reference_signature() -> None:
    secret = generate_secret()
    signature = standardwebhooks.Webhook(secret).sign(
        "msg_ref", datetime.fromtimestamp(5_000, tz=timezone.utc), BODY)
    headers = {"webhook-id": "msg_ref", "webhook-timestamp": "5000", "webhook-signature": signature}

    assert verify(headers, BODY, secret, now=5_000).id == "msg_ref"


@pytest.mark.parametrize(("change", "message"), [
    ({"webhook-timestamp": "1400"}, "tolerance"),
    ({"webhook-timestamp": "abc"}, "Unix timestamp"),
    ({"webhook-signature": "v1,not-base64!"}, "well-formed"),
    ({"webhook-signature": "v2,AAAA"}, "well-formed"),
    ({"webhook-id": ""}, "missing"),
    ({"webhook-id": "msg_2"}, "no signature matched"),
])
def test_verify_rejects(change: dict[str, str], message: str) -> None:
    secret = generate_secret()
    headers = {**signed(secret, 1_000), **change}

    with pytest.raises(VerificationError, match=message):
        verify(headers, BODY, secret, now=1_000)


def test_verify_rejects_changed_body() -> None:
    secret = generate_secret()

    with pytest.raises(VerificationError):
        verify(signed(secret, 1_000), BODY + b" ", secret, now=1_000)


def test_verify_stale_and_future_timestamps() -> None:
    secret = generate_secret()

    for now in (1_000 + 301, 1_000 - 301):
        with pytest.raises(VerificationError, match="tolerance"):
            verify(signed(secret, 1_000), BODY, secret, now=now)


def test_verify_bad_secret_is_config_error() -> None:
    with pytest.raises(InvalidSecret) as caught:
        verify(signed(generate_secret(), 1_000), BODY, "whsec_%%%", now=1_000)

    assert "%%%" not in str(caught.value)


def test_public_names_match_all() -> None:
    public = {name for name in dir(webhooks) if not name.startswith("_")}
    modules = {"client", "deliveries", "delivery", "endpoints", "errors", "forwarder", "guard",
               "health", "loop", "receiver", "signing", "transport"}

    assert set(webhooks.__all__) == public - modules
    assert all(hasattr(webhooks, name) for name in webhooks.__all__)


def test_import_does_not_load_the_http_parser() -> None:
    import subprocess
    import sys

    code = "import sys, scf_worker.webhooks; print('httptools' in sys.modules, 'aiohttp' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)

    assert result.stdout.strip() == "False False"
