"""COS trigger emulation: an object landing in the local store becomes a COS event.

The store folder is scanned every ``interval_seconds``; a file that is new or
changed since the last scan, and stable between two scans, is delivered as a
``cos:ObjectCreated:Put`` record to each function whose COS trigger matches
its bucket, prefix and suffix.
"""

from __future__ import annotations

import hashlib
import mimetypes
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scf_worker.observability.logging import get_logger
from scf_worker.runtime import samples

log = get_logger(__name__)
_TEMP_PREFIX = ".upload-"


@dataclass(frozen=True)
class CosSubscription:
    function: str
    bucket: str
    prefix: str
    suffix: str
    invoke: Callable[[dict[str, Any]], Any]

    def matches(self, bucket: str, key: str) -> bool:
        return bucket == self.bucket and key.startswith(self.prefix) and key.endswith(self.suffix)


class StoreWatcher:
    def __init__(self, root: Path, subscriptions: list[CosSubscription], region: str,
                 interval_seconds: float = 0.5) -> None:
        self.root = root
        self.subscriptions = subscriptions
        self.region = region
        self.interval_seconds = interval_seconds
        self._stop = threading.Event()
        self._seen: dict[Path, tuple[int, int]] = {}
        self._pending: dict[Path, tuple[int, int]] = {}
        self._thread = threading.Thread(target=self._loop, name="cos-watcher", daemon=True)

    def start(self) -> None:
        self._seen = self._snapshot()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _snapshot(self) -> dict[Path, tuple[int, int]]:
        found: dict[Path, tuple[int, int]] = {}
        if not self.root.is_dir():
            return found
        for path in self.root.rglob("*"):
            if path.is_file() and not path.name.startswith(_TEMP_PREFIX):
                stat = path.stat()
                found[path] = (stat.st_size, stat.st_mtime_ns)
        return found

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_seconds):
            self.scan_once()

    def scan_once(self) -> None:
        current = self._snapshot()
        changed = {p: s for p, s in current.items() if self._seen.get(p) != s}
        # Deliver only what stayed the same across two scans, so a file still being written waits.
        ready = {p: s for p, s in changed.items() if self._pending.get(p) == s}
        self._pending = {p: s for p, s in changed.items() if p not in ready}
        for path, state in sorted(ready.items()):
            self._seen[path] = state
            self._deliver(path)

    def _deliver(self, path: Path) -> None:
        relative = path.relative_to(self.root)
        bucket, key = relative.parts[0], "/".join(relative.parts[1:])
        if not key:
            return
        data = path.read_bytes()
        etag = hashlib.md5(data, usedforsecurity=False).hexdigest()
        record = samples.cos_record(bucket, key, len(data), etag, self.region,
                                    mimetypes.guess_type(path.name)[0])
        for subscription in self.subscriptions:
            if subscription.matches(bucket, key):
                log.info("cos_event_emitted", function=subscription.function, bucket=bucket, key=key)
                try:
                    subscription.invoke(samples.cos_event(record))
                except Exception:
                    log.exception("cos_event_failed", function=subscription.function, key=key)
