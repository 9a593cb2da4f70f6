"""The functions under ``scf/``: each folder holds ``index.py`` and a ``config.json``.

Discovery is by folder, so a function added under ``scf/`` is checked,
packaged and deployed without registering it anywhere else. The handler
module comes from the ``from scf_worker.handlers.X import main_handler`` line
of its ``index.py``.
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scf_worker.deploy.errors import ManifestError, Problem

CONFIG_FILE = "config.json"


@dataclass(frozen=True)
class Trigger:
    type: str
    name: str
    raw: dict[str, Any]


@dataclass(frozen=True)
class FunctionManifest:
    """A function folder and its parsed config.json; values are as written, not validated."""

    folder: Path
    raw: dict[str, Any]
    triggers: tuple[Trigger, ...] = field(default=())

    @property
    def name(self) -> str:
        return self.folder.name

    @property
    def config_path(self) -> Path:
        return self.folder / CONFIG_FILE

    @property
    def handler(self) -> str:
        return str(self.raw.get("handler") or "index.main_handler")

    @property
    def handler_file(self) -> Path:
        return self.folder / (self.handler.split(".", 1)[0] + ".py")

    @property
    def runtime(self) -> str:
        return str(self.raw.get("runtime") or "")

    @property
    def python_version(self) -> str | None:
        """``Python3.10`` → ``3.10``; None for a runtime that is not Python."""
        runtime = self.runtime
        return runtime[len("Python"):] if runtime.startswith("Python") else None

    @property
    def memory_mb(self) -> int:
        return int(self.raw.get("memorySize") or 128)

    @property
    def timeout_seconds(self) -> int:
        return int(self.raw.get("timeout") or 3)

    @property
    def variables(self) -> dict[str, str]:
        env = self.raw.get("environment") or {}
        variables = env.get("variables") if isinstance(env, dict) else None
        return {str(k): str(v) for k, v in (variables or {}).items()}

    @property
    def layers(self) -> list[dict[str, Any]]:
        return [layer for layer in self.raw.get("layers") or [] if isinstance(layer, dict)]

    @property
    def extras(self) -> list[str]:
        package = self.raw.get("package") or {}
        return [str(e) for e in package.get("extras") or []] if isinstance(package, dict) else []

    def triggers_of(self, kind: str) -> list[Trigger]:
        return [t for t in self.triggers if t.type == kind]

    def handler_module(self) -> str | None:
        """Return X of ``from X import main_handler`` in the handler file, if there is one."""
        try:
            tree = ast.parse(self.handler_file.read_text(encoding="utf-8"))
        except (OSError, SyntaxError, UnicodeDecodeError):
            return None
        function_name = self.handler.split(".", 1)[-1]
        for node in tree.body:
            if isinstance(node, ast.ImportFrom) and node.module and any(
                alias.name == function_name and alias.asname in (None, function_name)
                for alias in node.names
            ):
                return node.module
        return None


def load_manifest(folder: Path) -> FunctionManifest:
    """Read ``folder/config.json``; raise ManifestError naming the file when it is unreadable."""
    path = folder / CONFIG_FILE
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        problem = Problem(str(path), "(file)", None, "a config.json in every scf/ folder")
        raise ManifestError([problem]) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ManifestError([Problem(str(path), "(file)", type(exc).__name__,
                                     f"a UTF-8 JSON object ({exc})")]) from None
    if not isinstance(raw, dict):
        raise ManifestError([Problem(str(path), "(file)", type(raw).__name__, "a JSON object")])
    triggers = tuple(
        Trigger(str(t.get("type") or ""), str(t.get("name") or ""), t)
        for t in raw.get("triggers") or []
        if isinstance(t, dict)
    )
    return FunctionManifest(folder, raw, triggers)


def find_project_root(start: Path | None = None) -> Path:
    """Return the nearest folder at or above ``start`` that has an ``scf/`` folder."""
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / "scf").is_dir():
            return candidate
    raise ManifestError([Problem(str(here), "scf/", None,
                                 "run inside a project that has an scf/ folder, or pass --root")])


def function_folders(root: Path) -> list[Path]:
    return sorted(p for p in (root / "scf").iterdir() if p.is_dir() and not p.name.startswith((".", "_")))


def discover(root: Path) -> list[FunctionManifest]:
    """Load every function under ``root/scf``; a broken config.json raises ManifestError."""
    return [load_manifest(folder) for folder in function_folders(root)]


def get_manifest(root: Path, name: str) -> FunctionManifest:
    folder = root / "scf" / name
    if not folder.is_dir():
        known = ", ".join(p.name for p in function_folders(root))
        raise ManifestError([Problem(str(root / "scf"), "FUNCTION", name, f"one of: {known}")])
    return load_manifest(folder)
