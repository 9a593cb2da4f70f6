"""The client behind webhook delivery: sign, guard, POST, and turn every outcome into an Attempt.

Requests go through ``transport.Transport`` (pooled asyncio connections,
httptools parsing), chosen by measurement over aiohttp and httpx; see
docs/benchmarks.md. This module imports httptools at the top, so callers
import it lazily, only when a delivery is about to happen.

Connections are pooled across deliveries and, in a warm SCF instance, across
invocations. Redirects are never followed, and a 3xx status is recorded like any other.
Every new connection resolves its host again and checks each address with the
SSRF guard, and the transport connects to exactly those checked addresses, so
DNS rebinding cannot switch the target after the check.
"""

from __future__ import annotations

import asyncio
import re
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from urllib.parse import parse_qsl, quote, urlsplit

from scf_worker import __version__
from scf_worker.observability import logging as obs_logging
from scf_worker.retry.policy import parse_retry_after
from scf_worker.webhooks import delivery as outcomes
from scf_worker.webhooks.delivery import Attempt, Message, outcome_for_status
from scf_worker.webhooks.endpoints import Endpoint
from scf_worker.webhooks.errors import BlockedTarget
from scf_worker.webhooks.guard import GuardPolicy, Target, check_addresses, check_url
from scf_worker.webhooks.signing import SECRET_PREFIX, signature_headers
from scf_worker.webhooks.transport import (
    CONNECT_TIMEOUT,
    TIMEOUT,
    Origin,
    Response,
    Transport,
    TransportError,
)

log = obs_logging.get_logger(__name__)
HostResolver = Callable[[str, int], Awaitable[Sequence[str]]]
USER_AGENT = f"scf-worker-webhooks/{__version__}"
DEFAULT_POOL_LIMIT = 100
# A request id from the event is echoed as a header only when it is a plain token.
_HEADER_TOKEN = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


async def system_resolver(host: str, port: int) -> list[str]:
    """Resolve with the operating system's resolver (getaddrinfo in a thread)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


class _Route:
    """A URL's guard target, origin and request path, computed before any network access."""

    __slots__ = ("origin", "path", "query_values", "target")

    def __init__(self, target: Target) -> None:
        parts = urlsplit(target.url)
        # Query values often are receiver tokens; short ones would mask ordinary words. Both
        # the decoded and the raw (percent-encoded) form are kept, since a receiver may echo either.
        raw_values = [pair.partition("=")[2] for pair in parts.query.split("&")]
        decoded = [value for _, value in parse_qsl(parts.query)]
        self.query_values = sorted({v for v in raw_values + decoded if len(v) >= 6}, key=len, reverse=True)
        # Non-ASCII and spaces are percent-encoded; existing escapes and reserved characters stay.
        path = quote(parts.path or "/", safe="/%:@!$&'()*+,;=-._~")
        if parts.query:
            path += "?" + quote(parts.query, safe="/?%:@!$&'()*+,;=-._~")
        self.target = target
        self.origin = Origin(target.scheme, target.host, target.port)
        self.path = path

    def secrets_of(self, endpoint: Endpoint) -> list[str]:
        """Return the texts to mask in this endpoint's responses, besides the signatures."""
        # Whole secrets first, so an echoed whsec_ value is masked as one piece.
        keys = [secret.removeprefix(SECRET_PREFIX) for secret in endpoint.secrets]
        return [*endpoint.secrets, *keys, *self.query_values]


class WebhookClient:
    """Sign and POST messages, returning an ``Attempt`` for every HTTP, network or guard outcome."""

    def __init__(self, policy: GuardPolicy, connect_timeout_seconds: float,
                 timeout_seconds: float, clock: Callable[[], float] = time.time,
                 resolver: HostResolver | None = None, ssl_context: ssl.SSLContext | None = None,
                 pool_limit: int = DEFAULT_POOL_LIMIT) -> None:
        self.policy = policy
        self.clock = clock
        self.timeout_seconds = timeout_seconds
        self.resolve_host = resolver or system_resolver
        self.transport = Transport(self._addresses, connect_timeout_seconds, timeout_seconds,
                                   ssl_context, pool_limit)
        self._routes: dict[str, _Route] = {}
        self._literals: dict[Origin, str] = {}

    async def close(self) -> None:
        await self.transport.close()

    async def send_all(self, jobs: Iterable[tuple[Endpoint, Message]]) -> list[Attempt]:
        """Send to several endpoints concurrently; attempts come back in the same order."""
        return list(await asyncio.gather(*(self.send(endpoint, message) for endpoint, message in jobs)))

    async def send(self, endpoint: Endpoint, message: Message) -> Attempt:
        attempted_at = self.clock()
        try:
            route = self._route(endpoint.url)
        except BlockedTarget as exc:
            return _blocked(endpoint, message, attempted_at, exc)

        signed_at = int(attempted_at)
        signatures = signature_headers(endpoint.keys, message.webhook_id, signed_at, message.body)
        headers = [("Content-Type", "application/json"), ("User-Agent", USER_AGENT),
                   *signatures.items()]
        if message.request_id and _HEADER_TOKEN.match(message.request_id):
            headers.append(("x-scf-request-id", message.request_id))
        started = time.monotonic()
        try:
            response = await self.transport.post(route.origin, route.path, headers, message.body)
        except BlockedTarget as exc:
            return _blocked(endpoint, message, attempted_at, exc)
        except TransportError as exc:
            timed_out = exc.code in (TIMEOUT, CONNECT_TIMEOUT)
            outcome = outcomes.TIMEOUT if timed_out else outcomes.CONNECTION_FAILED
            return Attempt.begin(endpoint.id, message, attempted_at).finish(
                outcome, code=exc.code, latency_ms=_elapsed_ms(started), signed_at=signed_at,
                detail=self._failure_detail(exc, route.origin))
        except Exception as exc:  # noqa: BLE001 (one endpoint's failure must not lose the others' attempts)
            log.error("webhook_client_failed", endpointId=endpoint.id, errorClass=type(exc).__name__)
            return Attempt.begin(endpoint.id, message, attempted_at).finish(
                outcomes.CONNECTION_FAILED, code="client_error", latency_ms=_elapsed_ms(started),
                signed_at=signed_at, detail=f"{type(exc).__name__} while sending to {route.origin.host}")
        head = ""
        if response.head:
            # Built only when there is text to scrub; most receivers send an empty body.
            masks = [*signatures["webhook-signature"].split(" "), *route.secrets_of(endpoint)]
            head = _scrub(response.head, masks)
        return _answered(endpoint, message, attempted_at, signed_at, started, response, head)

    def _failure_detail(self, exc: TransportError, origin: Origin) -> str:
        # Host and port only: the URL's path and query may carry a token.
        where = f"{origin.host}:{origin.port}"
        if exc.code == CONNECT_TIMEOUT:
            return f"connecting to {where} timed out"
        if exc.code == TIMEOUT:
            return (f"{where} did not complete its response within {self.timeout_seconds:g} s"
                    f" (WEBHOOK_TIMEOUT_MS): {exc.reason}")
        return f"{exc.code} reaching {where}" + (f": {exc.reason}" if exc.reason else "")

    async def _addresses(self, origin: Origin) -> list[str]:
        """Resolve a host for a new connection and keep only what the guard accepts."""
        literal = self._literals.get(origin)
        if literal is not None:
            # check_url already refused every disallowed literal address.
            return [literal]
        answers = await self.resolve_host(origin.host, origin.port)
        return [str(address) for address in
                check_addresses(origin.host, answers, self.policy, origin.scheme)]

    def _route(self, url: str) -> _Route:
        """Run the static URL checks, caching accepted URLs (the checks depend only on the URL)."""
        route = self._routes.get(url)
        if route is None:
            route = _Route(check_url(url, self.policy))
            if route.target.literal is not None:
                self._literals[route.origin] = str(route.target.literal)
            self._routes[url] = route
        return route


def _answered(endpoint: Endpoint, message: Message, attempted_at: float, signed_at: int,
              started: float, response: Response, head: str) -> Attempt:
    status = response.status
    outcome = outcome_for_status(status)
    delivered = outcome == outcomes.DELIVERED
    return Attempt(
        message.webhook_id, endpoint.id, message.event_name, message.job_id, outcome,
        message.body_sha256, attempted_at, status=status,
        code=None if delivered else f"http_{status}", latency_ms=_elapsed_ms(started),
        response_head=head,
        signed_at=signed_at, retry_after_ms=parse_retry_after(response.retry_after, attempted_at),
        detail="" if delivered else _status_detail(status),
    )


def _scrub(head: bytes, masks: Sequence[str]) -> str:
    """Decode a response head and mask anything secret a receiver may have echoed back.

    ``masks`` are this attempt's signatures (``v1,<base64>``, the base64 part is masked),
    the endpoint's secrets without their ``whsec_`` prefix and the URL's query values.
    """
    text = head.decode("utf-8", "replace")
    for mask in masks:
        value = mask.partition(",")[2] if mask.startswith("v1,") else mask
        if value and value in text:
            text = text.replace(value, obs_logging.REDACTED)
    return obs_logging.redact_text(text)


def _blocked(endpoint: Endpoint, message: Message, attempted_at: float, exc: BlockedTarget) -> Attempt:
    return Attempt.begin(endpoint.id, message, attempted_at).finish(
        outcomes.BLOCKED, code=f"blocked_{exc.category}", detail=str(exc))


def _elapsed_ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def _status_detail(status: int) -> str:
    if 300 <= status < 400:
        return f"receiver answered {status}; redirects are not followed, configure the final URL"
    if status == 410:
        return "receiver answered 410 Gone; the endpoint is disabled"
    return f"receiver answered {status}"
