"""Pick the idempotency store a URL names: ``IDEMPOTENCY_URL``, else ``STATE_URL``."""

from __future__ import annotations

import time
from collections.abc import Callable

from scf_worker.idempotency.base import DEFAULT_EXPIRY_SECONDS, IdempotencyStore
from scf_worker.state.redis import is_redis_url, open_redis
from scf_worker.state.sql import Database


def open_idempotency_store(url: str, database: Callable[[], Database],
                           clock: Callable[[], float] = time.time,
                           expiry_seconds: float = DEFAULT_EXPIRY_SECONDS) -> IdempotencyStore:
    """Return a Redis store for a ``redis://`` URL, else a SQL store on ``database()``.

    ``database`` is called only for a SQL URL, so a Redis-only setup never opens SQL.
    """
    if is_redis_url(url):
        from scf_worker.idempotency.redis import RedisIdempotencyStore

        return RedisIdempotencyStore(open_redis(url), clock, expiry_seconds)
    from scf_worker.idempotency.sql import SqlIdempotencyStore

    return SqlIdempotencyStore(database(), clock, expiry_seconds)
