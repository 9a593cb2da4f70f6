"""A copy of the repository's scf/ folder per test, to break configs without touching the real ones."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    shutil.copytree(REPO_ROOT / "scf", root / "scf")
    return root


Edit = Callable[[str, Callable[[dict[str, Any]], None]], Path]


@pytest.fixture
def edit_config(project: Path) -> Edit:
    """Apply ``change`` to scf/<name>/config.json and return the file's path."""

    def edit(name: str, change: Callable[[dict[str, Any]], None]) -> Path:
        path = project / "scf" / name / "config.json"
        config = json.loads(path.read_text())
        change(config)
        path.write_text(json.dumps(config, indent=2))
        return path

    return edit
