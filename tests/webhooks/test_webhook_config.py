"""Webhook settings: endpoints, secrets and the guard's allow-list are checked at cold start."""

from __future__ import annotations

import json

import pytest

from scf_worker.runtime.config import load_settings
from scf_worker.runtime.errors import ConfigError
from scf_worker.webhooks.signing import generate_secret


def settings_with(**env: str):  # type: ignore[no-untyped-def]
    return load_settings({"WORKER_HOME": "/tmp/scf-worker-config-test", **env})


def test_defaults() -> None:
    settings = settings_with()

    assert settings.webhook_max_payload_bytes == 256 * 1024
    assert settings.webhook_allow_loopback is False
    assert settings.webhook_breaker_failures == 5
    assert settings.webhook_disable_after_seconds == 72 * 3600


def test_bad_secret_names_variable_without_value() -> None:
    endpoints = json.dumps([{"url": "https://hooks.example.com/x", "secret": "whsec_c2hvcnQ="}])

    with pytest.raises(ConfigError) as caught:
        settings_with(WEBHOOK_ENDPOINTS=endpoints)

    assert caught.value.variable == "WEBHOOK_ENDPOINTS[0].secret[0]"
    assert "c2hvcnQ" not in str(caught.value)


def test_unknown_event_name_rejected() -> None:
    endpoints = json.dumps([{"url": "https://hooks.example.com/x", "secret": generate_secret(),
                             "events": ["SCF_JOB_FINISHED"]}])

    with pytest.raises(ConfigError) as caught:
        settings_with(WEBHOOK_ENDPOINTS=endpoints)

    assert caught.value.variable == "WEBHOOK_ENDPOINTS[0].events"


def test_relative_url_rejected() -> None:
    endpoints = json.dumps([{"url": "hooks.example.com/x", "secret": generate_secret()}])

    with pytest.raises(ConfigError) as caught:
        settings_with(WEBHOOK_ENDPOINTS=endpoints)

    assert caught.value.variable == "WEBHOOK_ENDPOINTS[0].url"


def test_allow_cidrs_accepts_private_only() -> None:
    assert settings_with(WEBHOOK_ALLOW_CIDRS="10.1.0.0/16, 172.20.0.0/16").webhook_allow_cidrs == (
        "10.1.0.0/16", "172.20.0.0/16")
    with pytest.raises(ConfigError) as caught:
        settings_with(WEBHOOK_ALLOW_CIDRS="169.254.0.0/16")

    assert caught.value.variable == "WEBHOOK_ALLOW_CIDRS"


def test_payload_cap_range() -> None:
    assert settings_with(WEBHOOK_MAX_PAYLOAD_BYTES="4096").webhook_max_payload_bytes == 4096
    with pytest.raises(ConfigError):
        settings_with(WEBHOOK_MAX_PAYLOAD_BYTES="10")


@pytest.mark.parametrize(("entry", "variable"), [
    ({"url": "https://hooks.example.com:99999/x"}, "WEBHOOK_ENDPOINTS[0].url"),
    ({"url": "https://hooks.example.com:0/x"}, "WEBHOOK_ENDPOINTS[0].url"),
    ({"url": "ftp://hooks.example.com/x"}, "WEBHOOK_ENDPOINTS[0].url"),
    ({"url": "https:///x"}, "WEBHOOK_ENDPOINTS[0].url"),
    ({"url": "https://hooks.example.com/x#part"}, "WEBHOOK_ENDPOINTS[0].url"),
    ({"url": "http://[::1/x"}, "WEBHOOK_ENDPOINTS[0].url"),
    ({"url": "https://hooks.example.com/x", "event": ["SCF_JOB_DONE"]}, "WEBHOOK_ENDPOINTS[0].event"),
])
def test_bad_endpoint_entry_rejected(entry: dict[str, object], variable: str) -> None:
    endpoints = json.dumps([{"secret": generate_secret(), **entry}])

    with pytest.raises(ConfigError) as caught:
        settings_with(WEBHOOK_ENDPOINTS=endpoints)

    assert caught.value.variable == variable


@pytest.mark.parametrize("second", ["https://hooks.example.com/x", "HTTPS://Hooks.Example.com/x",
                                    "https://hooks.example.com:443/x"])
def test_duplicate_endpoint_target_rejected(second: str) -> None:
    entries = [{"url": "https://hooks.example.com/x", "secret": generate_secret()},
               {"url": second, "secret": generate_secret()}]

    with pytest.raises(ConfigError) as caught:
        settings_with(WEBHOOK_ENDPOINTS=json.dumps(entries))

    assert caught.value.variable == "WEBHOOK_ENDPOINTS[1].url"
