"""media-import (timer, API Gateway or direct): import manifests of media into the bucket.

- Timer: resume running imports and start new manifests found under
  IMPORT_MANIFEST_PREFIX, until the invocation's time is nearly up. A timer
  ``Message`` of ``{"manifest": "<key>"}`` works on that manifest only.
- Direct (async) invocation: ``{"manifest": "<key>", "rerun": false}``.
- API Gateway ``POST /batch/import``: register a manifest for the timer to
  run. The body is JSON naming an object key, or the CSV / JSON lines manifest
  itself. ``GET /batch/import?importId=...`` returns an import's progress.
  Both need a caller listed in IMPORT_ADMIN_USERS.
"""

from __future__ import annotations

import json
from typing import Any

from scf_worker.app import Services, get_services
from scf_worker.batch import ImportBusy, Importer, ManifestError, ManifestRef, MonotonicDeadline
from scf_worker.batch.wiring import batch_settings, importer_for
from scf_worker.handlers.media_sign import upload_settings
from scf_worker.observability import logging as obs_logging
from scf_worker.runtime.errors import ApiError
from scf_worker.runtime.events import HttpRequest, kind_of, parse_timer
from scf_worker.runtime.invocation import (
    Invocation,
    bind_invocation,
    end_invocation,
    http_function,
    start_invocation,
    unsupported,
)
from scf_worker.storage.base import check_key
from scf_worker.storage.errors import InvalidObjectKey
from scf_worker.uploads.auth import authenticate

log = obs_logging.get_logger(__name__)
FUNCTION_NAME = "media-import"
ROUTE = "/batch/import"
POSTED_FORMATS = {"text/csv": "csv", "application/x-ndjson": "jsonl", "application/jsonl": "jsonl",
                  "application/x-jsonlines": "jsonl"}


# API Gateway


def _http(services: Services, request: HttpRequest, invocation: Invocation) -> Any:
    settings = services.settings
    batch = batch_settings(services)
    user_id = authenticate(request, upload_settings(services), settings.auth_jwt_secret)
    if user_id not in batch.admin_users:
        raise ApiError("forbidden", "imports are open only to the users in IMPORT_ADMIN_USERS")
    importer = importer_for(services)
    if request.method == "GET":
        return _status(importer, request)
    if request.method != "POST":
        raise ApiError("method_not_allowed", "use POST to start an import or GET for its progress")
    if len(request.body) > batch.max_manifest_bytes:
        raise ApiError("payload_too_large", f"the manifest is over {batch.max_manifest_bytes} bytes")

    ref, rerun = _manifest_of(importer, request)
    try:
        record, rows = importer.register(ref, rerun=rerun)
    except ManifestError as exc:
        raise ApiError("invalid_params", str(exc)) from None
    except ImportBusy as exc:
        raise ApiError("in_progress", str(exc)) from None
    log.info("import_requested", importId=record.import_id, userId=user_id, manifest=ref.url, rows=rows)
    return {"importId": record.import_id, "manifest": ref.url, "status": record.status,
            "pass": record.pass_number, "totalRows": rows, "nextRow": record.next_row,
            "report": ref.report_url}


def _manifest_of(importer: Importer, request: HttpRequest) -> tuple[ManifestRef, bool]:
    content_type = (request.header("content-type") or "").split(";", 1)[0].strip().lower()
    if content_type in POSTED_FORMATS:
        if not request.body.strip():
            raise ApiError("missing_params", "the request body is empty")
        return importer.store_posted(request.body, POSTED_FORMATS[content_type]), False
    body = request.json()
    if not isinstance(body, dict) or not isinstance(body.get("manifest"), str):
        raise ApiError("missing_params", 'send {"manifest": "<object key>"}, or the manifest itself'
                                         " as text/csv or application/x-ndjson")
    rerun = body.get("rerun", False)
    if not isinstance(rerun, bool):
        raise ApiError("invalid_params", "rerun must be true or false")
    return ManifestRef.stored(importer.bucket, _key(body["manifest"])), rerun


def _key(raw: str) -> str:
    try:
        return check_key(raw)
    except InvalidObjectKey as exc:
        raise ApiError("invalid_key", str(exc)) from None


def _status(importer: Importer, request: HttpRequest) -> dict[str, Any]:
    import_id = request.query.get("importId")
    if not isinstance(import_id, str) or not import_id:
        raise ApiError("missing_params", "send ?importId=<id>")
    record = importer.ledger.get(import_id)
    if record is None:
        raise ApiError("not_found", f"no import {import_id}")
    return {"importId": record.import_id, "manifest": record.manifest_url, "status": record.status,
            "pass": record.pass_number, "totalRows": record.total_rows, "nextRow": record.next_row,
            "totals": importer.ledger.totals(record.import_id, record.pass_number), "error": record.error}


_http_handler = http_function(FUNCTION_NAME, ROUTE, _http)


# Timer and direct invocation


class InvalidPayload(ValueError):
    """A direct payload or timer message that no retry can fix."""


def _explicit_manifest(event: Any, kind: str) -> dict[str, Any] | None:
    """Return ``{"manifest", "rerun"}`` from a direct payload or a timer message, or None."""
    if kind == "timer":
        message = parse_timer(event).message.strip()
        if not message:
            return None
        try:
            event = json.loads(message)
        except json.JSONDecodeError:
            raise InvalidPayload('the timer message must be empty or {"manifest": "<key>"}') from None
    if not isinstance(event, dict) or not event:
        return None
    if not isinstance(event.get("manifest"), str) or not isinstance(event.get("rerun", False), bool):
        raise InvalidPayload('the payload must be {"manifest": "<object key>", "rerun": false}')
    try:
        check_key(event["manifest"])
    except InvalidObjectKey as exc:
        raise InvalidPayload(f"manifest: {exc}") from None
    return event


def _run(services: Services, event: Any, kind: str, invocation: Invocation) -> list[dict[str, Any]]:
    importer = importer_for(services)
    margin_ms = min(importer.batch.row_margin_ms, invocation.time_limit_ms // 2)
    deadline = MonotonicDeadline(invocation.deadline(margin_ms))
    explicit = _explicit_manifest(event, kind)
    if explicit is None:
        summaries = importer.run_pending(deadline, request_id=invocation.request_id)
        return [summary.as_json() for summary in summaries]

    ref = ManifestRef.stored(importer.bucket, explicit["manifest"])
    try:
        summary = importer.run(ref, deadline, rerun=explicit.get("rerun", False),
                               request_id=invocation.request_id)
    except ImportBusy as exc:
        log.info("import_busy", manifest=ref.url, reason=str(exc))
        return [{"manifest": ref.url, "status": "busy", "error": str(exc)}]
    return [summary.as_json()]


def main_handler(event: Any, context: Any) -> dict[str, Any]:
    kind = kind_of(event)
    if kind == "http":
        return _http_handler(event, context)

    invocation = start_invocation(FUNCTION_NAME, context)
    bind_invocation(FUNCTION_NAME, kind, invocation, event)
    code = "ok"
    try:
        if kind not in ("timer", "direct"):
            code = "unsupported_event"
            return unsupported(FUNCTION_NAME, invocation, kind)
        imports = _run(get_services(), event, kind, invocation)
        return {"code": 0, "message": "ok", "requestId": invocation.request_id, "imports": imports}
    except InvalidPayload as exc:
        # Returned, not raised: SCF would retry the same payload, which cannot succeed.
        code = "invalid_params"
        log.error("invalid_payload", error=str(exc))
        entry = ApiError("invalid_params").entry
        return {"code": entry.code, "message": entry.key, "detail": str(exc),
                "requestId": invocation.request_id}
    except Exception as exc:
        # Raising makes SCF count the invocation as failed; the checkpoint and lease
        # let the next tick resume.
        code = type(exc).__name__
        log.exception("import_invocation_failed")
        raise
    finally:
        end_invocation(FUNCTION_NAME, kind, invocation, code)

