"""Webhook endpoints: those in ``WEBHOOK_ENDPOINTS`` plus those stored by the CLI.

An endpoint's id is derived from its URL, so the same URL has the same id in
the environment, the table, the deliveries log and the CLI.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

from scf_worker.observability import logging as obs_logging
from scf_worker.runtime.config import Settings, webhook_url_problem
from scf_worker.state.sql import Database, Row
from scf_worker.webhooks.errors import EndpointNotFound, InvalidEndpoint
from scf_worker.webhooks.signing import decode_secret

SOURCE_ENV = "env"
SOURCE_TABLE = "table"

log = obs_logging.get_logger(__name__)


def endpoint_id_for(url: str) -> str:
    return "ep_" + hashlib.sha256(url.encode()).hexdigest()[:16]


def display_url(url: str) -> str:
    """Return the URL without credentials or query, fit for logs and CLI output.

    Query strings often carry a receiver's token, so only their presence is shown.
    """
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if ":" in netloc:
        netloc = f"[{netloc}]"
    try:
        port = parts.port
    except ValueError:
        port = None  # out of range: delivery reports it as blocked_invalid_url
    if port:
        netloc += f":{port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "…" if parts.query else "", ""))


@dataclass(frozen=True)
class Endpoint:
    """One delivery target with its signing keys (decoded once) and event filter."""

    id: str
    url: str
    secrets: tuple[str, ...] = field(repr=False)
    keys: tuple[bytes, ...] = field(repr=False)
    events: tuple[str, ...] = ()
    source: str = SOURCE_ENV

    @classmethod
    def create(cls, url: str, secrets: Sequence[str], events: Sequence[str] = (),
               source: str = SOURCE_ENV) -> Endpoint:
        """Build an endpoint, decoding its secrets strictly; raise InvalidSecret on a bad one."""
        keys = tuple(decode_secret(secret) for secret in secrets)
        return cls(endpoint_id_for(url), url, tuple(secrets), keys, tuple(events), source)

    @property
    def display_url(self) -> str:
        return display_url(self.url)

    def wants(self, event_name: str) -> bool:
        return not self.events or event_name in self.events


class EndpointStore:
    """The ``webhook_endpoints`` table, merged with the endpoints from the environment."""

    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.clock = clock
        self._from_env: dict[int, list[Endpoint]] = {}

    def configured(self, settings: Settings) -> list[Endpoint]:
        """Return the environment's endpoints, then stored ones whose URL is not among them."""
        # Settings never change within an instance, so their endpoints are decoded once.
        key = id(settings.webhook_endpoints)
        if key not in self._from_env:
            self._from_env[key] = [Endpoint.create(e.url, e.secrets, e.events, SOURCE_ENV)
                                   for e in settings.webhook_endpoints]
        endpoints = list(self._from_env[key])
        env_ids = {endpoint.id for endpoint in endpoints}
        for endpoint in self.stored():
            if endpoint.id in env_ids:
                log.warning("webhook_endpoint_shadowed", endpointId=endpoint.id,
                            detail="WEBHOOK_ENDPOINTS has the same URL; the stored copy is ignored")
                continue
            endpoints.append(endpoint)
        return endpoints

    def stored(self) -> list[Endpoint]:
        rows = self.db.query("SELECT * FROM webhook_endpoints ORDER BY created_at, id")
        endpoints = [_endpoint_from_row(row) for row in rows]
        obs_logging.register_secrets(s for endpoint in endpoints for s in endpoint.secrets)
        return endpoints

    def find(self, settings: Settings, reference: str) -> Endpoint:
        """Return the endpoint whose id or URL is ``reference``; raise EndpointNotFound."""
        for endpoint in self.configured(settings):
            if reference in (endpoint.id, endpoint.url):
                return endpoint
        raise EndpointNotFound(f"no webhook endpoint has id or URL {reference!r};"
                               " run `scf-worker webhooks list` to see them")

    def save(self, url: str, secrets: Sequence[str], events: Iterable[str] = ()) -> Endpoint:
        """Store an endpoint, or replace the secrets and events of the one with this URL.

        Raise InvalidEndpoint for a URL that WEBHOOK_ENDPOINTS would not accept either.
        """
        problem = webhook_url_problem(url)
        if problem is not None:
            raise InvalidEndpoint(f"expected {problem}")
        endpoint = Endpoint.create(url, secrets, tuple(events), SOURCE_TABLE)
        now = self.clock()
        values = (json.dumps(list(endpoint.secrets)), json.dumps(list(endpoint.events)), now)
        with self.db.transaction() as tx:
            inserted = tx.insert(
                "INSERT OR IGNORE INTO webhook_endpoints (id, url, secrets, events, created_at,"
                " updated_at) VALUES (?, ?, ?, ?, ?, ?)",
                (endpoint.id, url, *values[:2], now, now),
            )
            if inserted is None:
                tx.execute("UPDATE webhook_endpoints SET secrets = ?, events = ?, updated_at = ?"
                           " WHERE id = ?", (*values, endpoint.id))
        obs_logging.register_secrets(endpoint.secrets)
        return endpoint

    def delete(self, endpoint_id: str) -> bool:
        return self.db.execute("DELETE FROM webhook_endpoints WHERE id = ?", (endpoint_id,)) > 0


def _endpoint_from_row(row: Row) -> Endpoint:
    return Endpoint.create(row["url"], json.loads(row["secrets"]), json.loads(row["events"]),
                           SOURCE_TABLE)
