"""Configuration of media-import and reconcile, read from the environment once per cold start."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from scf_worker.runtime.config import Settings, env_int
from scf_worker.runtime.errors import ConfigError
from scf_worker.storage.base import check_key
from scf_worker.storage.errors import InvalidObjectKey

MANIFEST_SUFFIXES = (".csv", ".jsonl", ".ndjson")
REPORT_SUFFIX = ".report.jsonl"
# Time kept back from the invocation limit after the last row that may start,
# on top of the longest fetch: storing, recording and the checkpoint write.
ROW_FINISH_MARGIN_SECONDS = 30
# How long a stuck transcode job may stay ``running`` with no queue message:
# the transcode function's 900 s limit plus the local worker's 30 s lease margin.
DEFAULT_RUNNING_LEASE_SECONDS = 930


@dataclass(frozen=True)
class BatchSettings:
    """Limits and prefixes of the import and the reconciler."""

    manifest_prefix: str
    target_prefix: str
    max_source_bytes: int
    max_manifest_bytes: int
    max_rows: int
    chunk_rows: int
    import_concurrency: int
    lease_seconds: int
    fetch_timeout_seconds: float
    fetch_total_seconds: float
    max_redirects: int
    allow_loopback: bool
    admin_users: frozenset[str]
    reconcile_prefix: str
    reconcile_concurrency: int
    running_lease_seconds: int

    @property
    def row_margin_ms(self) -> int:
        """Time that must remain before a new row starts: one full fetch plus finishing work."""
        return int((self.fetch_total_seconds + ROW_FINISH_MARGIN_SECONDS) * 1000)


def _bool(environ: Mapping[str, str], name: str) -> bool:
    raw = environ.get(name, "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise ConfigError(name, "true or false", raw)


def _prefix(environ: Mapping[str, str], name: str, default: str) -> str:
    raw = environ.get(name, default).strip()
    prefix = raw.rstrip("/") + "/"
    try:
        check_key(prefix)
    except InvalidObjectKey as exc:
        raise ConfigError(name, f"an object key prefix such as {default} ({exc})", raw) from None
    return prefix


def upload_prefix_of(settings: Settings) -> str:
    """Return the fixed part of COS_ALLOWED_PREFIX, the folder every upload lands under."""
    return settings.allowed_prefix.split("${userId}", 1)[0]


def load_batch_settings(settings: Settings, environ: Mapping[str, str] | None = None) -> BatchSettings:
    """Parse the IMPORT_* and RECONCILE_* variables; raise ConfigError naming a bad one."""
    env = os.environ if environ is None else environ
    reconcile_default = upload_prefix_of(settings)
    if env.get("RECONCILE_PREFIX", "").strip():
        reconcile_prefix = _prefix(env, "RECONCILE_PREFIX", "uploads/")
    elif reconcile_default:
        reconcile_prefix = reconcile_default
    else:
        raise ConfigError("RECONCILE_PREFIX",
                          "a prefix such as uploads/, because COS_ALLOWED_PREFIX starts with ${userId}")

    batch = BatchSettings(
        manifest_prefix=_prefix(env, "IMPORT_MANIFEST_PREFIX", "imports/manifests/"),
        target_prefix=_prefix(env, "IMPORT_TARGET_PREFIX", "imports/"),
        max_source_bytes=env_int(env, "IMPORT_MAX_BYTES", settings.max_upload_bytes, 1, 5 * 1024**3),
        max_manifest_bytes=env_int(env, "IMPORT_MAX_MANIFEST_BYTES", 5 * 1024**2, 1, 64 * 1024**2),
        max_rows=env_int(env, "IMPORT_MAX_ROWS", 100_000, 1, 1_000_000),
        chunk_rows=env_int(env, "IMPORT_CHUNK_ROWS", 100, 1, 10_000),
        import_concurrency=env_int(env, "IMPORT_CONCURRENCY", 4, 1, 32),
        lease_seconds=env_int(env, "IMPORT_LEASE_SEC", 300, 10, 86_400),
        fetch_timeout_seconds=env_int(env, "IMPORT_FETCH_TIMEOUT_SEC", 20, 1, 300),
        fetch_total_seconds=env_int(env, "IMPORT_FETCH_TOTAL_SEC", 120, 1, 3600),
        max_redirects=env_int(env, "IMPORT_MAX_REDIRECTS", 3, 0, 10),
        allow_loopback=_bool(env, "IMPORT_ALLOW_LOOPBACK"),
        admin_users=frozenset(env.get("IMPORT_ADMIN_USERS", "").replace(",", " ").split()),
        reconcile_prefix=reconcile_prefix,
        reconcile_concurrency=env_int(env, "RECONCILE_CONCURRENCY", 4, 1, 32),
        running_lease_seconds=env_int(env, "RECONCILE_RUNNING_LEASE_SEC", DEFAULT_RUNNING_LEASE_SECONDS,
                                   60, 7 * 86_400),
    )
    # The lease is renewed after each row, so it must outlast the slowest row.
    slowest_row_seconds = batch.row_margin_ms // 1000
    if batch.lease_seconds <= slowest_row_seconds:
        raise ConfigError("IMPORT_LEASE_SEC", f"more than {slowest_row_seconds} seconds"
                          " (IMPORT_FETCH_TOTAL_SEC plus 30)", str(batch.lease_seconds))
    return batch
