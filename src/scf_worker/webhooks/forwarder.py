"""webhook-forward: send one ``SCF_JOB_*`` event to every endpoint that wants it.

The steps, each visible in ``forward``:

1. check the event and the payload cap;
2. plan: skip disabled endpoints and open circuits, and claim each
   (event, endpoint) pair in the idempotency store, so a retry after a partial
   success re-sends only to the endpoints that failed;
3. send the planned messages concurrently on the background event loop;
4. record every attempt and its effect on endpoint health in one transaction, and
   settle the claims (in that transaction when they live in the same SQL database);
5. raise ``TransientError`` (retry) or ``PermanentError`` (dead letter) when an
   endpoint did not get the event.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from scf_worker.idempotency.base import IdempotencyStore, fingerprint
from scf_worker.idempotency.errors import AlreadyCompleted, AlreadyInProgress, IdempotencyConflict
from scf_worker.idempotency.sql import SqlIdempotencyStore
from scf_worker.jobs.model import EVENT_NAMES, iso_utc
from scf_worker.observability import metrics
from scf_worker.observability.logging import get_logger
from scf_worker.retry.policy import PermanentError, TransientError
from scf_worker.runtime.config import Settings
from scf_worker.runtime.ids import random_hex
from scf_worker.state.sql import Database, Transaction
from scf_worker.webhooks import delivery as outcomes
from scf_worker.webhooks.deliveries import DeliveryLog
from scf_worker.webhooks.delivery import Attempt, Message, body_of
from scf_worker.webhooks.endpoints import Endpoint, EndpointStore
from scf_worker.webhooks.guard import GuardPolicy, parse_networks
from scf_worker.webhooks.health import HALF_OPEN, OPEN, EndpointState, HealthPolicy, HealthStore
from scf_worker.webhooks.loop import LoopThread

if TYPE_CHECKING:
    import ssl

    from scf_worker.webhooks.client import HostResolver, WebhookClient

log = get_logger(__name__)
TEST_EVENT = "SCF_WEBHOOK_TEST"


def check_event(event: Any) -> dict[str, Any]:
    if not isinstance(event, dict) or event.get("event") not in EVENT_NAMES or not event.get("jobId"):
        raise PermanentError("invalid_event", "payload is not an SCF_JOB_* event with a jobId")
    return event


@dataclass
class _Plan:
    """The endpoints of one ``forward`` call, sorted by what happens to each."""

    to_send: list[tuple[Endpoint, Message]] = field(default_factory=list)
    skipped: list[Attempt] = field(default_factory=list)
    already_delivered: int = 0
    in_progress: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)


class Forwarder:
    """Delivers events to endpoints; one instance per function instance keeps the pool warm."""

    def __init__(self, settings: Settings, db: Database, idempotency: IdempotencyStore,
                 clock: Callable[[], float] = time.time, resolver: HostResolver | None = None,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self.settings = settings
        self.db = db
        self.idempotency = idempotency
        self.clock = clock
        self.endpoints = EndpointStore(db, clock)
        self.health = HealthStore(db, HealthPolicy(settings.webhook_breaker_failures,
                                                   settings.webhook_breaker_open_seconds,
                                                   settings.webhook_disable_after_seconds), clock)
        self.deliveries = DeliveryLog(db)
        self.policy = GuardPolicy(settings.webhook_allow_loopback,
                                  parse_networks(settings.webhook_allow_cidrs))
        self.resolver = resolver
        self.ssl_context = ssl_context
        self._loop = LoopThread()
        self._client: WebhookClient | None = None
        # The lease is longer than the wait for the sends (timeout + 5 s), so a live holder
        # keeps its claim while its request is in flight.
        self.claim_lease_seconds = max(60.0, 2 * settings.webhook_timeout_seconds)
        self._wait_seconds = settings.webhook_timeout_seconds + 5
        # Claims in the state database are settled in the transaction that records attempts.
        self._claims_in_state_db = isinstance(idempotency, SqlIdempotencyStore) and idempotency.db is db

    # Public API

    def forward(self, event: dict[str, Any]) -> dict[str, Any]:
        """Deliver an event; raise TransientError or PermanentError unless every endpoint got it."""
        check_event(event)
        body = self._checked_body(event)
        configured = self.endpoints.configured(self.settings)
        if not configured:
            # Consuming the event here would lose it; the dead-letter store keeps it for replay.
            raise PermanentError("no_endpoints", "no webhook endpoint is configured: set"
                                 " WEBHOOK_ENDPOINTS or add one with scf-worker webhooks add")
        endpoints = [e for e in configured if e.wants(event["event"])]
        if not endpoints:
            log.info("webhook_no_endpoint", event=event["event"])
            return {"delivered": 0, "skipped": 0, "endpoints": 0}

        plan = self._plan(event, body, endpoints)
        try:
            sent = self._send(plan.to_send)
        except TimeoutError:
            for _, message in plan.to_send:
                self.idempotency.release(message.webhook_id)
            raise TransientError("send_timeout", f"sending to {len(plan.to_send)} endpoints took longer"
                                 f" than {self._wait_seconds:.0f} s; the sends were cancelled") from None
        self._record(sent + plan.skipped, settle=sent)

        delivered = sum(attempt.delivered for attempt in sent)
        if plan.already_delivered:
            metrics.note(duplicates=plan.already_delivered)
        self._raise_unless_done(sent + plan.skipped, plan)
        return {"delivered": delivered, "skipped": plan.already_delivered, "endpoints": len(endpoints)}

    def send_test(self, endpoint: Endpoint) -> Attempt:
        """Send one signed ``SCF_WEBHOOK_TEST`` event and record the attempt; health is untouched."""
        event = {"schemaVersion": 1, "event": TEST_EVENT, "jobId": f"test-{random_hex(6)}",
                 "at": iso_utc(self.clock())}
        attempt = self._send([(endpoint, Message.for_event(event, endpoint.url))])[0]
        if attempt.outcome == outcomes.GONE:
            # A test leaves health alone, so the endpoint stays enabled. The detail states what
            # a real delivery would do instead.
            attempt = attempt.finish(outcomes.GONE, detail="receiver answered 410 Gone; a real delivery"
                                     " would disable the endpoint")
        with self.db.transaction() as tx:
            self.deliveries.record(tx, [attempt])
        return attempt

    def close(self) -> None:
        if self._client is not None:
            self._loop.run(self._client.close(), self._wait_seconds)
            self._client = None
        self._loop.stop()

    # Steps

    def _checked_body(self, event: dict[str, Any]) -> bytes:
        body = body_of(event)
        cap = self.settings.webhook_max_payload_bytes
        if len(body) > cap:
            raise PermanentError("payload_too_large",
                                 f"event {event['event']} for job {event['jobId']} is {len(body)} bytes;"
                                 f" WEBHOOK_MAX_PAYLOAD_BYTES allows {cap}. Put references (job id,"
                                 " output keys) in events, not content")
        return body

    def _plan(self, event: dict[str, Any], body: bytes, endpoints: Sequence[Endpoint]) -> _Plan:
        plan = _Plan()
        states = self.health.states(endpoint.id for endpoint in endpoints)
        now = self.clock()
        for endpoint in endpoints:
            message = Message.for_event(event, endpoint.url, body)
            state = states[endpoint.id]
            skipped = self._skip_reason(endpoint, message, state, now)
            if skipped is not None:
                plan.skipped.append(skipped)
                continue
            try:
                self.idempotency.claim(message.webhook_id, fingerprint(event), self.claim_lease_seconds)
            except AlreadyCompleted:
                plan.already_delivered += 1
                continue
            except AlreadyInProgress:
                plan.in_progress.append(endpoint.id)
                continue
            except IdempotencyConflict:
                plan.conflicts.append(endpoint.id)
                continue
            # A half-open circuit lets one probe through. The probe is taken only for a
            # message that will really be sent, so a duplicate cannot use it up.
            if state.circuit(now) == HALF_OPEN and not self.health.claim_probe(endpoint.id):
                self.idempotency.release(message.webhook_id)
                plan.skipped.append(self._circuit_open(endpoint, message, state, now))
                continue
            plan.to_send.append((endpoint, message))
        return plan

    def _skip_reason(self, endpoint: Endpoint, message: Message, state: EndpointState,
                     now: float) -> Attempt | None:
        """Return a skipped attempt when the endpoint is disabled or its circuit is open."""
        if not state.enabled:
            return Attempt.begin(endpoint.id, message, now).finish(
                outcomes.DISABLED, code="endpoint_disabled",
                detail=f"endpoint {endpoint.id} is disabled ({state.disabled_reason});"
                       f" run `scf-worker webhooks enable {endpoint.id}`")
        if state.circuit(now) == OPEN:
            return self._circuit_open(endpoint, message, state, now)
        return None

    def _circuit_open(self, endpoint: Endpoint, message: Message, state: EndpointState,
                      now: float) -> Attempt:
        until = state.circuit_open_until
        if until is None or until <= now:
            until = now + self.health.policy.open_seconds  # another instance has the probe
        return Attempt.begin(endpoint.id, message, now).finish(
            outcomes.CIRCUIT_OPEN, code="circuit_open", retry_after_ms=int((until - now) * 1000),
            detail=f"circuit of endpoint {endpoint.id} is open after"
                   f" {state.consecutive_failures} consecutive failures")

    def _send(self, jobs: list[tuple[Endpoint, Message]]) -> list[Attempt]:
        if not jobs:
            return []
        client = self._get_client()
        return self._loop.run(client.send_all(jobs), self._wait_seconds)

    def _get_client(self) -> WebhookClient:
        if self._client is None:
            from scf_worker.webhooks.client import WebhookClient

            self._client = WebhookClient(
                self.policy, self.settings.webhook_connect_timeout_seconds,
                self.settings.webhook_timeout_seconds, self.clock, self.resolver, self.ssl_context,
            )
        return self._client

    def _record(self, attempts: list[Attempt], settle: list[Attempt]) -> None:
        """Store attempts (not the skipped ones), move endpoint health and settle the sent claims.

        Claims kept in the same SQL database are settled in the same transaction, which
        saves a commit per endpoint and never leaves a settled claim without its attempt.
        """
        stored = [a for a in attempts if a.outcome not in (outcomes.DISABLED, outcomes.CIRCUIT_OPEN)]
        with self.db.transaction() as tx:
            self.deliveries.record(tx, stored)
            for attempt in stored:
                self._update_health(tx, attempt)
            if self._claims_in_state_db:
                self._settle_claims(settle, tx)
        if not self._claims_in_state_db:
            self._settle_claims(settle)
        for attempt in attempts:
            _log_attempt(attempt)

    def _update_health(self, tx: Any, attempt: Attempt) -> None:
        if attempt.outcome not in outcomes.SENT_OUTCOMES:
            return
        now = attempt.attempted_at
        if attempt.delivered:
            self.health.record_success(tx, attempt.endpoint_id, now)
            return
        effect = self.health.record_failure(tx, attempt.endpoint_id, now)
        if attempt.outcome == outcomes.GONE and self.health.disable(attempt.endpoint_id, "http_410", tx):
            _log_disabled(attempt.endpoint_id, "http_410")
        elif effect.disabled:
            _log_disabled(attempt.endpoint_id, "failing_too_long")
        if effect.opened:
            log.warning("webhook_circuit_opened", endpointId=attempt.endpoint_id,
                        failures=self.health.policy.breaker_failures,
                        openSeconds=self.health.policy.open_seconds)

    def _settle_claims(self, attempts: list[Attempt], tx: Transaction | None = None) -> None:
        """Complete the claims of delivered attempts and release the others (inside ``tx`` if given)."""
        complete, release = self.idempotency.complete, self.idempotency.release
        if tx is not None:
            assert isinstance(self.idempotency, SqlIdempotencyStore)
            complete = functools.partial(self.idempotency.complete, tx=tx)
            release = functools.partial(self.idempotency.release, tx=tx)
        for attempt in attempts:
            if attempt.delivered:
                complete(attempt.webhook_id, {"status": attempt.status})
            else:
                release(attempt.webhook_id)

    def _raise_unless_done(self, attempts: list[Attempt], plan: _Plan) -> None:
        failed = [a for a in attempts if not a.delivered]
        transient = [a for a in failed if a.retryable]
        permanent = [a for a in failed if not a.retryable]
        summary = "; ".join(f"{a.endpoint_id} {a.code or a.outcome}" for a in failed)
        if plan.in_progress:
            summary = "; ".join(filter(None, [summary, *(f"{e} in_progress" for e in plan.in_progress)]))
        if transient or plan.in_progress:
            hints = [a.retry_after_ms for a in transient if a.retry_after_ms is not None]
            if plan.in_progress:
                hints.append(int(self.claim_lease_seconds * 1000))
            code = transient[0].code if transient else "in_progress"
            raise TransientError(code or "delivery_failed", f"webhook delivery incomplete: {summary}",
                                 max(hints) if hints else None)
        if plan.conflicts:
            raise PermanentError("idempotency_conflict",
                                 "the same webhook-id was first sent with a different payload for"
                                 f" endpoints {', '.join(plan.conflicts)}")
        if permanent:
            raise PermanentError(permanent[0].code or permanent[0].outcome,
                                 f"webhook delivery failed: {summary}")


def _log_attempt(attempt: Attempt) -> None:
    fields: dict[str, Any] = {"webhookId": attempt.webhook_id, "endpointId": attempt.endpoint_id,
              "outcome": attempt.outcome, "status": attempt.status, "code": attempt.code,
              "latencyMs": attempt.latency_ms}
    if attempt.delivered:
        log.info("webhook_delivered", **fields)
    elif attempt.outcome == outcomes.BLOCKED:
        log.warning("webhook_blocked", **fields, error=attempt.detail)
    elif attempt.outcome in (outcomes.DISABLED, outcomes.CIRCUIT_OPEN):
        log.warning("webhook_skipped", **fields, error=attempt.detail)
    else:
        log.warning("webhook_attempt_failed", **fields, error=attempt.detail)


def _log_disabled(endpoint_id: str, reason: str) -> None:
    log.error("webhook_endpoint_disabled", endpointId=endpoint_id, reason=reason,
              action=f"fix the receiver, then run `scf-worker webhooks enable {endpoint_id}`")
