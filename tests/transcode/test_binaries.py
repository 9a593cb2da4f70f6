from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from scf_worker.transcode.binaries import _executable, find_ffmpeg


def test_non_executable_binary_copied(tmp_path: Path) -> None:
    # A layer or code package file that lost its exec bit, as on a read-only SCF mount.
    original = tmp_path / "ffprobe"
    shutil.copyfile(shutil.which("ffprobe") or find_ffmpeg(), original)
    original.chmod(0o644)

    runnable = _executable(str(original))

    assert runnable != str(original)
    assert os.access(runnable, os.X_OK)
    assert subprocess.run([runnable, "-version"], capture_output=True, check=False).returncode == 0
    assert _executable(str(original)) == runnable


def test_changed_binary_gets_fresh_copy(tmp_path: Path) -> None:
    original = tmp_path / "tool"
    original.write_bytes(b"#!/bin/true\n")
    original.chmod(0o644)
    first = _executable(str(original))

    original.write_bytes(b"#!/bin/true\n# a newer build\n")
    second = _executable(str(original))

    assert first != second
    assert Path(second).read_bytes().endswith(b"a newer build\n")


def test_executable_binary_used_in_place(tmp_path: Path) -> None:
    tool = tmp_path / "tool"
    tool.write_bytes(b"#!/bin/true\n")
    tool.chmod(0o755)

    assert _executable(str(tool)) == str(tool)
