"""One JSON object per log line, with per-invocation context and redaction.

CLS indexes first-level keys whose values are strings or numbers, so context
and extra fields stay flat. Redaction happens in the formatter: any registered
secret value is replaced wherever it appears, and fields whose names look like
credentials are masked. A call site that logs either therefore does not leak it;
a secret that was never registered is only caught by its field name.
"""

from __future__ import annotations

import contextvars
import functools
import json
import logging
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

LOGGER_NAME = "scf_worker"
REDACTED = "[REDACTED]"
_SENSITIVE_PARTS = ("secret", "token", "signature", "password", "authorization", "credential")
# Third-party loggers that print credentials or signed URLs at DEBUG.
_NOISY_LOGGERS = ("qcloud_cos", "tencentcloud", "urllib3", "pika")

_context: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "scf_worker_log_context", default=None
)
_secrets: set[str] = set()
_debug_sampled: contextvars.ContextVar[bool] = contextvars.ContextVar("scf_worker_debug", default=False)
# Event fields that may be logged when LOG_EVENTS=true; everything else is dropped.
EVENT_FIELD_ALLOW_LIST = ("httpMethod", "path", "isBase64Encoded", "Type", "TriggerName", "Time")
HEADER_ALLOW_LIST = ("content-type", "content-length", "user-agent", "x-api-requestid", "origin")


def register_secrets(values: Iterable[str]) -> None:
    """Add values that must never be written; short values are ignored to avoid noise."""
    _secrets.update(value for value in values if value and len(value) >= 6)


def bind(**fields: Any) -> None:
    """Add fields to every log line of the current invocation."""
    current = dict(_context.get() or {})
    current.update({k: v for k, v in fields.items() if v is not None})
    _context.set(current)


def clear() -> None:
    _context.set({})


def sample_debug(rate: float, draw: float | None = None) -> bool:
    """Decide once per invocation whether its DEBUG lines are written; return the decision."""
    import random

    sampled = rate > 0 and (random.random() if draw is None else draw) < rate  # noqa: S311
    _debug_sampled.set(sampled)
    return sampled


class _DebugSampler(logging.Filter):
    """Drop DEBUG records unless the current invocation was sampled."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.DEBUG or _debug_sampled.get()


def event_summary(event: Any) -> dict[str, Any]:
    """Return the allow-listed parts of a trigger event, safe to log."""
    if not isinstance(event, dict):
        return {"eventType": type(event).__name__}
    summary: dict[str, Any] = {k: event[k] for k in EVENT_FIELD_ALLOW_LIST if k in event}
    headers = event.get("headers")
    if isinstance(headers, dict):
        lowered = {str(k).lower(): v for k, v in headers.items()}
        summary["headers"] = {k: lowered[k] for k in HEADER_ALLOW_LIST if k in lowered}
    records = event.get("Records")
    if isinstance(records, list):
        summary["records"] = len(records)
        keys = [r.get("cos", {}).get("cosObject", {}).get("key") for r in records
                if isinstance(r, dict) and isinstance(r.get("cos"), dict)]
        summary["keys"] = [k for k in keys if k][:10]
    return summary


@contextmanager
def bound(**fields: Any) -> Iterator[None]:
    """Bind fields for the duration of a block, then restore the previous context."""
    token = _context.set({**(_context.get() or {}), **fields})
    try:
        yield
    finally:
        _context.reset(token)


def redact_text(text: str) -> str:
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


@functools.lru_cache(maxsize=1024)
def _is_sensitive(name: str) -> bool:
    lowered = name.lower()
    return any(part in lowered for part in _SENSITIVE_PARTS)


def _flat(value: Any) -> str | int | float:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float, str)):
        return value
    return json.dumps(value, ensure_ascii=False, default=str, sort_keys=True)


class JsonFormatter(logging.Formatter):
    """Format a record as one flat JSON object with context fields."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "event": record.getMessage(),
            "logger": record.name,
        }
        payload.update(_context.get() or {})
        payload.update(getattr(record, "fields", {}))
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            payload.setdefault("errorClass", type(error).__name__)
            payload["exception"] = self.formatException(record.exc_info)
        line = {
            key: (REDACTED if _is_sensitive(key) and value not in (None, "") else _flat(value))
            for key, value in payload.items()
            if value is not None
        }
        return redact_text(json.dumps(line, ensure_ascii=False, default=str))


class _FieldsAdapter(logging.LoggerAdapter):  # type: ignore[type-arg]
    """Let call sites pass fields as keyword arguments: ``log.info("x", jobId=...)``."""

    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        reserved = {"exc_info", "stack_info", "stacklevel", "extra"}
        fields = {k: kwargs.pop(k) for k in list(kwargs) if k not in reserved}
        kwargs["extra"] = {**kwargs.get("extra", {}), "fields": fields}
        return msg, kwargs


def get_logger(name: str = LOGGER_NAME) -> _FieldsAdapter:
    return _FieldsAdapter(logging.getLogger(name), {})


def configure(level: str = "INFO", stream: Any = None, debug_sample_rate: float = 0.0) -> None:
    """Install the JSON handler on the package logger once; later calls only set the level.

    With ``debug_sample_rate`` above 0 the logger runs at DEBUG, and a filter
    keeps DEBUG lines only for invocations chosen by ``sample_debug``.
    """
    root = logging.getLogger(LOGGER_NAME)
    root.setLevel("DEBUG" if debug_sample_rate > 0 and level != "DEBUG" else level)
    root.propagate = False
    if not any(getattr(h, "_scf_worker", False) for h in root.handlers):
        stream_handler = logging.StreamHandler(stream or sys.stdout)
        stream_handler.setFormatter(JsonFormatter())
        stream_handler._scf_worker = True  # type: ignore[attr-defined]
        root.addHandler(stream_handler)
    for handler in root.handlers:
        handler.filters = [f for f in handler.filters if not isinstance(f, _DebugSampler)]
        if debug_sample_rate > 0 and level != "DEBUG":
            handler.addFilter(_DebugSampler())
    for noisy in _NOISY_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.WARNING)
