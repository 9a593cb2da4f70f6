"""Signed outbound webhooks (Standard Webhooks) and the matching receiver-side check.

Backends import ``verify`` from here; everything else is used by the
webhook-forward function and the CLI. Importing this package does not import
the HTTP client.
"""

from scf_worker.webhooks.errors import (
    BlockedTarget,
    EndpointNotFound,
    InvalidEndpoint,
    InvalidSecret,
    VerificationError,
    WebhookError,
)
from scf_worker.webhooks.receiver import VerifiedWebhook, verify
from scf_worker.webhooks.signing import generate_secret

__all__ = [
    "BlockedTarget",
    "EndpointNotFound",
    "InvalidEndpoint",
    "InvalidSecret",
    "VerificationError",
    "VerifiedWebhook",
    "WebhookError",
    "generate_secret",
    "verify",
]
