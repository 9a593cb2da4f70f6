"""Entry points that turn a capability call into an SCF ``main_handler``.

Each entry binds the log context for one invocation (cleared on the next),
times it, maps outcomes to the HTTP catalog or to per-message results, and
logs one ``invocation_end`` line with ``durationMs`` and ``code``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from scf_worker.app import Services, get_services
from scf_worker.observability import logging as obs_logging
from scf_worker.observability import metrics
from scf_worker.runtime import responses
from scf_worker.runtime.errors import ApiError, ConfigError
from scf_worker.runtime.events import HttpRequest, kind_of, parse_http
from scf_worker.runtime.ids import uuid4_text
from scf_worker.state.errors import StateError

log = obs_logging.get_logger(__name__)
DEFAULT_TIME_LIMIT_MS = 3000
MAX_TIME_LIMIT_MS = 86_400_000
_cold = {"start": True}


@dataclass(frozen=True)
class Invocation:
    """Facts about the current invocation taken from SCF's ``context`` dict."""

    request_id: str
    function_name: str
    time_limit_ms: int
    started_monotonic: float
    cold_start: bool

    def remaining_ms(self) -> int:
        elapsed_ms = (time.monotonic() - self.started_monotonic) * 1000
        return max(0, int(self.time_limit_ms - elapsed_ms))

    def deadline(self, margin_ms: int) -> float:
        """Return the monotonic time by which work must stop to leave ``margin_ms`` spare."""
        return self.started_monotonic + max(0, self.time_limit_ms - margin_ms) / 1000


def start_invocation(function_name: str, context: Any) -> Invocation:
    ctx = context if isinstance(context, Mapping) else {}
    cold = _cold["start"]
    _cold["start"] = False
    try:
        time_limit_ms = int(ctx.get("time_limit_in_ms") or DEFAULT_TIME_LIMIT_MS)
    except (TypeError, ValueError, OverflowError):
        time_limit_ms = DEFAULT_TIME_LIMIT_MS
    # SCF allows at most 24 h with async execution; anything outside 1 ms to 24 h is not a real limit.
    if not 1 <= time_limit_ms <= MAX_TIME_LIMIT_MS:
        time_limit_ms = DEFAULT_TIME_LIMIT_MS
    request_id = ctx.get("request_id")
    return Invocation(
        request_id=request_id if isinstance(request_id, str) and request_id else uuid4_text(),
        function_name=str(ctx.get("function_name") or function_name),
        time_limit_ms=time_limit_ms,
        started_monotonic=time.monotonic(),
        cold_start=cold,
    )


def bind_invocation(function_name: str, route: str, invocation: Invocation, event: Any) -> None:
    """Reset the log context for a new invocation, sample DEBUG lines and log the event summary."""
    obs_logging.clear()
    obs_logging.bind(requestId=invocation.request_id, route=route, function=function_name)
    try:
        settings = get_services().settings
    except ConfigError:
        return
    obs_logging.sample_debug(settings.log_debug_sample_rate)
    if settings.log_events:
        log.info("event_received", **obs_logging.event_summary(event))


def end_invocation(function_name: str, trigger: str, invocation: Invocation, code: str,
                   services: Services | None = None, **record: Any) -> None:
    """Log ``invocation_end`` and emit the metrics record of a timer or direct invocation."""
    duration_ms = (time.monotonic() - invocation.started_monotonic) * 1000
    log.info("invocation_end", code=code, coldStart=invocation.cold_start, durationMs=int(duration_ms))
    # A payload no retry can fix is returned, not raised, so it counts as a final failure.
    if code == "ok":
        outcome = "ok"
    elif code in ("unsupported_event", "invalid_params"):
        outcome = "dead"
    else:
        outcome = "error"
    metrics.emit(metrics.InvocationRecord(
        function=function_name, trigger=trigger, outcome=outcome, code=code, duration_ms=duration_ms,
        cold_start=invocation.cold_start, request_id=invocation.request_id, **record,
    ), db=metrics_database(services))


def metrics_database(services: Services | None) -> Any:
    """Return the state database for metrics, or None when it cannot be opened."""
    try:
        if services is None:
            services = get_services()
        return services.db
    except Exception:  # noqa: BLE001 (the invocation already answered; metrics go to the log only)
        return None


def _services_or_error() -> Services:
    try:
        return get_services()
    except ConfigError as exc:
        obs_logging.configure()
        log.error("config_invalid", variable=exc.variable, error=str(exc))
        raise ApiError("internal_error") from None


HttpHandler = Callable[[Services, HttpRequest, Invocation], Any]


def http_function(
    function_name: str, route: str, handle: HttpHandler
) -> Callable[[Any, Any], dict[str, Any]]:
    """Build a main_handler for an API Gateway function."""

    def main_handler(event: Any, context: Any) -> dict[str, Any]:
        invocation = start_invocation(function_name, context)
        bind_invocation(function_name, route, invocation, event)
        with metrics.collecting() as notes:
            response, services = _serve(event, invocation)
            body_code = response["statusCode"]
            key = json.loads(response["body"])["message"]
            duration_ms = (time.monotonic() - invocation.started_monotonic) * 1000
            log.info("invocation_end", code=key, status=body_code, coldStart=invocation.cold_start,
                     durationMs=int(duration_ms))
            record = metrics.InvocationRecord(
                function=function_name, trigger="http", outcome="ok" if body_code < 400 else "error",
                code=key, duration_ms=duration_ms, cold_start=invocation.cold_start,
                request_id=json.loads(response["body"]).get("requestId") or "",
            )
            metrics.emit(record, dict(notes), metrics_database(services))
        return response

    def _serve(event: Any, invocation: Invocation) -> tuple[dict[str, Any], Services | None]:
        request_id: str | None = invocation.request_id
        services: Services | None = None
        try:
            services = _services_or_error()
            if kind_of(event) != "http":
                raise ApiError("unsupported_event", f"{function_name} takes API Gateway events")
            request = parse_http(event)
            request_id = request.request_id or invocation.request_id
            obs_logging.bind(requestId=request_id)
            return responses.ok(handle(services, request, invocation), request_id), services
        except ApiError as exc:
            return responses.error(exc, request_id), services
        except StateError as exc:
            log.error("state_unavailable", errorClass=type(exc).__name__, error=str(exc)[:300])
            return responses.error(ApiError("unavailable"), request_id), services
        except Exception:
            log.exception("unhandled_error")
            return responses.error(ApiError("internal_error"), request_id), services

    return main_handler


def unsupported(function_name: str, invocation: Invocation, kind: str) -> dict[str, Any]:
    """Return the unsupported_event result for an event shape the function does not take."""
    entry = ApiError("unsupported_event").entry
    log.error("unsupported_event", kind=kind, function=function_name)
    return {"code": entry.code, "message": entry.key, "requestId": invocation.request_id}
