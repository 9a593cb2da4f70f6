"""Load a function's handler the way SCF does: ``index.py`` of its folder, then ``main_handler``."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

from scf_worker.deploy.manifest import FunctionManifest
from scf_worker.runtime import samples

Handler = Callable[[Any, Any], Any]


def load_handler(manifest: FunctionManifest) -> Handler:
    """Import the function's handler file under a private module name and return its handler."""
    file_name, _, function_name = manifest.handler.partition(".")
    path = manifest.folder / f"{file_name}.py"
    module_name = f"_scf_function_{manifest.name.replace('-', '_')}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    handler: Handler = getattr(module, function_name)
    return handler


def context_for(manifest: FunctionManifest, **extra: Any) -> dict[str, Any]:
    """The context dict SCF would pass, with the function's own time and memory limits."""
    return samples.context(manifest.name, time_limit_ms=manifest.timeout_seconds * 1000,
                           memory_limit_in_mb=manifest.memory_mb, **extra)


def handler_path(manifest: FunctionManifest) -> Path:
    return manifest.folder / (manifest.handler.partition(".")[0] + ".py")
