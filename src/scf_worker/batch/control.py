"""Run control shared by the import and the reconciler: deadlines, progress and bounded concurrency."""

from __future__ import annotations

import contextvars
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Protocol, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class Deadline(Protocol):
    """Tell a run when to stop starting new work."""

    def expired(self) -> bool: ...


@dataclass(frozen=True)
class MonotonicDeadline:
    """Expire at a ``time.monotonic()`` instant; ``at=None`` never expires (CLI runs)."""

    at: float | None = None
    monotonic: Callable[[], float] = time.monotonic

    def expired(self) -> bool:
        return self.at is not None and self.monotonic() >= self.at


NO_DEADLINE = MonotonicDeadline()


class Progress(Protocol):
    """Receive progress reports; calls may come from several worker threads."""

    def start(self, total: int, done: int = 0) -> None: ...

    def advance(self, status: str) -> None: ...

    def finish(self) -> None: ...


class NullProgress:
    """Progress sink that ignores every report (functions, tests)."""

    def start(self, total: int, done: int = 0) -> None:
        pass

    def advance(self, status: str) -> None:
        pass

    def finish(self) -> None:
        pass


def run_bounded(work: Callable[[Item], Result], items: Iterable[Item],
                concurrency: int) -> list[Result]:
    """Apply ``work`` to each item with at most ``concurrency`` threads, keeping the input order.

    With several threads every item runs to its end before the first error (in
    input order) is raised. With one thread the first error stops the rest.
    Each task runs in a copy of the caller's context, so log lines keep the
    invocation's bound fields.
    """
    items = list(items)
    if concurrency <= 1 or len(items) <= 1:
        return [work(item) for item in items]
    pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="scf-batch")
    try:
        futures: list[Future[Result]] = [
            pool.submit(contextvars.copy_context().run, work, item) for item in items
        ]
        wait(futures)
    except BaseException:
        # Ctrl-C in the CLI: let the running items finish, start no more.
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return [future.result() for future in futures]
