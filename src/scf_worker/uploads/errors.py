"""Errors of the upload-credential capability."""

from __future__ import annotations


class UploadError(Exception):
    """Base class for media-sign failures."""


class PolicyRejected(UploadError):
    """A policy failed the self-check; nothing is issued."""


class IssuerError(UploadError):
    """The credential issuer (STS or the local stand-in) failed."""


class GrantDenied(UploadError):
    """An upload does not match the credential's policy (the local store's 403)."""
