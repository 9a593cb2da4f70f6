"""``scf-worker demo FILE`` on every generated hard input reports the right status."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from scf_worker.demo.hard_inputs import HARD_INPUTS, generate
from scf_worker.demo.pipeline import run_demo

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("item", HARD_INPUTS, ids=lambda item: item.name)
def test_demo_status_per_input(item, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    # Two presets keep the run short; the preset matrix is covered by the transcode tests.
    monkeypatch.setenv("TRANSCODE_PRESETS", "mp4,thumbnail")
    source = generate(item.name, tmp_path / "media")

    report = run_demo(source, tmp_path / "demo", log_level="WARNING")

    transcodes = [job for job in report.jobs if job["type"] == "media.transcode"]
    if item.name == "zero_length":
        # media-sign refuses a 0-byte upload before any job exists.
        assert not report.ok
        assert "invalid_size" in (report.error or "")
        assert transcodes == []
    elif item.name == "text_as_mp4":
        # cos-callback's after-upload check finds no media magic bytes: the upload is
        # rejected and quarantined, and no transcode is scheduled.
        assert not report.ok
        assert report.callbacks[0] == "rejected"
        assert transcodes == []
    elif item.expected == "done":
        assert report.ok, report.error or report.jobs
        assert [job["status"] for job in transcodes] == ["done"]
        assert report.outputs
        assert all(o["pixFmt"] in ("yuv420p", "yuvj420p", None) for o in report.outputs)
        assert all(o["width"] % 2 == 0 for o in report.outputs)
        assert all(o["height"] % 2 == 0 for o in report.outputs)
    else:
        assert not report.ok
        [job] = transcodes
        assert job["status"] == "failed"
        assert job["attempts"] == 1
        assert job["error"].startswith("InvalidMedia:")
        assert report.outputs == []
        assert "SCF_JOB_FAILED media.transcode" in report.webhooks["events"]


def test_demo_command_exit_code(tmp_path: Path) -> None:
    source = generate("moov_cut_off", tmp_path / "media")

    completed = subprocess.run(
        [sys.executable, "-m", "scf_worker", "demo", str(source), "--json",
         "--workdir", str(tmp_path / "demo")],
        capture_output=True, timeout=120, check=False,
    )

    report = json.loads(completed.stdout)
    assert completed.returncode == 1
    assert report["ok"] is False
    assert [j["status"] for j in report["jobs"] if j["type"] == "media.transcode"] == ["failed"]
