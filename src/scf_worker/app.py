"""The services one function instance uses, built on first use and kept per cold start.

Nothing here connects at import time. ``get_services()`` reads the
configuration, opens the state store and picks the object store the first time
a handler needs them; tests call ``reset_services()`` between configurations.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from scf_worker.idempotency.sql import SqlIdempotencyStore
from scf_worker.jobs.store import JobStore
from scf_worker.observability import logging as obs_logging
from scf_worker.retry.policy import RetryPolicy
from scf_worker.runtime.config import Settings, load_settings
from scf_worker.state.sql import Database, open_database
from scf_worker.storage.base import ObjectStore


@dataclass
class Services:
    """Configuration plus lazily built stores; edges can be replaced in tests."""

    settings: Settings
    clock: Callable[[], float] = field(default=time.time)
    # Capability services built by handlers on first use, kept for the instance's life.
    extensions: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def db(self) -> Database:
        return open_database(self.settings.state_url)

    @cached_property
    def jobs(self) -> JobStore:
        return JobStore(self.db, self.clock)

    @cached_property
    def idempotency(self) -> SqlIdempotencyStore:
        return SqlIdempotencyStore(self.db, self.clock)

    @cached_property
    def store(self) -> ObjectStore:
        if self.settings.storage_url:
            from scf_worker.storage.local import LocalObjectStore

            return LocalObjectStore.from_url(self.settings.storage_url)
        from scf_worker.storage.cos import CosObjectStore

        return CosObjectStore(self.settings.cos_region, endpoint=os.environ.get("COS_ENDPOINT"))

    @cached_property
    def retry_policy(self) -> RetryPolicy:
        s = self.settings
        return RetryPolicy(s.retry_base_ms, s.retry_max_delay_ms, s.retry_max_attempts)

    @property
    def scratch_root(self) -> Path:
        path = self.settings.work_dir / "scratch"
        path.mkdir(parents=True, exist_ok=True)
        return path


_services: Services | None = None


def get_services() -> Services:
    global _services
    if _services is None:
        settings = load_settings()
        obs_logging.configure(settings.log_level)
        obs_logging.register_secrets(settings.secrets)
        _services = Services(settings)
    return _services


def reset_services(services: Services | None = None) -> None:
    """Drop the cached services (closing the database) or install given ones."""
    global _services
    if _services is not None:
        _close_extensions(_services)
    if _services is not None and "db" in _services.__dict__:
        _services.db.close()
    _services = services
    if services is not None:
        obs_logging.register_secrets(services.settings.secrets)


def _close_extensions(services: Services) -> None:
    """Close capability services that hold resources (an event loop, a connection pool)."""
    for extension in services.extensions.values():
        close = getattr(extension, "close", None)
        if callable(close):
            close()
