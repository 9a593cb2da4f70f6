"""Errors of the webhook capability."""


class WebhookError(Exception):
    """Base class for webhook failures."""


class InvalidSecret(WebhookError):
    """A ``whsec_`` secret is malformed or shorter than the minimum key length."""


class VerificationError(WebhookError):
    """A signature is missing, malformed, stale or does not match."""
