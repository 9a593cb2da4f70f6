"""cos-callback (API Gateway and COS trigger): verify, record once, schedule work."""

from __future__ import annotations

import time
from typing import Any

from scf_worker.app import Services, get_services
from scf_worker.callbacks.recorder import SqlUploadRecorder, UploadRecorder
from scf_worker.callbacks.service import CallbackService
from scf_worker.observability import logging as obs_logging
from scf_worker.observability import metrics
from scf_worker.runtime.events import HttpRequest, kind_of
from scf_worker.runtime.invocation import (
    Invocation,
    bind_invocation,
    http_function,
    metrics_database,
    start_invocation,
    unsupported,
)
from scf_worker.state.redis import is_redis_url, open_redis

log = obs_logging.get_logger(__name__)
FUNCTION_NAME = "cos-callback"


def _recorder(services: Services) -> UploadRecorder:
    if is_redis_url(services.settings.state_url):
        from scf_worker.callbacks.redis_recorder import RedisUploadRecorder

        return RedisUploadRecorder(open_redis(services.settings.state_url), services.clock)
    return SqlUploadRecorder(services.jobs)


def callback_service(services: Services) -> CallbackService:
    """Return the instance's CallbackService, built on first use."""
    service: CallbackService | None = services.extensions.get("callback")
    if service is None:
        service = CallbackService(services.settings, _recorder(services), services.store,
                                  services.idempotency, services.clock)
        services.extensions["callback"] = service
    return service


def _http(services: Services, request: HttpRequest, invocation: Invocation) -> Any:
    services.settings.require("CALLBACK_SHARED_SECRET")
    service = callback_service(services)
    result = service.handle_http(request, service.budget(invocation))
    metrics.note(objectKey=result.get("key") or "",
                 duplicates=int(result.get("status") == "duplicate"))
    return result


_http_handler = http_function(FUNCTION_NAME, "POST /cos/callback", _http)


def main_handler(event: Any, context: Any) -> dict[str, Any]:
    kind = kind_of(event)
    if kind != "cos":
        # The HTTP entry answers non-HTTP shapes with unsupported_event as well.
        return _http_handler(event, context)

    invocation = start_invocation(FUNCTION_NAME, context)
    bind_invocation(FUNCTION_NAME, "cos:ObjectCreated", invocation, event)
    code = "ok"
    services = None
    results: list[dict[str, Any]] = []
    try:
        services = get_services()
        service = callback_service(services)
        # A record that cannot finish now raises, so SCF retries the event; finished
        # records replay their stored outcome on the retry.
        results = service.handle_cos_event(event, service.budget(invocation), invocation.request_id)
        return {"code": 0, "message": "ok", "requestId": invocation.request_id, "results": results}
    except Exception as exc:
        code = type(exc).__name__
        log.exception("cos_event_failed")
        raise
    finally:
        duration_ms = (time.monotonic() - invocation.started_monotonic) * 1000
        log.info("invocation_end", code=code, coldStart=invocation.cold_start,
                 durationMs=int(duration_ms))
        keys = [r["key"] for r in results if r.get("key")]
        metrics.emit(metrics.InvocationRecord(
            function=FUNCTION_NAME, trigger="cos", outcome="ok" if code == "ok" else "error",
            code=code, duration_ms=duration_ms, cold_start=invocation.cold_start,
            duplicates=sum(r["status"] == "duplicate" for r in results),
            request_id=invocation.request_id, object_key=keys[0] if len(keys) == 1 else "",
        ), db=metrics_database(services))


__all__ = ["main_handler", "unsupported"]
