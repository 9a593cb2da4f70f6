"""The demo uploads through the loopback COS endpoint with the official SDK."""

from __future__ import annotations

from pathlib import Path

import pytest

from scf_worker.demo.pipeline import run_demo


@pytest.mark.slow
def test_demo_uploads_through_endpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RETRY_BASE_MS", "10")
    report = run_demo(None, tmp_path / "demo", log_level="WARNING")

    assert report.error is None
    assert [step["name"] for step in report.steps][:3] == ["generate_clip", "media_sign", "upload"]
    uploaded = list((tmp_path / "demo" / "cos" / "media-1250000000" / "uploads" / "demo-user").rglob("*.mp4"))
    assert len(uploaded) == 1
    assert report.ok
