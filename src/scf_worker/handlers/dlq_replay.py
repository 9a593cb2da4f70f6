"""dlq-replay (timer): replay dead letters whose last failure was transient, within a budget.

Each tick replays at most ``DLQ_REPLAY_BUDGET`` entries, at most
``DLQ_REPLAY_RATE`` per second, and stops leasing new work a margin before the
invocation's time limit. Permanent failures wait for an operator
(``scf-worker dlq replay``), because running them again unchanged would fail again.
"""

from __future__ import annotations

from typing import Any

from scf_worker.app import get_services
from scf_worker.observability import logging as obs_logging
from scf_worker.retry.deadletter import DeadLetterQuery
from scf_worker.retry.replay import Replayer, ReplayOptions
from scf_worker.runtime.events import kind_of
from scf_worker.runtime.invocation import bind_invocation, end_invocation, start_invocation, unsupported

FUNCTION_NAME = "dlq-replay"
log = obs_logging.get_logger(__name__)
# Time kept back from the invocation limit so the last replayed attempt can finish.
STOP_MARGIN_MS = 30_000


def main_handler(event: Any, context: Any) -> dict[str, Any]:
    invocation = start_invocation(FUNCTION_NAME, context)
    bind_invocation(FUNCTION_NAME, FUNCTION_NAME, invocation, event)
    kind = kind_of(event)
    code = "ok"
    try:
        if kind not in ("timer", "direct"):
            code = "unsupported_event"
            return unsupported(FUNCTION_NAME, invocation, kind)
        services = get_services()
        settings = services.settings
        margin_ms = min(STOP_MARGIN_MS, invocation.time_limit_ms // 2)
        options = ReplayOptions(
            query=DeadLetterQuery(transient_only=True, limit=settings.dlq_replay_budget),
            rate_per_second=settings.dlq_replay_rate,
            deadline_monotonic=invocation.deadline(margin_ms),
        )
        report = Replayer(services).run(options)
        return {"code": 0, "message": "ok", "requestId": invocation.request_id, **report.summary()}
    finally:
        end_invocation(FUNCTION_NAME, kind, invocation, code)

