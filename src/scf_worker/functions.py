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

    def handler(self) -> Handler:
        handler: Handler = importlib.import_module(self.module).main_handler
        return handler


FUNCTIONS: dict[str, FunctionSpec] = {
    spec.name: spec
    for spec in (
        FunctionSpec("media-sign", "scf_worker.handlers.media_sign", "/upload/sign"),
        FunctionSpec("cos-callback", "scf_worker.handlers.cos_callback", "/cos/callback"),
        FunctionSpec("transcode", "scf_worker.handlers.transcode"),
        FunctionSpec("webhook-forward", "scf_worker.handlers.webhook_forward"),
        FunctionSpec("media-import", "scf_worker.handlers.media_import", "/batch/import"),
        FunctionSpec("reconcile", "scf_worker.handlers.reconcile"),
    )
}


def get_function(name: str) -> FunctionSpec:
    try:
        return FUNCTIONS[name]
    except KeyError:
        raise KeyError(f"unknown function {name!r}; known: {', '.join(FUNCTIONS)}") from None
