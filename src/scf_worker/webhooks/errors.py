"""Errors of the webhook capability."""

from __future__ import annotations


class WebhookError(Exception):
    """Base class for webhook failures."""


class InvalidSecret(WebhookError):
    """A ``whsec_`` secret is malformed or shorter than the minimum key length."""


class VerificationError(WebhookError):
    """A signature is missing, malformed, stale or does not match."""


class BlockedTarget(WebhookError):
    """The SSRF guard refused a webhook host; ``category`` names the rule that matched.

    The message names the host and never the full URL, whose path or query may
    carry a token.
    """

    def __init__(self, host: str, category: str, reason: str) -> None:
        self.host = host
        self.category = category
        super().__init__(f"webhook host {host} {reason}")


class EndpointNotFound(WebhookError):
    """No configured or stored endpoint has the given id or URL."""


class InvalidEndpoint(WebhookError):
    """An endpoint URL that cannot be stored: wrong scheme, no host or an invalid port."""
