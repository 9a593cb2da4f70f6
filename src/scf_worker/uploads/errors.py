"""Errors of the upload-credential capability."""

from __future__ import annotations


class UploadError(Exception):
    """Base class for media-sign failures."""


class PolicyRejected(UploadError):
    """A policy failed the self-check; nothing is issued."""


class IssuerError(UploadError):
    """The credential issuer (STS or the local stand-in) failed.

    ``code`` is the upstream error code (for example ``AuthFailure.SignatureFailure``
    or ``ClientNetworkError``) and is safe to log. The message never contains the
    upstream text, because that text can echo request details.
    """

    def __init__(self, message: str, code: str = "unknown") -> None:
        super().__init__(message)
        self.code = code
