"""The async HTTP client behind webhook delivery, on aiohttp.

aiohttp was chosen by measurement: on the 2-core machine in docs/benchmarks.md
it keeps its throughput as concurrency grows, where an httpx loop's connection
pool becomes the bottleneck. This module imports aiohttp at the top, so
callers import it lazily, only when a delivery is about to happen.

One ``ClientSession`` is kept per client, so connections are pooled across
deliveries and, in a warm SCF instance, across invocations. Redirects are never
followed. Every new connection resolves its host through ``GuardedResolver``,
which checks each address with the SSRF guard and hands aiohttp only the
checked addresses, so DNS rebinding cannot switch the target after the check.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from scf_worker import __version__
from scf_worker.observability import logging as obs_logging
from scf_worker.retry.policy import parse_retry_after
from scf_worker.webhooks import delivery as outcomes
from scf_worker.webhooks.delivery import Attempt, Message, outcome_for_status
from scf_worker.webhooks.endpoints import Endpoint
from scf_worker.webhooks.errors import BlockedTarget
from scf_worker.webhooks.guard import GuardPolicy, Target, check_addresses, check_url
from scf_worker.webhooks.signing import signature_headers

HostResolver = Callable[[str, int], Awaitable[Sequence[str]]]
USER_AGENT = f"scf-worker-webhooks/{__version__}"
# Response bodies are read this far so the connection can be reused; a longer
# body closes the connection instead of being downloaded.
DRAIN_LIMIT_BYTES = 64 * 1024
DEFAULT_POOL_LIMIT = 100


async def system_resolver(host: str, port: int) -> list[str]:
    """Resolve with the operating system's resolver (getaddrinfo in a thread)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


class GuardedResolver(AbstractResolver):
    """An aiohttp resolver that returns only addresses the SSRF guard accepted.

    ``plain_http`` contains the (host, port) pairs reached over plain HTTP,
    whose addresses must also be loopback.
    """

    def __init__(self, policy: GuardPolicy, resolve: HostResolver) -> None:
        self.policy = policy
        self.resolve_host = resolve
        self.plain_http: set[tuple[str, int]] = set()

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        name = host.rstrip(".").lower()
        scheme = "http" if (name, port) in self.plain_http else "https"
        answers = await self.resolve_host(name, port)
        addresses = check_addresses(name, answers, self.policy, scheme)
        return [
            ResolveResult(hostname=host, host=str(address), port=port,
                          family=socket.AF_INET6 if address.version == 6 else socket.AF_INET,
                          proto=0, flags=socket.AI_NUMERICHOST)
            for address in addresses
        ]

    async def close(self) -> None:
        return None


class WebhookClient:
    """Sign and POST messages, returning an ``Attempt`` for every HTTP, network or guard outcome."""

    def __init__(self, policy: GuardPolicy, connect_timeout_seconds: float,
                 timeout_seconds: float, clock: Callable[[], float] = time.time,
                 resolver: HostResolver | None = None, ssl_context: ssl.SSLContext | None = None,
                 pool_limit: int = DEFAULT_POOL_LIMIT) -> None:
        self.policy = policy
        self.clock = clock
        # One deadline per attempt (the total timeout, connect included) plus a connect limit.
        # aiohttp re-arms a sock_read timer on every received chunk. One total timer per
        # attempt costs less CPU and also bounds a receiver that trickles its response.
        self.timeout = aiohttp.ClientTimeout(total=timeout_seconds,
                                             sock_connect=min(connect_timeout_seconds, timeout_seconds))
        self.resolver = GuardedResolver(policy, resolver or system_resolver)
        self.ssl_context = ssl_context
        self.pool_limit = pool_limit
        self._session: aiohttp.ClientSession | None = None
        self._targets: dict[str, Target] = {}

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self.pool_limit, use_dns_cache=False, resolver=self.resolver,
                ssl=self.ssl_context if self.ssl_context is not None else True,
            )
            # trust_env stays off: a proxy from the environment would bypass the guard.
            self._session = aiohttp.ClientSession(connector=connector, timeout=self.timeout,
                                                  trust_env=False, auto_decompress=False)
        return self._session

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()

    async def send_all(self, jobs: Iterable[tuple[Endpoint, Message]]) -> list[Attempt]:
        """Send to several endpoints concurrently; attempts come back in the same order."""
        return list(await asyncio.gather(*(self.send(endpoint, message) for endpoint, message in jobs)))

    async def send(self, endpoint: Endpoint, message: Message) -> Attempt:
        attempted_at = self.clock()
        try:
            target = self._check(endpoint.url)
        except BlockedTarget as exc:
            return _blocked(endpoint, message, attempted_at, exc)

        signed_at = int(attempted_at)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            **signature_headers(endpoint.keys, message.webhook_id, signed_at, message.body),
        }
        if message.request_id:
            headers["x-scf-request-id"] = message.request_id
        started = time.monotonic()
        try:
            async with self._get_session().post(endpoint.url, data=message.body, headers=headers,
                                                allow_redirects=False) as response:
                head = await _read_head(response)
                status = response.status
                retry_after = response.headers.get("Retry-After")
        except BlockedTarget as exc:
            return _blocked(endpoint, message, attempted_at, exc)
        except asyncio.TimeoutError as exc:
            pending = Attempt.begin(endpoint.id, message, attempted_at)
            if isinstance(exc, aiohttp.ConnectionTimeoutError):
                code, detail = "connect_timeout", f"connecting to {target.host}:{target.port} timed out"
            else:
                code = "timeout"
                detail = (f"{target.host}:{target.port} did not respond within"
                          f" {self.timeout.total:g} s (WEBHOOK_TIMEOUT_MS)")
            return pending.finish(outcomes.TIMEOUT, code=code, latency_ms=_elapsed_ms(started),
                                  signed_at=signed_at, detail=detail)
        except (aiohttp.ClientError, OSError) as exc:
            blocked = _blocked_cause(exc)
            if blocked is not None:
                return _blocked(endpoint, message, attempted_at, blocked)
            pending = Attempt.begin(endpoint.id, message, attempted_at)
            return pending.finish(outcomes.CONNECTION_FAILED, code=_error_code(exc), signed_at=signed_at,
                                  latency_ms=_elapsed_ms(started), detail=_error_detail(exc, target))

        outcome = outcome_for_status(status)
        delivered = outcome == outcomes.DELIVERED
        return Attempt(
            message.webhook_id, endpoint.id, message.event_name, message.job_id, outcome,
            message.body_sha256, attempted_at, status=status,
            code=None if delivered else f"http_{status}", latency_ms=_elapsed_ms(started),
            response_head=_scrub(head, headers["webhook-signature"]) if head else "",
            signed_at=signed_at, retry_after_ms=parse_retry_after(retry_after, attempted_at),
            detail="" if delivered else _status_detail(status),
        )

    def _check(self, url: str) -> Target:
        """Run the static URL checks, caching accepted URLs (the checks depend only on the URL)."""
        target = self._targets.get(url)
        if target is None:
            target = check_url(url, self.policy)
            if target.scheme == "http":
                self.resolver.plain_http.add((target.host, target.port))
            self._targets[url] = target
        return target


async def _read_head(response: aiohttp.ClientResponse) -> bytes:
    """Keep the first 1 KB of the body; drain a short rest so the connection can be reused."""
    length = response.content_length
    if length is not None and length <= DRAIN_LIMIT_BYTES:
        # The common case (a short body of known length) in one read, like a plain client.
        return (await response.read())[: outcomes.RESPONSE_KEEP_BYTES]
    kept = bytearray()
    seen = 0
    async for chunk in response.content.iter_chunked(8192):
        if len(kept) < outcomes.RESPONSE_KEEP_BYTES:
            kept += chunk[: outcomes.RESPONSE_KEEP_BYTES - len(kept)]
        seen += len(chunk)
        if seen > DRAIN_LIMIT_BYTES:
            response.close()
            break
    return bytes(kept)


def _scrub(head: bytes, signatures: str) -> str:
    """Decode a response head and mask anything secret a receiver may have echoed back."""
    text = head.decode("utf-8", "replace")
    for signature in signatures.split(" "):
        value = signature.partition(",")[2]
        if value and value in text:
            text = text.replace(value, obs_logging.REDACTED)
    return obs_logging.redact_text(text)


def _blocked(endpoint: Endpoint, message: Message, attempted_at: float, exc: BlockedTarget) -> Attempt:
    return Attempt.begin(endpoint.id, message, attempted_at).finish(
        outcomes.BLOCKED, code=f"blocked_{exc.category}", detail=str(exc))


def _blocked_cause(exc: BaseException) -> BlockedTarget | None:
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, BlockedTarget):
            return cause
        cause = cause.__cause__ or cause.__context__
    return None


def _elapsed_ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def _error_code(exc: BaseException) -> str:
    if isinstance(exc, aiohttp.ClientSSLError):
        return "tls_error"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "server_disconnected"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return "connect_failed"
    return "connection_failed"


def _error_detail(exc: BaseException, target: Target) -> str:
    # aiohttp's own messages can include the full URL (and its query token), so
    # only the exception type, the host and the OS reason are kept.
    reason = ""
    os_error: Any = getattr(exc, "os_error", None) or (exc if isinstance(exc, OSError) else None)
    if os_error is not None and getattr(os_error, "strerror", None):
        reason = f": {os_error.strerror}"
    return f"{type(exc).__name__} reaching {target.host}:{target.port}{reason}"


def _status_detail(status: int) -> str:
    if 300 <= status < 400:
        return f"receiver answered {status}; redirects are not followed, configure the final URL"
    if status == 410:
        return "receiver answered 410 Gone; the endpoint is disabled"
    return f"receiver answered {status}"
