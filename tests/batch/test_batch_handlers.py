"""The media-import function: API Gateway registration and status, timer ticks, direct payloads."""

from __future__ import annotations

import json
import time
from typing import Any

import jwt
import pytest

from scf_worker.app import Services
from scf_worker.handlers import media_import
from scf_worker.runtime import samples

from .batch_support import BUCKET, media_bytes

ADMIN = "cms-admin"


@pytest.fixture
def admin_env(batch_services: Services, monkeypatch: pytest.MonkeyPatch) -> Services:
    monkeypatch.setenv("IMPORT_ADMIN_USERS", f"{ADMIN}, ops-2")
    for index in range(3):
        batch_services.store.put_bytes(BUCKET, f"legacy/{index}.mp4",  # type: ignore[attr-defined]
                                       media_bytes("mp4", str(index)))
    return batch_services


def token(services: Services, user: str) -> str:
    secret = services.settings.auth_jwt_secret
    assert secret is not None
    return jwt.encode({"sub": user, "exp": int(time.time()) + 300}, secret, algorithm="HS256")


def call(services: Services, method: str, body: str | bytes = "", user: str | None = ADMIN,
         content_type: str = "application/json", query: dict[str, str] | None = None) -> tuple[int, Any]:
    headers = {"content-type": content_type}
    if user is not None:
        headers["authorization"] = f"Bearer {token(services, user)}"
    event = samples.apigw_event(method, "/batch/import", body, headers)
    event["queryString"] = query or {}
    response = media_import.main_handler(event, samples.context("media-import"))
    return response["statusCode"], json.loads(response["body"])


CSV = "source,key\nlegacy/0.mp4,uploads/imported/0.mp4\nlegacy/1.mp4,\n,missing\n"


def test_post_key_registers_and_timer_runs_it(admin_env: Services) -> None:
    admin_env.store.put_bytes(BUCKET, "batches/list.csv", CSV.encode())  # type: ignore[attr-defined]

    status, body = call(admin_env, "POST", json.dumps({"manifest": "batches/list.csv"}))
    tick = media_import.main_handler(samples.timer_event("import-manifests"),
                                     samples.context("media-import", 900_000))
    progress_status, progress = call(admin_env, "GET", query={"importId": body["data"]["importId"]})

    assert status == 200
    assert body["data"]["status"] == "running"
    assert body["data"]["totalRows"] == 3
    assert body["data"]["report"] == f"cos://{BUCKET}/batches/list.csv.report.jsonl"
    assert [item["status"] for item in tick["imports"]] == ["done"]
    assert tick["imports"][0]["totals"] == {"imported": 2, "rejected": 1}
    assert progress_status == 200
    assert progress["data"]["status"] == "done"
    assert progress["data"]["totals"] == {"imported": 2, "rejected": 1}
    assert admin_env.store.head(BUCKET, "batches/list.csv.report.jsonl") is not None


def test_posted_csv_runs_once(admin_env: Services) -> None:
    status, body = call(admin_env, "POST", CSV, content_type="text/csv; charset=utf-8")
    first = media_import.main_handler(samples.timer_event(), samples.context("media-import", 900_000))
    second = media_import.main_handler(samples.timer_event(), samples.context("media-import", 900_000))

    assert status == 200
    assert body["data"]["manifest"].startswith(f"cos://{BUCKET}/imports/manifests/posted/")
    assert body["data"]["manifest"].endswith(".csv")
    assert [item["importId"] for item in first["imports"]] == [body["data"]["importId"]]
    assert second["imports"] == []


def test_timer_message_names_one_manifest(admin_env: Services) -> None:
    store = admin_env.store
    store.put_bytes(BUCKET, "imports/manifests/other.csv", CSV.encode())  # type: ignore[attr-defined]
    store.put_bytes(BUCKET, "batches/only.jsonl", b'{"source": "legacy/2.mp4"}\n')  # type: ignore[attr-defined]

    tick = media_import.main_handler(samples.timer_event(message='{"manifest": "batches/only.jsonl"}'),
                                     samples.context("media-import", 900_000))

    assert [item["manifest"] for item in tick["imports"]] == [f"cos://{BUCKET}/batches/only.jsonl"]
    assert tick["imports"][0]["totals"] == {"imported": 1}


@pytest.mark.parametrize(("user", "status", "message"), [
    ("someone-else", 403, "forbidden"),
    (None, 401, "unauthorized"),
])
def test_http_needs_an_admin(admin_env: Services, user: str | None, status: int, message: str) -> None:
    got_status, body = call(admin_env, "POST", json.dumps({"manifest": "batches/list.csv"}), user=user)
    assert got_status == status
    assert body["message"] == message


@pytest.mark.parametrize(("body", "content_type", "status", "message"), [
    ("{}", "application/json", 400, "missing_params"),
    ('{"manifest": "../x.csv"}', "application/json", 400, "invalid_key"),
    ('{"manifest": "batches/absent.csv"}', "application/json", 400, "invalid_params"),
    ('{"manifest": "batches/list.csv", "rerun": "yes"}', "application/json", 400, "invalid_params"),
    ("source\n" + "legacy/0.mp4\n" * 200, "text/csv", 413, "payload_too_large"),
])
def test_http_rejects_bad_requests(admin_env: Services, monkeypatch: pytest.MonkeyPatch, body: str,
                                   content_type: str, status: int, message: str) -> None:
    monkeypatch.setenv("IMPORT_MAX_MANIFEST_BYTES", "1000")
    admin_env.store.put_bytes(BUCKET, "batches/list.csv", CSV.encode())  # type: ignore[attr-defined]

    got_status, got = call(admin_env, "POST", body, content_type=content_type)

    assert got_status == status
    assert got["message"] == message


def test_status_of_unknown_import_is_not_found(admin_env: Services) -> None:
    status, body = call(admin_env, "GET", query={"importId": "imp-nothing"})
    assert status == 404
    assert body["message"] == "not_found"


@pytest.mark.parametrize("payload", [{"manifest": 5}, {"manifest": "a/../b.csv"}, {"rerun": True}])
def test_bad_direct_payload_returns_error(admin_env: Services, payload: dict[str, Any]) -> None:
    response = media_import.main_handler(payload, samples.context("media-import"))
    assert response["message"] == "invalid_params"


def test_direct_payload_reruns_a_finished_import(admin_env: Services) -> None:
    admin_env.store.put_bytes(BUCKET, "batches/list.csv", CSV.encode())  # type: ignore[attr-defined]
    context = samples.context("media-import", 900_000)

    first = media_import.main_handler({"manifest": "batches/list.csv"}, context)
    again = media_import.main_handler({"manifest": "batches/list.csv", "rerun": True}, context)

    assert first["imports"][0]["thisRun"] == {"imported": 2, "rejected": 1}
    assert again["imports"][0]["pass"] == 2
    assert again["imports"][0]["thisRun"] == {"already_imported": 2, "rejected": 1}


def test_cos_event_is_unsupported(admin_env: Services) -> None:
    record = samples.cos_record(BUCKET, "uploads/a.mp4", 10, "abc")
    response = media_import.main_handler(samples.cos_event(record), samples.context("media-import"))
    assert response["message"] == "unsupported_event"
