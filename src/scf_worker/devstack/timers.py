"""Timer trigger emulation: each cron expression from config.json fires its function on time."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from scf_worker.observability.logging import get_logger
from scf_worker.runtime import cron, samples

log = get_logger(__name__)


@dataclass(frozen=True)
class TimerTrigger:
    function: str
    name: str
    expression: str
    message: str
    invoke: Callable[[dict[str, Any]], Any]


class TimerRunner:
    """One thread per trigger, sleeping on a stop event until the next fire time."""

    def __init__(self, triggers: list[TimerTrigger], clock: Callable[[], float] = time.time) -> None:
        self.triggers = triggers
        self.clock = clock
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._loop, args=(t,), name=f"timer-{t.name}", daemon=True)
                         for t in triggers]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)

    def _loop(self, trigger: TimerTrigger) -> None:
        schedule = cron.parse(trigger.expression)
        while not self._stop.is_set():
            now = datetime.fromtimestamp(self.clock(), timezone.utc)
            due = cron.next_fire(schedule, now)
            if due is None or self._stop.wait(max(0.0, due.timestamp() - self.clock())):
                return
            log.info("timer_fired", function=trigger.function, trigger=trigger.name)
            try:
                trigger.invoke(samples.timer_event(trigger.name, trigger.message))
            except Exception:
                log.exception("timer_invocation_failed", function=trigger.function, trigger=trigger.name)
