"""The suite's functions: name, handler module and the folder under ``scf/``."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Handler = Callable[[Any, Any], Any]


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    module: str
    http_route: str | None = None
    # Mirrors "timeout" in scf/<name>/config.json; a test keeps the two equal.
    timeout_seconds: int = 3

    def handler(self) -> Handler:
        handler: Handler = importlib.import_module(self.module).main_handler
        return handler


FUNCTIONS: dict[str, FunctionSpec] = {
    spec.name: spec
    for spec in (
        FunctionSpec("media-sign", "scf_worker.handlers.media_sign", "/upload/sign", 10),
        FunctionSpec("cos-callback", "scf_worker.handlers.cos_callback", "/cos/callback", 30),
        FunctionSpec("transcode", "scf_worker.handlers.transcode", None, 900),
        FunctionSpec("webhook-forward", "scf_worker.handlers.webhook_forward", None, 30),
    )
}


def get_function(name: str) -> FunctionSpec:
    try:
        return FUNCTIONS[name]
    except KeyError:
        raise KeyError(f"unknown function {name!r}; known: {', '.join(FUNCTIONS)}") from None
