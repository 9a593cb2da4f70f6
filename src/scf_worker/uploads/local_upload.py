"""Uploads into the local object store, checked against a recorded grant.

This is the local stand-in for COS enforcing an STS policy: the session token
and key pair must match a grant that has not expired, and the policy's
resource, actions and conditions must allow the request.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from scf_worker.state.sql import Database
from scf_worker.storage.base import ObjectInfo
from scf_worker.storage.local import LocalObjectStore
from scf_worker.uploads.errors import GrantDenied
from scf_worker.uploads.issuers import TemporaryCredentials


def upload_with_credentials(db: Database, store: LocalObjectStore, credentials: TemporaryCredentials,
                            bucket: str, key: str, src: Path, content_type: str,
                            clock: Callable[[], float] = time.time) -> ObjectInfo:
    """Store ``src`` as ``key`` when the grant allows a PutObject of it; else raise GrantDenied."""
    rows = db.query(
        "SELECT * FROM upload_grants WHERE access_key_id = ?", (credentials.tmp_secret_id,)
    )
    if not rows or rows[0]["secret_key"] != credentials.tmp_secret_key:
        raise GrantDenied("unknown access key")
    grant = rows[0]
    if grant["session_token"] != credentials.session_token:
        raise GrantDenied("session token does not match")
    if clock() >= grant["expires_at"]:
        raise GrantDenied("credentials expired")

    size = src.stat().st_size
    policy = json.loads(grant["policy"])
    if not any(_allows(s, bucket, key, size, content_type) for s in policy["statement"]):
        raise GrantDenied("policy does not allow PutObject for this key, size and type")
    return store.upload(bucket, key, src, content_type)


def _allows(statement: dict, bucket: str, key: str, size: int, content_type: str) -> bool:  # type: ignore[type-arg]
    if "name/cos:PutObject" not in statement.get("action", []):
        return False
    suffix = f":{bucket}/{key}"
    if not any(r.endswith(suffix) or _wildcard_match(r, bucket, key) for r in statement["resource"]):
        return False
    condition = statement.get("condition") or {}
    wanted_type = condition.get("string_equal", {}).get("cos:content-type")
    max_size = condition.get("numeric_less_than_equal", {}).get("cos:content-length")
    if wanted_type is not None and wanted_type != content_type:
        return False
    return max_size is None or size <= max_size


def _wildcard_match(resource: str, bucket: str, key: str) -> bool:
    if not resource.endswith("/*"):
        return False
    prefix = resource.split(f":{bucket}/", 1)[-1][:-1]
    return key.startswith(prefix)
