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

from scf_worker.idempotency.base import IdempotencyStore
from scf_worker.idempotency.factory import open_idempotency_store
from scf_worker.jobs.ledger import WorkLedger
from scf_worker.jobs.store import JobStore
from scf_worker.observability import logging as obs_logging
from scf_worker.queue.base import QueueTransport
from scf_worker.retry.deadletter import DeadLetterStore
from scf_worker.retry.policy import RetryPolicy
from scf_worker.runtime.config import Settings, load_settings
from scf_worker.runtime.errors import ConfigError
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
        return open_state_database(self.settings.state_url, self.settings.state_auto_migrate)

    @cached_property
    def jobs(self) -> JobStore:
        return JobStore(self.db, self.clock)

    @cached_property
    def idempotency(self) -> IdempotencyStore:
        """Claims in ``IDEMPOTENCY_URL`` when set (e.g. Redis), else in the state store."""
        s = self.settings
        url = s.idempotency_url or s.state_url
        if url == s.state_url:
            return open_idempotency_store(url, lambda: self.db, self.clock, s.idempotency_expiry_seconds)
        return open_idempotency_store(url, lambda: open_state_database(url, s.state_auto_migrate),
                                      self.clock, s.idempotency_expiry_seconds)

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
        return RetryPolicy(s.retry_base_ms, s.retry_max_delay_ms, s.retry_max_attempts,
                           jitter=s.retry_jitter)

    @cached_property
    def queue(self) -> QueueTransport:
        """The transport ``QUEUE_URL`` names; unset means the state store's ``queue`` table."""
        from scf_worker.queue import open_queue

        return open_queue(self.settings.queue_url, self.db, self.settings.queue_prefix, self.clock)

    @cached_property
    def dead_letters(self) -> DeadLetterStore:
        """The dead-letter store follows the queue: an AMQP queue with AMQP, else ``scf_dlq``."""
        if self.settings.queue_url:
            from scf_worker.retry.dlq_amqp import AmqpDeadLetterStore

            return AmqpDeadLetterStore(self.settings.queue_url, self.settings.queue_prefix)
        from scf_worker.retry.dlq_sql import SqlDeadLetterStore

        return SqlDeadLetterStore(self.db, self.clock)

    @cached_property
    def ledger(self) -> WorkLedger:
        return WorkLedger(self.db, self.clock)

    def close(self) -> None:
        """Close the connections this instance opened."""
        for name in ("queue", "dead_letters"):
            if name in self.__dict__:
                self.__dict__[name].close()
        if "db" in self.__dict__:
            self.db.close()

    @property
    def scratch_root(self) -> Path:
        path = self.settings.work_dir / "scratch"
        path.mkdir(parents=True, exist_ok=True)
        return path


def open_state_database(url: str, auto_migrate: bool) -> Database:
    """Open a SQL state store; create missing tables or, without auto-migrate, check for them."""
    database = open_database(url, migrate=auto_migrate)
    if not auto_migrate:
        database.require_schema()
    return database


_services: Services | None = None


def get_services() -> Services:
    global _services
    if _services is None:
        _decrypt_secrets()
        settings = load_settings()
        obs_logging.configure(settings.log_level, debug_sample_rate=settings.log_debug_sample_rate)
        obs_logging.register_secrets(settings.secrets)
        _services = Services(settings)
    return _services


def _decrypt_secrets() -> None:
    """Turn ``kms:v1:`` environment values into plaintext, once per cold start."""
    from scf_worker.kms import SecretError, decrypt_environment

    try:
        decrypt_environment()
    except SecretError as exc:
        raise ConfigError(exc.variable, "a kms:v1: value the function's role can decrypt") from None


def reset_services(services: Services | None = None) -> None:
    """Drop the cached services (closing the database) or install given ones."""
    global _services
    if _services is not None:
        _close_extensions(_services)
        _services.close()
    _services = services
    if services is not None:
        obs_logging.register_secrets(services.settings.secrets)


def _close_extensions(services: Services) -> None:
    """Close capability services that hold resources (an event loop, a connection pool)."""
    for extension in services.extensions.values():
        close = getattr(extension, "close", None)
        if callable(close):
            close()
