"""Idempotency claims in Redis: ``SET NX PX`` for a new key, Lua for every transition.

Each record is one string key holding JSON: status ``s``, fingerprint ``f``,
holder token ``t``, lease end ``l``, record expiry ``e`` (epoch seconds from the
caller's clock) and the stored response ``r``. The key's own PX expiry is only
garbage collection: the scripts decide by ``l`` and ``e``, so an injected clock
behaves like the real one. Scripts run atomically, so no other client can
interleave between the read and the write of a transition.
"""

from __future__ import annotations

import json
import math
import secrets
import time
from collections.abc import Callable
from typing import Any

from scf_worker.idempotency.base import (
    DEFAULT_EXPIRY_SECONDS,
    STATUS_COMPLETED,
    STATUS_IN_PROGRESS,
    stored_key,
)
from scf_worker.idempotency.errors import AlreadyCompleted, AlreadyInProgress, IdempotencyConflict
from scf_worker.state.errors import StateError
from scf_worker.state.redis import RedisTarget, redis_errors

# KEYS[1] record; ARGV: now, new record JSON, PX milliseconds.
# Returns nil when the caller took the key, else the current record for the caller to judge.
_CLAIM = """
local raw = redis.call('GET', KEYS[1])
if raw then
  local rec = cjson.decode(raw)
  local now = tonumber(ARGV[1])
  local expired = rec.e <= now
  local lease_over = rec.s == 'in_progress' and rec.l <= now
  if not expired and not lease_over then
    return raw
  end
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return false
"""

# Shared with scripts that complete a claim after their own writes (the Redis upload
# recorder). token '' matches any holder; returns 1 when it completed the claim.
COMPLETE_FUNCTION = """
local function complete_claim(key, token, response, now, expiry)
  local raw = redis.call('GET', key)
  if not raw then return 0 end
  local rec = cjson.decode(raw)
  if rec.s ~= 'in_progress' or (token ~= '' and rec.t ~= token) then return 0 end
  rec.s = 'completed'
  rec.r = response
  rec.e = tonumber(now) + tonumber(expiry)
  redis.call('SET', key, cjson.encode(rec), 'PX', math.ceil(tonumber(expiry) * 1000))
  return 1
end
"""

# KEYS[1] record; ARGV: token, response JSON, now, expiry seconds.
_COMPLETE = COMPLETE_FUNCTION + "return complete_claim(KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4])"

# KEYS[1] record; ARGV: token ('' matches any holder).
_RELEASE = """
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local rec = cjson.decode(raw)
if rec.s ~= 'in_progress' or (ARGV[1] ~= '' and rec.t ~= ARGV[1]) then return 0 end
redis.call('DEL', KEYS[1])
return 1
"""


class RedisIdempotencyStore:
    """Claims as ``<prefix>idem:<sha256 of key>`` string keys."""

    def __init__(self, target: RedisTarget, clock: Callable[[], float] = time.time,
                 expiry_seconds: float = DEFAULT_EXPIRY_SECONDS) -> None:
        self.target = target
        self.clock = clock
        self.expiry_seconds = expiry_seconds
        client = target.client
        self._claim_script = client.register_script(_CLAIM)
        self._complete_script = client.register_script(_COMPLETE)
        self._release_script = client.register_script(_RELEASE)
        self._set_get = True

    def __repr__(self) -> str:
        return f"RedisIdempotencyStore({self.target!r})"

    def _key(self, key: str) -> str:
        return self.target.key("idem", stored_key(key))

    def _px(self, seconds: float) -> int:
        return max(1, math.ceil(seconds * 1000))

    def claim(self, key: str, payload_fingerprint: str, lease_seconds: float) -> str:
        now = self.clock()
        token = secrets.token_hex(16)
        record = json.dumps({"s": STATUS_IN_PROGRESS, "f": payload_fingerprint, "t": token,
                             "l": now + lease_seconds, "e": now + self.expiry_seconds})
        redis_key = self._key(key)
        ttl = self._px(max(self.expiry_seconds, lease_seconds))
        try:
            current = self._set_new(redis_key, record, ttl)
            if current is None:
                return token
            existing = json.loads(current)
            if self._takeable(existing, now):
                current = self._claim_script(keys=[redis_key], args=[repr(now), record, ttl])
                if current is None:
                    return token
                existing = json.loads(current)
        except redis_errors() as exc:
            raise StateError(f"redis claim failed: {type(exc).__name__}") from exc
        self._raise_for(key, existing, payload_fingerprint)
        raise AssertionError("unreachable")  # pragma: no cover

    def _set_new(self, redis_key: str, record: str, ttl: int) -> Any:
        """SET NX PX; return None when it took the key, else the current record.

        SET NX GET (Redis 7.0+) returns the current record in the same round trip, so
        a duplicate of a completed request costs one command. Older servers reject
        NX with GET, and then a separate GET follows a failed SET NX.
        """
        import redis

        client = self.target.client
        if self._set_get:
            try:
                return client.set(redis_key, record, nx=True, px=ttl, get=True)
            except redis.ResponseError:
                self._set_get = False
        if client.set(redis_key, record, nx=True, px=ttl):
            return None
        current = client.get(redis_key)
        # The key expired between the two commands: the claim script takes it.
        return current if current is not None else json.dumps({"s": "", "e": 0, "l": 0})

    @staticmethod
    def _takeable(record: dict[str, Any], now: float) -> bool:
        """Return whether the record expired or its holder's lease ran out (the script re-checks)."""
        expired = float(record["e"]) <= now
        lease_over = record["s"] == STATUS_IN_PROGRESS and float(record["l"]) <= now
        return expired or lease_over

    @staticmethod
    def _raise_for(key: str, record: dict[str, Any], payload_fingerprint: str) -> None:
        if record["f"] != payload_fingerprint:
            raise IdempotencyConflict(f"idempotency key {key!r} was first used with another payload")
        if record["s"] == STATUS_COMPLETED:
            response = record.get("r")
            raise AlreadyCompleted(json.loads(response) if response else None)
        raise AlreadyInProgress(f"idempotency key {key!r} is held by another invocation",
                                float(record["l"]))

    def completion(self, key: str, response: Any, token: str | None = None) -> tuple[str, list[str]]:
        """Return the key and arguments of ``complete_claim`` in COMPLETE_FUNCTION for ``complete``."""
        return self._key(key), [token or "", json.dumps(response, ensure_ascii=False),
                                repr(self.clock()), repr(float(self.expiry_seconds))]

    def complete(self, key: str, response: Any, token: str | None = None) -> bool:
        redis_key, args = self.completion(key, response, token)
        try:
            return bool(self._complete_script(keys=[redis_key], args=args))
        except redis_errors() as exc:
            raise StateError(f"redis complete failed: {type(exc).__name__}") from exc

    def release(self, key: str, token: str | None = None) -> bool:
        try:
            return bool(self._release_script(keys=[self._key(key)], args=[token or ""]))
        except redis_errors() as exc:
            raise StateError(f"redis release failed: {type(exc).__name__}") from exc

    def purge_expired(self, limit: int = 1000) -> int:
        # Redis deletes each record itself when its PX expiry passes.
        return 0
