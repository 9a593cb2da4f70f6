"""reconcile (timer or direct): record lost uploads and push stuck transcode jobs.

Each run writes one ``reconcile_finished`` log line with the counts and one
``reconcile_summary`` metric line on the ``scf_worker.metrics`` logger: flat
JSON whose numeric fields CLS can chart and alarm on (``orphans`` above zero
means COS events were lost). A direct invocation with ``{"dryRun": true}``
only reports what it would do.
"""

from __future__ import annotations

from typing import Any

from scf_worker.app import Services, get_services
from scf_worker.batch import MonotonicDeadline
from scf_worker.batch.wiring import reconciler_for
from scf_worker.observability import logging as obs_logging
from scf_worker.runtime.events import kind_of
from scf_worker.runtime.invocation import (
    Invocation,
    bind_invocation,
    end_invocation,
    start_invocation,
    unsupported,
)

log = obs_logging.get_logger(__name__)
metrics_log = obs_logging.get_logger("scf_worker.metrics")
FUNCTION_NAME = "reconcile"
# Time kept back from the invocation limit for the summary and the metric line.
FINISH_MARGIN_MS = 10_000


def _run(services: Services, event: Any, kind: str, invocation: Invocation) -> dict[str, Any]:
    dry_run = kind == "direct" and isinstance(event, dict) and event.get("dryRun") is True
    margin_ms = min(FINISH_MARGIN_MS, invocation.time_limit_ms // 2)
    summary = reconciler_for(services).run(dry_run=dry_run,
                                           deadline=MonotonicDeadline(invocation.deadline(margin_ms)),
                                           request_id=invocation.request_id)
    counts: dict[str, Any] = summary.counts()
    metrics_log.info("reconcile_summary", metricFunction=FUNCTION_NAME, **counts)
    return summary.as_json()


def main_handler(event: Any, context: Any) -> dict[str, Any]:
    invocation = start_invocation(FUNCTION_NAME, context)
    bind_invocation(FUNCTION_NAME, "timer", invocation, event)
    kind = kind_of(event)
    code = "ok"
    try:
        if kind not in ("timer", "direct"):
            code = "unsupported_event"
            return unsupported(FUNCTION_NAME, invocation, kind)
        result = _run(get_services(), event, kind, invocation)
        return {"code": 0, "message": "ok", "requestId": invocation.request_id, "result": result}
    except Exception as exc:
        code = type(exc).__name__
        log.exception("reconcile_failed")
        raise
    finally:
        end_invocation(FUNCTION_NAME, kind, invocation, code)

