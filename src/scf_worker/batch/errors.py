"""Errors of the batch capability: manifest import and upload reconciliation."""

from __future__ import annotations


class BatchError(Exception):
    """Base class for batch failures."""


class ManifestError(BatchError):
    """The manifest as a whole cannot be imported (unreadable, too large, no ``source`` column).

    ``etag`` is the manifest's content tag when it was known before the failure.
    """

    def __init__(self, message: str, etag: str | None = None) -> None:
        self.etag = etag
        super().__init__(message)


class ImportBusy(BatchError):
    """Another invocation holds the import's lease; try again after it expires."""


class LeaseLost(BatchError):
    """This invocation's lease on an import expired and another one took it over."""


class RowRejected(BatchError):
    """One manifest row cannot be imported; ``reason`` is a stable code for the report.

    Raised for problems with the row's data (missing source, too large, not
    media, blocked URL); the row is reported and the import goes on.
    """

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}")


class BlockedUrl(RowRejected):
    """The SSRF guard refused a source URL; ``category`` names the rule that matched.

    The message names the host, never the whole URL, whose query may carry a token.
    """

    def __init__(self, host: str, category: str, detail: str) -> None:
        self.host = host
        self.category = category
        super().__init__("blocked_url", f"{host or 'URL'} {detail}")


class SourceUnavailable(BatchError):
    """Fetching a source failed in a way a later run may not repeat (5xx, timeout, DNS).

    The row is reported as ``failed`` with ``reason``; a rerun tries it again.
    """

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}")
