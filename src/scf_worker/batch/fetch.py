"""Fetch an https:// source into a local file, through the SSRF guard and within the size limit.

Importing this module loads http.client and ssl, so the importer imports it on
first use. Redirects are followed only after the guard admits the new URL. The body is
streamed to disk, and the transfer stops as soon as it passes the size limit,
whatever the Content-Length header declared. Logs and errors name the host,
never the URL, whose query may carry a signature.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin

from scf_worker.batch.errors import RowRejected, SourceUnavailable
from scf_worker.batch.guard import AdmittedUrl, UrlGuard, describe_url

__all__ = ["Fetched", "HttpsFetcher", "describe_url"]

READ_BYTES = 64 * 1024
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
NOT_FOUND_STATUSES = frozenset({404, 410})
USER_AGENT = "scf-worker-import/1"


@dataclass(frozen=True)
class Fetched:
    """A downloaded source: its size and the Content-Type the server declared."""

    size: int
    declared_type: str | None


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """An HTTPS connection to one admitted address that still verifies the certificate for the host."""

    def __init__(self, host: str, address: str, port: int, timeout: float,
                 context: ssl.SSLContext) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self._address = address
        self._ssl_context = context

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        try:
            self.sock = self._ssl_context.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise


class HttpsFetcher:
    """Download https:// sources; every hop passes the guard and the limits."""

    def __init__(self, guard: UrlGuard, max_bytes: int, timeout_seconds: float, total_seconds: float,
                 max_redirects: int = 3, ssl_context: ssl.SSLContext | None = None,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.guard = guard
        self.max_bytes = max_bytes
        self.timeout_seconds = timeout_seconds
        self.total_seconds = total_seconds
        self.max_redirects = max_redirects
        self.ssl_context = ssl_context or ssl.create_default_context()
        self.monotonic = monotonic

    def fetch(self, url: str, dest: Path) -> Fetched:
        """Download ``url`` into ``dest``; raise RowRejected or SourceUnavailable on failure."""
        give_up_at = self.monotonic() + self.total_seconds
        current = url
        for _ in range(self.max_redirects + 1):
            admitted = self.guard.admit(current)
            location, declared_type = self._get(admitted, dest, give_up_at)
            if location is None:
                return Fetched(dest.stat().st_size, declared_type)
            current = urljoin(current, location)
        raise RowRejected("source_rejected", f"more than {self.max_redirects} redirects")

    def _connect(self, admitted: AdmittedUrl) -> http.client.HTTPSConnection:
        last_error: Exception | None = None
        for address in admitted.addresses:
            connection = _PinnedHTTPSConnection(admitted.host, address, admitted.port,
                                                self.timeout_seconds, self.ssl_context)
            try:
                connection.connect()
                return connection
            except ssl.SSLCertVerificationError as exc:
                connection.close()
                raise SourceUnavailable("fetch_failed", f"TLS certificate of {admitted.host} did not"
                                        f" verify: {exc.verify_message}") from None
            except OSError as exc:
                connection.close()
                last_error = exc
        raise SourceUnavailable("fetch_failed", f"could not connect to {admitted.host}:"
                                f" {type(last_error).__name__}") from None

    def _get(self, admitted: AdmittedUrl, dest: Path,
             give_up_at: float) -> tuple[str | None, str | None]:
        """GET one admitted URL into ``dest``.

        Return (redirect target, None) for a redirect, or (None, declared Content-Type)
        once the body is stored.
        """
        connection = self._connect(admitted)
        try:
            connection.request("GET", admitted.target, headers={"User-Agent": USER_AGENT,
                                                                 "Accept": "*/*"})
            response = connection.getresponse()
            status = response.status
            if status in REDIRECT_STATUSES:
                location = response.getheader("Location")
                if not location:
                    raise RowRejected("source_rejected", f"{admitted.host} returned HTTP {status}"
                                                         " without a Location header")
                return location, None
            self._check_status(admitted.host, status)
            self._check_length(response.getheader("Content-Length"))
            self._stream(response, dest, give_up_at, admitted.host)
            return None, response.getheader("Content-Type")
        except (OSError, http.client.HTTPException) as exc:
            raise SourceUnavailable("fetch_failed", f"reading from {admitted.host} failed:"
                                    f" {type(exc).__name__}") from None
        finally:
            connection.close()

    @staticmethod
    def _check_status(host: str, status: int) -> None:
        if status == 200:
            return
        if status in NOT_FOUND_STATUSES:
            raise RowRejected("source_not_found", f"{host} returned HTTP {status}")
        if status >= 500 or status in (408, 425, 429):
            raise SourceUnavailable("fetch_failed", f"{host} returned HTTP {status}")
        raise RowRejected("source_rejected", f"{host} returned HTTP {status}")

    def _check_length(self, declared: str | None) -> None:
        if declared is not None and declared.strip().isdigit() and int(declared) > self.max_bytes:
            raise RowRejected("too_large", f"the source declares {int(declared)} bytes, over the"
                                           f" {self.max_bytes}-byte limit")

    def _stream(self, response: http.client.HTTPResponse, dest: Path, give_up_at: float,
                host: str) -> None:
        received = 0
        with dest.open("wb") as handle:
            while True:
                chunk = response.read(READ_BYTES)
                if not chunk:
                    return
                received += len(chunk)
                if received > self.max_bytes:
                    raise RowRejected("too_large", f"the source is over the {self.max_bytes}-byte limit")
                if self.monotonic() > give_up_at:
                    raise SourceUnavailable("fetch_failed", f"downloading from {host} took longer than"
                                                            f" {self.total_seconds:g} s")
                handle.write(chunk)
