"""HTTP/1.1 POSTs over pooled asyncio connections, with httptools parsing the responses.

Webhook delivery needs one request shape (a POST with a small body), no
redirects, no cookies, no proxies and no content decoding, and it must connect
to the address the SSRF guard checked. General clients spend most of their
per-request time on what this path does not need: on the machine in
docs/benchmarks.md aiohttp's request machinery costs about three times the
CPU of this module per delivery. Parsing, the part that is easy to get wrong,
is llhttp (Node.js's parser) through httptools.

Connections are kept per (scheme, host, port) and reused while the receiver
allows keep-alive. A reused connection that the receiver closed while idle
fails before any response byte arrives. That request is sent once more on a
new connection, which is safe because receivers dedupe by ``webhook-id``.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import cached_property

import httptools

# The first bytes of a response body that are kept for the delivery record.
KEEP_BYTES = 1024
# Response bodies are read this far so the connection can be reused; a longer
# body closes the connection instead of being downloaded.
DRAIN_LIMIT_BYTES = 64 * 1024
# A status line and headers longer than this fail the attempt, so a hostile receiver
# cannot make the parser buffer without bound.
MAX_HEAD_BYTES = 64 * 1024
# Everything a response may send before it completes: headers, the drained body, chunk
# framing and trailers. Past this the attempt fails, whatever part is growing.
MAX_RESPONSE_BYTES = MAX_HEAD_BYTES + DRAIN_LIMIT_BYTES + 64 * 1024
_STATUS_PREFIX = b"HTTP/"

# Error codes, as stored with a failed attempt.
CONNECT_FAILED = "connect_failed"
DNS_FAILED = "dns_failed"
CONNECT_TIMEOUT = "connect_timeout"
TIMEOUT = "timeout"
TLS_ERROR = "tls_error"
SERVER_DISCONNECTED = "server_disconnected"
BAD_RESPONSE = "bad_response"


class TransportError(Exception):
    """A request that got no complete response; ``code`` is one of the codes above.

    ``reason`` is the operating system's or parser's short reason, never a URL.
    """

    def __init__(self, code: str, reason: str = "") -> None:
        super().__init__(f"{code}: {reason}" if reason else code)
        self.code = code
        self.reason = reason


@dataclass(frozen=True)
class Response:
    status: int
    head: bytes           # at most KEEP_BYTES of the body
    retry_after: str | None


@dataclass(frozen=True)
class Origin:
    """The destination of a connection: the checked host name (or literal address) and port."""

    scheme: str
    host: str
    port: int

    @cached_property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


# Returns the addresses to connect to, already accepted by the SSRF guard.
Addresses = Callable[[Origin], Awaitable[Sequence[str]]]


class _Connection(asyncio.Protocol):
    """One TCP (or TLS) connection carrying one request at a time."""

    def __init__(self, origin: Origin) -> None:
        self.origin = origin
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.waiter: asyncio.Future[Response] | None = None
        self._reset()

    def _reset(self) -> None:
        self.received = False
        self.status = 0
        self.retry_after: str | None = None
        self.framed = False  # the body's end is given by Content-Length or chunking
        self.headers_done = False
        self.head_size = 0
        self.fed = 0
        self.prefix = b""
        self.head = bytearray()
        self.seen = 0
        self.reusable = False

    # Request side

    def start(self, request: bytes, waiter: asyncio.Future[Response]) -> None:
        self._reset()
        self.waiter = waiter
        assert self.transport is not None
        self.transport.write(request)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self.waiter is None:
            # Bytes while no request is pending mean the receiver is out of step, so drop the connection.
            self.close()
            return
        self.received = True
        if len(self.prefix) < len(_STATUS_PREFIX):
            # llhttp also accepts RTSP/ and ICE/ status lines; only HTTP counts as a response.
            self.prefix += data[: len(_STATUS_PREFIX) - len(self.prefix)]
            if not _STATUS_PREFIX.startswith(self.prefix):
                self._fail(TransportError(BAD_RESPONSE, "the response is not HTTP"))
                return
        try:
            self._feed(data)
        except httptools.HttpParserUpgrade:
            self._fail(TransportError(BAD_RESPONSE, "the receiver switched protocols"))
        except httptools.HttpParserError as exc:
            self._fail(TransportError(BAD_RESPONSE, f"malformed HTTP response ({exc})"))

    def _feed(self, data: bytes) -> None:
        """Parse ``data``, failing the request once its headers pass MAX_HEAD_BYTES."""
        self.fed += len(data)
        if not self.headers_done:
            room = MAX_HEAD_BYTES - self.head_size
            if len(data) <= room:
                self.head_size += len(data)
            else:
                self.parser.feed_data(data[:room])
                if not self.headers_done:
                    reason = f"the response headers exceed {MAX_HEAD_BYTES} bytes"
                    self._fail(TransportError(BAD_RESPONSE, reason))
                    return
                data = data[room:]
        self.parser.feed_data(data)
        if self.fed > MAX_RESPONSE_BYTES and self.waiter is not None:
            # Chunk trailers are buffered by the parser like headers; stop them growing too.
            self._fail(TransportError(BAD_RESPONSE, f"the response exceeds {MAX_RESPONSE_BYTES} bytes"
                                      " without completing"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is None or self.waiter.done():
            return
        if self.status >= 200 and not self.framed:
            # A body delimited by the end of the connection (no length, not chunked).
            self._finish()
            return
        reason = getattr(exc, "strerror", None) or "the receiver closed the connection"
        self._fail(TransportError(SERVER_DISCONNECTED, reason))

    # httptools callbacks

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        if name == b"retry-after":
            self.retry_after = value.decode("latin-1")
        elif name in (b"content-length", b"transfer-encoding"):
            self.framed = True

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        self.headers_done = self.status >= 200

    def on_body(self, body: bytes) -> None:
        if len(self.head) < KEEP_BYTES:
            self.head += body[: KEEP_BYTES - len(self.head)]
        self.seen += len(body)
        if self.seen > DRAIN_LIMIT_BYTES:
            self._finish()
            self.close()

    def on_message_complete(self) -> None:
        if self.status < 200:
            # An interim response (100, 103): the final one follows on the same connection.
            self.status = 0
            self.retry_after = None
            self.framed = False
            return
        self.reusable = self.parser.should_keep_alive()
        self._finish()

    def _finish(self) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(Response(self.status, bytes(self.head), self.retry_after))

    def expire(self) -> None:
        """End the pending request at its deadline, saying how far the response got."""
        if self.status >= 200:
            reason = f"the receiver sent status {self.status} but not the whole body"
        else:
            reason = "no response"
        self._fail(TransportError(TIMEOUT, reason))

    def _fail(self, error: TransportError) -> None:
        waiter, self.waiter = self.waiter, None
        self.close()
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)


class Transport:
    """Pooled connections, one request at a time on each, at most ``limit`` open at once."""

    def __init__(self, addresses: Addresses, connect_timeout_seconds: float, timeout_seconds: float,
                 ssl_context: ssl.SSLContext | None = None, limit: int = 100) -> None:
        self.addresses = addresses
        self.connect_timeout = min(connect_timeout_seconds, timeout_seconds)
        self.timeout = timeout_seconds
        self._ssl_context = ssl_context
        self._idle: dict[Origin, deque[_Connection]] = {}
        self._open: set[_Connection] = set()
        self._slots = asyncio.Semaphore(limit)

    async def post(self, origin: Origin, path: str, headers: Sequence[tuple[str, str]],
                   body: bytes) -> Response:
        """POST ``body``; raise TransportError, or whatever ``addresses`` raises for a refused host."""
        request = _request_bytes(origin, path, headers, body)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        async with self._slots:
            connection = self._take_idle(origin)
            if connection is not None:
                try:
                    return await self._exchange(loop, connection, request, deadline)
                except TransportError as exc:
                    if exc.code != SERVER_DISCONNECTED or connection.received:
                        raise
                    # Closed by the receiver while idle: send once more on a new connection.
            connection = await self._connect(origin, deadline)
            return await self._exchange(loop, connection, request, deadline)

    async def close(self) -> None:
        for connection in list(self._open):
            connection.close()
        self._open.clear()
        self._idle.clear()

    def _take_idle(self, origin: Origin) -> _Connection | None:
        idle = self._idle.get(origin)
        while idle:
            connection = idle.pop()
            if not connection.closed:
                return connection
            self._open.discard(connection)
        return None

    async def _exchange(self, loop: asyncio.AbstractEventLoop, connection: _Connection, request: bytes,
                        deadline: float) -> Response:
        waiter: asyncio.Future[Response] = loop.create_future()
        timer = loop.call_at(deadline, connection.expire)
        try:
            connection.start(request, waiter)
            response = await waiter
        except BaseException:
            connection.close()
            self._open.discard(connection)
            raise
        finally:
            timer.cancel()
        if connection.reusable and not connection.closed:
            self._idle.setdefault(connection.origin, deque()).append(connection)
        else:
            connection.close()
            self._open.discard(connection)
        return response

    async def _connect(self, origin: Origin, deadline: float) -> _Connection:
        loop = asyncio.get_running_loop()
        addresses = await self._resolve(origin, deadline - loop.time())
        tls = self._tls() if origin.scheme == "https" else None
        last: TransportError | None = None
        for address in addresses:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            try:
                _, connection = await asyncio.wait_for(
                    loop.create_connection(
                        lambda: _Connection(origin), address, origin.port, ssl=tls,
                        server_hostname=origin.host if tls is not None else None),
                    min(self.connect_timeout, remaining))
            except asyncio.TimeoutError:
                last = TransportError(CONNECT_TIMEOUT, f"no connection within {self.connect_timeout:g} s")
            except ssl.SSLError as exc:
                raise TransportError(TLS_ERROR, exc.reason or type(exc).__name__) from None
            except OSError as exc:
                last = TransportError(CONNECT_FAILED, exc.strerror or type(exc).__name__)
            else:
                self._open.add(connection)
                return connection
        raise last or TransportError(TIMEOUT, "the attempt's time ran out before connecting")

    async def _resolve(self, origin: Origin, seconds: float) -> Sequence[str]:
        """Return the guard-checked addresses; the guard's own refusal propagates unchanged."""
        try:
            return await asyncio.wait_for(self.addresses(origin), max(seconds, 0.001))
        except asyncio.TimeoutError:
            raise TransportError(DNS_FAILED, "resolving the host name timed out") from None
        except UnicodeError:
            raise TransportError(DNS_FAILED, "the host name is not valid in DNS") from None
        except OSError as exc:
            raise TransportError(DNS_FAILED, exc.strerror or type(exc).__name__) from None

    def _tls(self) -> ssl.SSLContext:
        if self._ssl_context is None:
            self._ssl_context = ssl.create_default_context()
        return self._ssl_context


def _request_bytes(origin: Origin, path: str, headers: Sequence[tuple[str, str]], body: bytes) -> bytes:
    fields = "".join([f"{name}: {value}\r\n" for name, value in headers])
    # Each header adds exactly one CRLF; any other CR or LF would start a header of its own.
    if fields.count("\n") != len(headers) or fields.count("\r") != len(headers):
        raise ValueError("a header name or value contains a line break")
    head = f"POST {path} HTTP/1.1\r\nHost: {origin.host_header}\r\nContent-Length: {len(body)}\r\n"
    return (head + fields + "\r\n").encode("latin-1") + body
