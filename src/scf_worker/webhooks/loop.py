"""An event loop on a background thread, so synchronous handlers can run async delivery.

SCF handlers are synchronous. Running each invocation under ``asyncio.run``
would close the HTTP connection pool every time. A loop that lives as long as
the function instance keeps pooled connections across warm invocations.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class LoopThread:
    """A daemon thread running one event loop; started on first use."""

    def __init__(self, name: str = "scf-worker-webhooks") -> None:
        self.name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def _start(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name=self.name, daemon=True)
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

    def run(self, coroutine: Coroutine[Any, Any, T], timeout_seconds: float | None = None) -> T:
        """Run a coroutine on the loop and wait for its result from the calling thread.

        When ``timeout_seconds`` passes first, the coroutine is cancelled and
        TimeoutError is raised.
        """
        future = asyncio.run_coroutine_threadsafe(coroutine, self._start())
        try:
            return future.result(timeout_seconds)
        except concurrent.futures.TimeoutError:
            # Before Python 3.11 this class is not the built-in TimeoutError callers catch.
            future.cancel()
            raise TimeoutError(f"coroutine did not finish within {timeout_seconds} s") from None

    def stop(self) -> None:
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
        if not thread.is_alive():
            loop.close()
