"""``scf-worker webhooks``: list, add, test, deliveries, enable, disable, remove."""

from __future__ import annotations

import json
import logging
import stat
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import standardwebhooks
from webhook_support import KNOWN_SECRETS, Receiver, Reply, sample_event

from scf_worker.app import get_services, reset_services
from scf_worker.cli import main
from scf_worker.handlers.webhook_forward import forwarder_for
from scf_worker.observability.logging import LOGGER_NAME
from scf_worker.observability.logging import configure as configure_logging
from scf_worker.retry.policy import PermanentError
from scf_worker.webhooks.endpoints import endpoint_id_for
from scf_worker.webhooks.signing import generate_secret


@pytest.fixture
def cli(local_env: dict[str, str], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> Iterator[Callable[..., tuple[int, str, str]]]:
    """Run the command in-process; return (exit code, stdout, stderr)."""
    monkeypatch.setenv("LANG", "en_US.UTF-8")
    # As in the real command, log lines go to stderr so stdout holds only the output.
    configure_logging(stream=sys.stderr)

    def run(*argv: str) -> tuple[int, str, str]:
        code = main(["webhooks", *argv])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    yield run
    logger = logging.getLogger(LOGGER_NAME)
    for handler in [h for h in logger.handlers if getattr(h, "_scf_worker", False)]:
        logger.removeHandler(handler)
    reset_services()


def configure(monkeypatch: pytest.MonkeyPatch, url: str, secret: str) -> None:
    KNOWN_SECRETS.append(secret)
    monkeypatch.setenv("WEBHOOK_ENDPOINTS", json.dumps([{"url": url, "secret": secret}]))
    reset_services()


def test_list_shows_endpoint_without_secret(cli, monkeypatch, receiver: Receiver) -> None:  # type: ignore[no-untyped-def]
    secret = generate_secret()
    configure(monkeypatch, receiver.url("/hook?token=abc123"), secret)

    code, out, _ = cli("list")

    assert code == 0
    assert endpoint_id_for(receiver.url("/hook?token=abc123")) in out
    assert "/hook?…" in out
    assert "abc123" not in out
    assert secret not in out


def test_list_json(cli, monkeypatch, receiver: Receiver) -> None:  # type: ignore[no-untyped-def]
    configure(monkeypatch, receiver.url(), generate_secret())

    code, out, _ = cli("list", "--json")

    rows = json.loads(out)
    assert code == 0
    assert rows[0]["status"] == "enabled"
    assert rows[0]["circuit"] == "closed"
    assert rows[0]["source"] == "env"


def test_test_sends_signed_event(cli, monkeypatch, receiver: Receiver) -> None:  # type: ignore[no-untyped-def]
    secret = generate_secret()
    configure(monkeypatch, receiver.url(), secret)

    code, out, _ = cli("test", endpoint_id_for(receiver.url()))

    assert code == 0
    assert "delivered" in out
    payload = standardwebhooks.Webhook(secret).verify(receiver.requests[0].body, receiver.requests[0].headers)
    assert payload["event"] == "SCF_WEBHOOK_TEST"


def test_test_reports_blocked(cli, monkeypatch, receiver: Receiver) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("WEBHOOK_ALLOW_LOOPBACK", "false")
    url = f"https://127.0.0.1:{receiver.port}/hook"
    configure(monkeypatch, url, generate_secret())

    code, out, _ = cli("test", url, "--json")

    assert code == 1
    assert json.loads(out)["outcome"] == "blocked"
    assert receiver.requests == []


def test_unknown_endpoint(cli, monkeypatch, receiver: Receiver) -> None:  # type: ignore[no-untyped-def]
    configure(monkeypatch, receiver.url(), generate_secret())

    code, _, err = cli("enable", "ep_missing")

    assert code == 2
    assert "ep_missing" in err


def test_gone_endpoint_reenabled_by_cli(cli, monkeypatch, receiver: Receiver) -> None:  # type: ignore[no-untyped-def]
    configure(monkeypatch, receiver.url(), generate_secret())
    receiver.script = [Reply(410)]
    forwarder = forwarder_for(get_services())
    with pytest.raises(PermanentError):
        forwarder.forward(sample_event("job-1"))

    _, listed, _ = cli("list", "--json")
    assert json.loads(listed)[0]["status"] == "disabled"
    assert json.loads(listed)[0]["reason"] == "http_410"

    code, out, _ = cli("enable", receiver.url())
    assert code == 0
    assert "Enabled" in out
    assert forwarder_for(get_services()).forward(sample_event("job-2"))["delivered"] == 1


def test_disable_stops_delivery(cli, monkeypatch, receiver: Receiver) -> None:  # type: ignore[no-untyped-def]
    configure(monkeypatch, receiver.url(), generate_secret())

    code, _, _ = cli("disable", receiver.url(), "--reason", "maintenance")
    assert code == 0
    with pytest.raises(PermanentError) as caught:
        forwarder_for(get_services()).forward(sample_event())

    assert caught.value.code == "endpoint_disabled"
    assert receiver.requests == []


def test_deliveries_lists_attempts(cli, monkeypatch, receiver: Receiver) -> None:  # type: ignore[no-untyped-def]
    configure(monkeypatch, receiver.url(), generate_secret())
    receiver.script = [Reply(500)]
    forwarder = forwarder_for(get_services())
    with pytest.raises(Exception):  # noqa: B017 (a TransientError; the rows are what is checked)
        forwarder.forward(sample_event())
    forwarder.forward(sample_event())

    code, out, _ = cli("deliveries", "--endpoint", receiver.url(), "--json")

    rows = json.loads(out)
    assert code == 0
    assert [row["outcome"] for row in rows] == ["delivered", "failed"]
    assert [row["attempt"] for row in rows] == [2, 1]


def test_add_generates_secret_file(cli, tmp_path: Path, receiver: Receiver) -> None:  # type: ignore[no-untyped-def]
    secret_file = tmp_path / "hook.secret"

    code, out, _ = cli("add", receiver.url(), "--secret-file", str(secret_file), "--generate",
                       "--events", "SCF_JOB_DONE")

    secret = secret_file.read_text().strip()
    KNOWN_SECRETS.append(secret)
    assert code == 0
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    assert secret.startswith("whsec_")
    assert secret not in out
    _, listed, _ = cli("list", "--json")
    rows = json.loads(listed)
    assert [(row["source"], row["events"]) for row in rows] == [("table", ["SCF_JOB_DONE"])]

    assert forwarder_for(get_services()).forward(sample_event())["delivered"] == 1
    standardwebhooks.Webhook(secret).verify(receiver.requests[0].body, receiver.requests[0].headers)

    code, _, _ = cli("remove", receiver.url())
    assert code == 0
    _, listed, _ = cli("list", "--json")
    assert json.loads(listed) == []


def test_add_requires_existing_secret_file(cli, tmp_path: Path, receiver: Receiver) -> None:  # type: ignore[no-untyped-def]
    code, _, err = cli("add", receiver.url(), "--secret-file", str(tmp_path / "missing"))

    assert code == 2
    assert "--generate" in err


def test_remove_refuses_env_endpoint(cli, monkeypatch, receiver: Receiver) -> None:  # type: ignore[no-untyped-def]
    configure(monkeypatch, receiver.url(), generate_secret())

    code, _, err = cli("remove", receiver.url())

    assert code == 2
    assert "WEBHOOK_ENDPOINTS" in err


@pytest.mark.parametrize("url", ["ftp://hooks.example.com/x", "https://127.0.0.1:99999/x"])
def test_add_rejects_invalid_url(cli, tmp_path: Path, url: str) -> None:  # type: ignore[no-untyped-def]
    code, _, err = cli("add", url, "--secret-file", str(tmp_path / "hook.secret"), "--generate")

    assert code == 2
    assert "invalid endpoint URL" in err
    _, listed, _ = cli("list", "--json")
    assert json.loads(listed) == []


def test_add_hides_secret_given_as_file(cli) -> None:  # type: ignore[no-untyped-def]
    secret = generate_secret()

    code, out, err = cli("add", "https://hooks.example.com/x", "--secret-file", secret)

    assert code == 2
    assert secret not in out + err
    assert "not the secret itself" in err
