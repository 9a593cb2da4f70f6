"""Classify an exception raised by a job into a transient or permanent failure.

Permanent: ``PermanentError`` (invalid input, unsupported media, 4xx other than
408, 425 and 429) and malformed-data errors (``ValueError``, ``KeyError``,
``TypeError``, ``json.JSONDecodeError``). Transient: ``TransientError``
(5xx, 408, 425, 429), timeouts, connection errors, other ``OSError`` and the
state store's errors. Anything else is treated as transient, so an unexpected
bug is retried and then dead-lettered with its class name, never dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

from scf_worker.retry.errors import PermanentError, TransientError

TRANSIENT = "transient"
PERMANENT = "permanent"
# Error text kept in queue rows and dead-letter entries.
MAX_ERROR_CHARS = 1000
_PERMANENT_TYPES: tuple[type[BaseException], ...] = (ValueError, KeyError, TypeError, LookupError)


@dataclass(frozen=True)
class Failure:
    """One failed attempt: its kind, a short code, the error class and a truncated message."""

    kind: str
    code: str
    error_class: str
    message: str
    retry_after_ms: int | None = None
    at: float = 0.0

    @property
    def transient(self) -> bool:
        return self.kind == TRANSIENT

    def as_dict(self) -> dict[str, object]:
        return {"kind": self.kind, "code": self.code, "errorClass": self.error_class,
                "message": self.message, "at": self.at}

    @classmethod
    def from_dict(cls, data: object) -> Failure | None:
        """Rebuild a failure stored by ``as_dict``; return None for anything else."""
        if not isinstance(data, dict) or not isinstance(data.get("message"), str):
            return None
        return cls(kind=str(data.get("kind") or TRANSIENT), code=str(data.get("code") or "error"),
                   error_class=str(data.get("errorClass") or "Exception"),
                   message=data["message"][:MAX_ERROR_CHARS], at=float(data.get("at") or 0.0))


def truncate(text: str, limit: int = MAX_ERROR_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def classify(exc: BaseException, at: float = 0.0) -> Failure:
    """Map an exception to a Failure; only ``PermanentError`` and data errors are permanent."""
    error_class = type(exc).__name__
    message = truncate(str(exc) or error_class)
    if isinstance(exc, PermanentError):
        return Failure(PERMANENT, exc.code, error_class, message, at=at)
    if isinstance(exc, TransientError):
        return Failure(TRANSIENT, exc.code, error_class, message, exc.retry_after_ms, at=at)
    if isinstance(exc, _PERMANENT_TYPES):
        return Failure(PERMANENT, "invalid_input", error_class, message, at=at)
    if isinstance(exc, TimeoutError):
        return Failure(TRANSIENT, "timeout", error_class, message, at=at)
    if isinstance(exc, ConnectionError):
        return Failure(TRANSIENT, "connection_failed", error_class, message, at=at)
    if isinstance(exc, OSError):
        return Failure(TRANSIENT, "io_error", error_class, message, at=at)
    return Failure(TRANSIENT, error_class, error_class, message, at=at)
