"""Reports: one committed page per function with its image, and the generator itself."""

import json
import re
from pathlib import Path

import pytest

from scf_worker.observability import report

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = sorted(p.parent.name for p in (ROOT / "scf").glob("*/config.json"))


@pytest.mark.parametrize("function", FUNCTIONS)
def test_committed_report_references_its_image(function):
    page = ROOT / "docs" / f"scf-{function}-report.md"
    assert page.is_file(), f"run: scf-worker report {function}"
    text = page.read_text(encoding="utf-8")
    images = re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", text)
    assert images == [f"images/scf-{function}-latency.png"]
    assert (page.parent / images[0]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for heading in ("## 概览", "## 延迟", "## 告警阈值"):
        assert heading in text


def test_report_generator_writes_page_and_image(tmp_path):
    result = report.run("media-sign", requests=30, faults="bad_signature=0.2,permanent=0.1", seed=3)
    page = report.write(result, tmp_path)
    summary = result.summary
    assert summary.invocations == 30
    assert summary.successes + summary.failures == 30
    assert summary.failures > 0
    assert (tmp_path / "images" / "scf-media-sign-latency.png").is_file()
    text = page.read_text(encoding="utf-8")
    assert f"{summary.success_rate * 100:.2f}%" in text
    assert {a["rule"] for a in json.loads(json.dumps(report.as_json(result)))["alerts"]} == {
        "failure_rate", "p95_near_timeout", "dead_letter_backlog"}


@pytest.mark.parametrize("text", ["nonsense=0.1", "duplicate=2", "duplicate=x"])
def test_fault_spec_rejects_bad_values(text):
    with pytest.raises(ValueError):
        report.simulate.FaultSpec.parse(text)
