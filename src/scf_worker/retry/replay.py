"""Replay dead letters through the work ledger, running each piece of work at most once per replay.

Entries are grouped by work (function + idempotency key; an entry without a key
is its own group). For each group, in order of first failure:

1. work the ledger already records as done is not sent: its entries are marked
   ``replayed`` with resolution ``already_done``;
2. otherwise the function's ``main_handler`` runs the payload once, in this
   process, as a managed consumer that never dead-letters again;
3. only when that attempt succeeds are the entries marked ``replayed`` (the
   first with resolution ``replayed``, any copies with ``duplicate``). A failed
   attempt leaves them ``pending`` with the new last error and one more attempt.

A second replay therefore finds nothing pending and sends nothing. A dry run
reads and reports, and writes nothing.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from scf_worker.app import Services
from scf_worker.observability.logging import get_logger
from scf_worker.retry.classify import TRANSIENT, Failure, truncate
from scf_worker.retry.deadletter import (
    RESOLUTION_ALREADY_DONE,
    RESOLUTION_DUPLICATE,
    RESOLUTION_REPLAYED,
    STATUS_REPLAYED,
    DeadLetter,
    DeadLetterBatch,
    DeadLetterQuery,
    DeadLetterStore,
)

log = get_logger(__name__)

REPLAYED = "replayed"
ALREADY_DONE = "already_done"
FAILED = "failed"
BUSY = "busy"
WOULD_REPLAY = "would_replay"
WOULD_SKIP = "would_skip"
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class ReplayOptions:
    """Replay filters and pacing. ``deadline_monotonic`` stops a run before a time limit."""

    query: DeadLetterQuery = field(default_factory=DeadLetterQuery)
    dry_run: bool = False
    rate_per_second: float | None = None
    deadline_monotonic: float | None = None


@dataclass(frozen=True)
class ReplayItem:
    """The action replay took on one entry."""

    entry_id: str | None
    function: str
    idempotency_key: str | None
    action: str
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"id": self.entry_id, "function": self.function,
                "idempotencyKey": self.idempotency_key, "action": self.action, "error": self.error}


@dataclass
class ReplayReport:
    """Per-entry actions plus ``sent``: how many times work was actually run."""

    dry_run: bool
    items: list[ReplayItem] = field(default_factory=list)
    sent: int = 0
    stopped_early: bool = False

    def count(self, action: str) -> int:
        return sum(1 for item in self.items if item.action == action)

    def summary(self) -> dict[str, Any]:
        return {"dryRun": self.dry_run, "entries": len(self.items), "sent": self.sent,
                "replayed": self.count(REPLAYED), "alreadyDone": self.count(ALREADY_DONE),
                "failed": self.count(FAILED), "busy": self.count(BUSY),
                "wouldReplay": self.count(WOULD_REPLAY), "wouldSkip": self.count(WOULD_SKIP),
                "stoppedEarly": self.stopped_early}


def group_by_work(entries: list[DeadLetter]) -> list[list[DeadLetter]]:
    """Group copies of the same work, keeping the order of each group's first entry."""
    groups: dict[tuple[str, str], list[DeadLetter]] = {}
    for entry in entries:
        key = (entry.function, entry.idempotency_key) if entry.idempotency_key else (
            "", f"entry:{entry.id}")
        groups.setdefault(key, []).append(entry)
    return list(groups.values())


class RateLimiter:
    """Space calls at least ``1 / rate`` seconds apart; ``sleep`` and ``monotonic`` are injectable."""

    def __init__(self, rate_per_second: float | None, sleep: Callable[[float], None],
                 monotonic: Callable[[], float]) -> None:
        self.interval = 1.0 / rate_per_second if rate_per_second else 0.0
        self.sleep = sleep
        self.monotonic = monotonic
        self.next_at: float | None = None

    def wait(self) -> None:
        if self.interval <= 0:
            return
        now = self.monotonic()
        if self.next_at is not None and self.next_at > now:
            self.sleep(self.next_at - now)
            now = self.next_at
        self.next_at = now + self.interval


class Replayer:
    """Replays dead letters from ``store`` (default: the configured one) through their functions."""

    def __init__(self, services: Services, store: DeadLetterStore | None = None,
                 sleep: Callable[[float], None] = time.sleep,
                 monotonic: Callable[[], float] = time.monotonic,
                 progress: Progress | None = None) -> None:
        self.services = services
        self.store = store or services.dead_letters
        self.sleep = sleep
        self.monotonic = monotonic
        self.progress = progress

    def run(self, options: ReplayOptions) -> ReplayReport:
        report = ReplayReport(options.dry_run)
        limiter = RateLimiter(options.rate_per_second, self.sleep, self.monotonic)
        with self.store.checkout(options.query) as batch:
            total = len(batch.entries)
            done = 0
            for group in group_by_work(batch.entries):
                if options.deadline_monotonic is not None and self.monotonic() >= options.deadline_monotonic:
                    report.stopped_early = True
                    break
                self._replay_group(batch, group, options, limiter, report)
                done += len(group)
                if self.progress is not None:
                    self.progress(done, total)
        log.info("dlq_replay_finished", **report.summary())
        return report

    def _replay_group(self, batch: DeadLetterBatch, group: list[DeadLetter], options: ReplayOptions,
                      limiter: RateLimiter, report: ReplayReport) -> None:
        first = group[0]
        if first.idempotency_key and self.services.ledger.is_done(first.function, first.idempotency_key):
            if options.dry_run:
                report.items.extend(_items(group, WOULD_SKIP))
                return
            self._resolve(batch, group, RESOLUTION_ALREADY_DONE)
            report.items.extend(_items(group, ALREADY_DONE))
            return
        if options.dry_run:
            report.items.extend(_items(group, WOULD_REPLAY))
            return

        limiter.wait()
        report.sent += 1
        status, code, failure = self._invoke(first)
        if status == "done":
            found_done = code == "duplicate"
            self._resolve(batch, group, RESOLUTION_ALREADY_DONE if found_done else RESOLUTION_REPLAYED)
            report.items.extend(_items(group, ALREADY_DONE if found_done else REPLAYED))
            return
        if code == "in_progress":
            report.items.extend(_items(group, BUSY))
            return
        for entry in group:
            batch.save(entry.failed_again(failure))
        log.warning("dlq_replay_failed", deadLetterId=first.id, topic=first.function,
                    errorClass=failure.error_class, error=failure.message)
        report.items.extend(_items(group, FAILED, f"{failure.error_class}: {failure.message}"))

    def _resolve(self, batch: DeadLetterBatch, group: list[DeadLetter], resolution: str) -> None:
        now = self.services.clock()
        for index, entry in enumerate(group):
            batch.save(entry.resolved(STATUS_REPLAYED, resolution if index == 0 else RESOLUTION_DUPLICATE,
                                      now))

    def _invoke(self, entry: DeadLetter) -> tuple[str, str, Failure]:
        """Run the entry's payload once through its function; return (status, code, failure)."""
        from scf_worker.functions import get_function
        from scf_worker.jobs.dispatch import envelope
        from scf_worker.jobs.worker import time_limit_ms_of

        now = self.services.clock()
        try:
            handler = get_function(entry.function).handler()
        except KeyError as exc:
            return "dead", "unknown_function", Failure(TRANSIENT, "unknown_function", "KeyError",
                                                       truncate(str(exc)), at=now)
        body = envelope(entry.function, entry.payload, 1)
        event = {"Records": [{"CMQ": {"type": "queue", "topicName": entry.function,
                                      "msgId": f"dlq-{entry.id}", "requestId": f"dlq-{entry.id}",
                                      "msgBody": json.dumps(body, ensure_ascii=False)}}]}
        context = {"request_id": str(uuid.uuid4()), "function_name": entry.function,
                   "time_limit_in_ms": time_limit_ms_of(entry.function), "managed_consumer": True,
                   "dlq_replay": True}
        result = (handler(event, context).get("results") or [{}])[0]
        failure = Failure.from_dict(result.get("failure")) or Failure(
            TRANSIENT, str(result.get("code")), str(result.get("code")), str(result.get("code")), at=now)
        return str(result.get("status")), str(result.get("code")), failure


def _items(group: list[DeadLetter], action: str, error: str | None = None) -> list[ReplayItem]:
    return [ReplayItem(e.id, e.function, e.idempotency_key, action, error) for e in group]


def discard(store: DeadLetterStore, query: DeadLetterQuery, at: float, dry_run: bool = False) -> list[str]:
    """Mark matching entries ``discarded``; return their ids."""
    from scf_worker.retry.deadletter import RESOLUTION_DISCARDED, STATUS_DISCARDED

    ids: list[str] = []
    with store.checkout(query) as batch:
        for entry in batch.entries:
            if not dry_run:
                batch.save(entry.resolved(STATUS_DISCARDED, RESOLUTION_DISCARDED, at))
            ids.append(str(entry.id))
    return ids
