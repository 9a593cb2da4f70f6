"""Gateway events, cron schedules, the COS watcher, ``event generate`` and ``invoke``."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from scf_worker.cli import main
from scf_worker.devstack.gateway import ApiGateway, Route, build_event, query_string
from scf_worker.devstack.watcher import CosSubscription, StoreWatcher
from scf_worker.runtime import cron
from scf_worker.runtime.events import kind_of, parse_cos_record, parse_http
from tests.deploy.conftest import REPO_ROOT


def test_query_string_lists_repeats_and_flags() -> None:
    assert query_string("tag=a&tag=b&flag&x=1") == {"tag": ["a", "b"], "flag": True, "x": "1"}


def test_gateway_event_parses_like_scf() -> None:
    event = build_event("POST", "/upload/sign?x=1", {"content-type": "application/json"}, b'{"a": 1}',
                        "127.0.0.1")

    request = parse_http(event)

    assert kind_of(event) == "http"
    assert request.method == "POST" and request.path == "/upload/sign"
    assert request.json() == {"a": 1} and request.query == {"x": "1"}
    assert event["headers"]["x-api-requestid"] == request.request_id


def test_gateway_event_base64_encodes_binary_bodies() -> None:
    event = build_event("POST", "/p", {"content-type": "application/octet-stream"}, b"\xff\x00", "127.0.0.1")

    assert event["isBase64Encoded"] is True
    assert parse_http(event).body == b"\xff\x00"


def test_gateway_answers_unknown_route_and_method_with_catalog_errors() -> None:
    gateway = ApiGateway([Route("POST", "/upload/sign", "media-sign", lambda event: {})])
    try:
        missing = gateway.dispatch("POST", "/nope", {}, b"", "127.0.0.1")
        wrong_method = gateway.dispatch("GET", "/upload/sign", {}, b"", "127.0.0.1")
    finally:
        gateway.stop()

    assert missing[0] == 404 and json.loads(missing[2])["message"] == "not_found"
    assert wrong_method[0] == 405 and json.loads(wrong_method[2])["message"] == "method_not_allowed"


def test_gateway_maps_a_crash_to_502_without_internal_text() -> None:
    def crash(event: dict[str, Any]) -> Any:
        raise RuntimeError("internal detail")

    gateway = ApiGateway([Route("POST", "/x", "f", crash)])
    try:
        status, _, body = gateway.dispatch("POST", "/x", {}, b"", "127.0.0.1")
    finally:
        gateway.stop()

    assert status == 502 and b"internal detail" not in body


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


@pytest.mark.parametrize(("expression", "after", "expected"), [
    ("0 */1 * * * * *", "2024-01-01T10:00:30", "2024-01-01T10:01:00"),
    ("*/5 * * * * * *", "2024-01-01T10:00:03", "2024-01-01T10:00:05"),
    ("0 30 2 * * ? *", "2024-01-01T03:00:00", "2024-01-02T02:30:00"),
    ("0 0 12 ? * MON *", "2024-01-01T12:00:00", "2024-01-08T12:00:00"),
    ("0 0 0 L * ? *", "2024-02-10T00:00:00", "2024-02-29T00:00:00"),
    ("0 0 0 1 JAN ? 2025", "2024-06-01T00:00:00", "2025-01-01T00:00:00"),
])
def test_cron_next_fire(expression: str, after: str, expected: str) -> None:
    assert cron.next_fire(cron.parse(expression), at(after)) == at(expected)


def test_cron_never_fires_again_after_its_last_year() -> None:
    assert cron.next_fire(cron.parse("0 0 0 1 1 ? 2020"), at("2024-01-01T00:00:00")) is None


@pytest.mark.parametrize(("expression", "field"), [
    ("0 0 24 * * * *", "hour"), ("0 0 0 32 * * *", "day"), ("0 0 0 * 13 * *", "month"),
    ("0 0 0 * * 7 *", "week"), ("0 0 0 * * * 1969", "year"), ("? 0 0 * * * *", "second"),
    ("0 0 0 * *", "expression"), ("0 5-1 0 * * * *", "minute"),
])
def test_cron_parse_names_the_bad_field(expression: str, field: str) -> None:
    with pytest.raises(cron.CronError) as info:
        cron.parse(expression)
    assert info.value.field == field


def test_watcher_emits_one_event_per_stable_new_object(tmp_path: Path) -> None:
    events: list[dict[str, Any]] = []
    watcher = StoreWatcher(tmp_path, [CosSubscription("cos-callback", "media-1250000000", "uploads/", "",
                                                      events.append)], "ap-guangzhou")
    (tmp_path / "media-1250000000").mkdir()
    (tmp_path / "media-1250000000" / "old.mp4").write_bytes(b"before start")
    watcher._seen = watcher._snapshot()
    target = tmp_path / "media-1250000000" / "uploads" / "u1" / "a.mp4"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"data")
    (tmp_path / "media-1250000000" / "outputs").mkdir()
    (tmp_path / "media-1250000000" / "outputs" / "b.mp4").write_bytes(b"not watched")

    watcher.scan_once()
    assert events == []  # seen once: it may still be growing
    watcher.scan_once()
    watcher.scan_once()

    assert len(events) == 1
    record = parse_cos_record(events[0]["Records"][0])
    assert record.raw_key == "/1250000000/media/uploads/u1/a.mp4"
    assert record.size == 4 and record.etag == '"8d777f385d3dfec8815d20f7496026dc"'


@pytest.mark.parametrize("kind", ["apigw", "cos", "timer", "queue"])
def test_event_generate_prints_the_shape_scf_sends(kind: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["event", "generate", kind]) == 0

    event = json.loads(capsys.readouterr().out)

    assert kind_of(event) == {"apigw": "http", "cos": "cos", "timer": "timer", "queue": "queue"}[kind]


def test_invoke_runs_the_handler_with_an_event_file(local_env: dict[str, str], tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["event", "generate", "apigw", "--path", "/upload/sign"]) == 0
    event_file = tmp_path / "event.json"
    event_file.write_text(capsys.readouterr().out)

    code = main(["invoke", "media-sign", "--event", str(event_file), "--root", str(REPO_ROOT)])

    response = json.loads(capsys.readouterr().out)
    assert code == 0
    assert response["statusCode"] == 401 and json.loads(response["body"])["message"] == "unauthorized"


def test_invoke_names_invalid_configuration(local_env: dict[str, str], tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch, logs,  # type: ignore[no-untyped-def]
                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("WEBHOOK_ENDPOINTS", "[not json")
    event_file = tmp_path / "event.json"
    event_file.write_text(json.dumps({"event": "SCF_JOB_DONE", "jobId": "job-1"}))

    code = main(["invoke", "webhook-forward", "--event", str(event_file), "--root", str(REPO_ROOT)])

    assert code == 1
    assert "WEBHOOK_ENDPOINTS" in capsys.readouterr().err
    assert logs.events("config_invalid")[0]["variable"] == "WEBHOOK_ENDPOINTS"
    assert logs.events("invocation_end")[0]["code"] == "config_invalid"


def test_invoke_rejects_an_unreadable_event(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["invoke", "media-sign", "--event", str(tmp_path / "missing.json"), "--root", str(REPO_ROOT)])

    assert code == 2
    assert "cannot read the event" in capsys.readouterr().err


def test_dev_refuses_a_non_loopback_host() -> None:
    from scf_worker.devstack.stack import require_loopback

    with pytest.raises(ValueError, match="loopback"):
        require_loopback("0.0.0.0")  # noqa: S104
