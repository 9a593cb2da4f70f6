"""Redis connections for the idempotency store and the Redis upload recorder.

URL: ``redis://[:password@]host:6379/<db>?prefix=<key prefix>`` (``rediss://``
for TLS). Every key this package writes starts with the prefix, default
``scf-worker:``, so several deployments or test runs can share one server.
redis-py is imported on first use, never at import time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlparse, urlunparse

from scf_worker.state.errors import StateError, UnsupportedStateUrl

DEFAULT_PREFIX = "scf-worker:"
SOCKET_TIMEOUT_SECONDS = 5.0


def is_redis_url(url: str | None) -> bool:
    return bool(url) and urlparse(url or "").scheme in ("redis", "rediss")


@dataclass
class RedisTarget:
    """A Redis client plus the key prefix every key of this deployment starts with."""

    client: Any
    prefix: str
    description: str

    def key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    def __repr__(self) -> str:
        return f"RedisTarget({self.description}, prefix={self.prefix!r})"


def open_redis(url: str) -> RedisTarget:
    """Build a client for a ``redis://`` URL; connections open on first command."""
    parsed = urlparse(url)
    if parsed.scheme not in ("redis", "rediss") or not parsed.hostname:
        raise UnsupportedStateUrl("expected redis://host:6379/<db>?prefix=<key prefix>")
    query = dict(parse_qsl(parsed.query))
    prefix = query.pop("prefix", DEFAULT_PREFIX)
    if not prefix:
        raise UnsupportedStateUrl("the redis URL's prefix parameter must not be empty")
    try:
        import redis
    except ImportError:
        raise StateError("a redis:// URL needs redis-py; install scf-worker[redis]") from None
    clean = urlunparse(parsed._replace(query=urlencode(query)))
    client = redis.Redis.from_url(clean, socket_timeout=SOCKET_TIMEOUT_SECONDS,
                                  socket_connect_timeout=SOCKET_TIMEOUT_SECONDS)
    db = parsed.path.lstrip("/") or "0"
    return RedisTarget(client, prefix, f"{parsed.hostname}:{parsed.port or 6379}/{db}")


def redis_errors() -> tuple[type[BaseException], ...]:
    """Return redis-py's base error, or nothing when redis-py is not installed."""
    try:
        import redis
    except ImportError:
        return ()
    return (redis.RedisError,)
