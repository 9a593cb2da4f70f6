"""Issued temporary credentials and their policies, which the loopback COS endpoint enforces.

Only the local stand-ins write here: the local issuer and the loopback STS
server record each credential they mint, and the loopback COS endpoint reads
it back to verify signatures and enforce the policy. Real STS keeps its own.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any, Protocol

from scf_worker.state.sql import Database


@dataclass(frozen=True)
class Grant:
    """One temporary credential: key pair, session token, policy and expiry (epoch seconds)."""

    access_key_id: str
    secret_key: str = field(repr=False)
    session_token: str = field(repr=False)
    policy: dict[str, Any]
    expires_at: float


class GrantStore(Protocol):
    def put(self, grant: Grant) -> None: ...

    def get(self, access_key_id: str) -> Grant | None: ...


class SqlGrantStore:
    """Grants in the state database's ``upload_grants`` table."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def put(self, grant: Grant) -> None:
        with self.db.transaction() as tx:
            tx.execute(
                "INSERT INTO upload_grants (access_key_id, secret_key, session_token, policy, expires_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (grant.access_key_id, grant.secret_key, grant.session_token, json.dumps(grant.policy),
                 grant.expires_at),
            )

    def get(self, access_key_id: str) -> Grant | None:
        rows = self.db.query("SELECT * FROM upload_grants WHERE access_key_id = ?", (access_key_id,))
        if not rows:
            return None
        row = rows[0]
        return Grant(row["access_key_id"], row["secret_key"], row["session_token"], json.loads(row["policy"]),
                     float(row["expires_at"]))


class MemoryGrantStore:
    """Grants in a dict, for a stand-in running without a state database."""

    def __init__(self) -> None:
        self._grants: dict[str, Grant] = {}
        self._lock = threading.Lock()

    def put(self, grant: Grant) -> None:
        with self._lock:
            self._grants[grant.access_key_id] = grant

    def get(self, access_key_id: str) -> Grant | None:
        with self._lock:
            return self._grants.get(access_key_id)
