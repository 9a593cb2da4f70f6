"""Log lines for people: ``HH:MM:SS LEVEL function event key=value`` on a terminal.

The fields come from the JSON formatter, so redaction is exactly the same.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

from scf_worker.observability.logging import LOGGER_NAME, JsonFormatter

_SHOWN_FIRST = ("ts", "level", "function", "event", "logger")
_COLOURS = {"DEBUG": "\033[2m", "INFO": "", "WARNING": "\033[33m", "ERROR": "\033[31m",
            "CRITICAL": "\033[31m"}


class ConsoleFormatter(logging.Formatter):
    def __init__(self, colour: bool = True) -> None:
        super().__init__()
        self._json = JsonFormatter()
        self.colour = colour

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = json.loads(self._json.format(record))
        level = str(fields.get("level", ""))
        head = f"{str(fields.get('ts', ''))[11:19]} {level:<7} {fields.get('function', '-'):<16}" \
               f" {fields.get('event', '')}"
        rest = " ".join(f"{k}={v}" for k, v in fields.items() if k not in _SHOWN_FIRST and k != "exception")
        line = f"{head}  {rest}" if rest else head
        if "exception" in fields:
            line += "\n" + str(fields["exception"])
        if self.colour and _COLOURS.get(level):
            return f"{_COLOURS[level]}{line}\033[0m"
        return line


def use_console_format_if_terminal(stream: Any = None) -> bool:
    """Switch the package's handlers to the console format when ``stream`` is a terminal."""
    stream = stream or sys.stderr
    if not getattr(stream, "isatty", lambda: False)():
        return False
    for handler in logging.getLogger(LOGGER_NAME).handlers:
        if getattr(handler, "_scf_worker", False):
            handler.setFormatter(ConsoleFormatter())
    return True
