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
    # Variables the function cannot run without; ``scf-worker check`` requires them in config.json.
    required_env: tuple[str, ...] = ()
    # The function runs ffmpeg, so its package needs the binary or a layer that provides it.
    needs_ffmpeg: bool = False
    # Whether the function consumes its own topic on the durable queue.
    consumes_queue: bool = False

    def handler(self) -> Handler:
        handler: Handler = importlib.import_module(self.module).main_handler
        return handler


DLQ_REPLAY_TIMEOUT = 900

FUNCTIONS: dict[str, FunctionSpec] = {
    spec.name: spec
    for spec in (
        FunctionSpec("media-sign", "scf_worker.handlers.media_sign", "/upload/sign", 10,
                     required_env=("COS_BUCKET", "COS_REGION", "STATE_URL", "AUTH_JWT_SECRET")),
        FunctionSpec("cos-callback", "scf_worker.handlers.cos_callback", "/cos/callback", 30,
                     required_env=("COS_BUCKET", "COS_REGION", "STATE_URL", "CALLBACK_SHARED_SECRET")),
        FunctionSpec("transcode", "scf_worker.handlers.transcode", None, 900,
                     required_env=("COS_BUCKET", "COS_REGION", "STATE_URL"), needs_ffmpeg=True,
                     consumes_queue=True),
        FunctionSpec("webhook-forward", "scf_worker.handlers.webhook_forward", None, 30,
                     required_env=("STATE_URL", "WEBHOOK_ENDPOINTS"), consumes_queue=True),
        FunctionSpec("dlq-replay", "scf_worker.handlers.dlq_replay", None, DLQ_REPLAY_TIMEOUT,
                     required_env=("STATE_URL",)),
        FunctionSpec("media-import", "scf_worker.handlers.media_import", "/batch/import", 900,
                     required_env=("COS_BUCKET", "COS_REGION", "STATE_URL")),
        FunctionSpec("reconcile", "scf_worker.handlers.reconcile", None, 300,
                     required_env=("COS_BUCKET", "COS_REGION", "STATE_URL")),
    )
}


def get_function(name: str) -> FunctionSpec:
    try:
        return FUNCTIONS[name]
    except KeyError:
        raise KeyError(f"unknown function {name!r}; known: {', '.join(FUNCTIONS)}") from None
