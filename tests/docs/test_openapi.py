"""docs/openapi.yaml stays in step with scf/*/config.json and the code, and the dev stack keeps to it."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
import yaml

from scf_worker.callbacks.notices import _FIELD_TYPES
from scf_worker.deploy.manifest import discover
from scf_worker.handlers import cos_callback, media_sign
from scf_worker.runtime import samples
from scf_worker.runtime.errors import CATALOG
from scf_worker.uploads.validation import DEFAULT_MIME_TYPES
from scf_worker.webhooks.signing import decode_secret, signature_headers
from tests.deploy.conftest import REPO_ROOT

SPEC_PATH = REPO_ROOT / "docs" / "openapi.yaml"


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))
    return loaded


def schema_of(spec: dict[str, Any], name: str) -> Any:
    return jsonschema_rs.validator_for({"$ref": f"#/components/schemas/{name}",
                                        "components": spec["components"]})


def operation(spec: dict[str, Any], path: str) -> dict[str, Any]:
    op: dict[str, Any] = spec["paths"][path]["post"]
    return op


def test_openapi_is_version_3_1(spec: dict[str, Any]) -> None:
    assert spec["openapi"].startswith("3.1")


def test_every_http_route_is_documented_and_nothing_else(spec: dict[str, Any]) -> None:
    routes = {(str(t.raw["method"]).lower(), str(t.raw["path"]), m.name)
              for m in discover(REPO_ROOT) for t in m.triggers_of("apigw")}
    documented = {(method, path, op["x-scf-function"])
                  for path, item in spec["paths"].items() for method, op in item.items()}
    assert documented == routes


def test_error_schema_lists_the_catalog(spec: dict[str, Any]) -> None:
    error = spec["components"]["schemas"]["ErrorResponse"]["properties"]
    assert error["message"]["enum"] == list(CATALOG)
    assert error["code"]["enum"] == [e.code for e in CATALOG.values()]
    statuses = {str(e.status) for e in CATALOG.values()}
    for item in spec["paths"].values():
        for op in item.values():
            assert set(op["responses"]) - {"200"} <= statuses


def test_request_schemas_match_the_validators(spec: dict[str, Any]) -> None:
    sign = spec["components"]["schemas"]["UploadSignRequest"]
    assert sign["properties"]["mime"]["enum"] == list(DEFAULT_MIME_TYPES)
    assert sign["required"] == ["filename", "mime", "size"]
    callback = spec["components"]["schemas"]["CosCallbackRequest"]
    assert callback["required"] == list(_FIELD_TYPES)


def test_real_responses_match_the_documented_schemas(spec: dict[str, Any], local_env: dict[str, str]) -> None:
    import jwt

    token = jwt.encode({"sub": "u1", "exp": int(time.time()) + 60}, local_env["AUTH_JWT_SECRET"],
                       algorithm="HS256")
    body = json.dumps({"filename": "a.mp4", "mime": "video/mp4", "size": 10})
    signed = media_sign.main_handler(samples.apigw_event("POST", "/upload/sign", body,
                                                         {"authorization": f"Bearer {token}"}),
                                     samples.context("media-sign"))
    unauthorized = media_sign.main_handler(samples.apigw_event("POST", "/upload/sign", body),
                                           samples.context("media-sign"))
    payload = json.dumps({"objectKey": "uploads/u1/a.mp4", "etag": "0" * 32, "bucket": "media-1250000000",
                          "size": 10, "mime": "video/mp4"}).encode()
    headers = signature_headers([decode_secret(local_env["CALLBACK_SHARED_SECRET"])], "msg_x",
                                int(time.time()), payload)
    recorded = cos_callback.main_handler(
        samples.apigw_event("POST", "/cos/callback", payload, {k.lower(): v for k, v in headers.items()}),
        samples.context("cos-callback"))

    schema_of(spec, "UploadSignResponse").validate(json.loads(signed["body"]))
    schema_of(spec, "ErrorResponse").validate(json.loads(unauthorized["body"]))
    schema_of(spec, "CosCallbackResponse").validate(json.loads(recorded["body"]))


@pytest.fixture
def dev_stack(tmp_path: Path) -> Iterator[dict[str, Any]]:
    from scf_worker.devstack import DevStack

    stack = DevStack(REPO_ROOT, tmp_path / "dev", poll_seconds=0.2, timers=False)
    info = stack.start()
    try:
        yield info
    finally:
        stack.stop()


@pytest.mark.slow
def test_schemathesis_finds_no_5xx_and_no_schema_violation(dev_stack: dict[str, Any]) -> None:
    import requests
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import response_schema_conformance

    schema = schemathesis.openapi.from_path(str(SPEC_PATH))
    base_url = dev_stack["gateway"]
    callback_key = decode_secret(dev_stack["callbackSecret"])
    session = requests.Session()
    checked: dict[str, int] = {}

    for result in schema.get_all_operations():
        op = result.ok()

        @settings(max_examples=40, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=op.as_strategy())
        def exercise(case: Any) -> None:
            kwargs = case.as_transport_kwargs(base_url=base_url)
            body = json.dumps(kwargs.pop("json", None)).encode()
            headers = {**(kwargs.pop("headers", None) or {}), "Content-Type": "application/json"}
            if case.operation.path == "/cos/callback":
                headers.update(signature_headers([callback_key], "msg_st", int(time.time()), body))
            else:
                headers["Authorization"] = f"Bearer {dev_stack['devToken']}"
            response = session.request(kwargs["method"], kwargs["url"], data=body, headers=headers,
                                       timeout=30)
            checked[case.operation.path] = checked.get(case.operation.path, 0) + 1
            case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])

        exercise()

    assert set(checked) == {"/upload/sign", "/cos/callback", "/batch/import"}
