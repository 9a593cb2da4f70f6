"""``scf-worker policy lint`` reports what the pre-issuance self-check reports."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote

import pytest

from scf_worker.cli import main
from scf_worker.uploads.policy import build_policy

BUCKET = "media-1250000000"
KEY = "uploads/u1/2026/05/01/0123456789abcdef0123456789abcdef.mp4"
BASE_ARGS = ["--bucket", BUCKET, "--region", "ap-guangzhou", "--lang", "en"]


def write(tmp_path: Path, document: object) -> str:
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return str(path)


def lint(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["policy", "lint", *args, *BASE_ARGS])
    return code, capsys.readouterr().out


def test_policy_lint_accepts_issued_policy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    policy = build_policy("ap-guangzhou", "1250000000", BUCKET, KEY, "video/mp4", 50 * 1024 * 1024, True)
    code, out = lint(capsys, write(tmp_path, policy), "--user-id", "u1")

    assert code == 0
    assert out.startswith("OK")


def test_policy_lint_reads_sts_request(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    policy = build_policy("ap-guangzhou", "1250000000", BUCKET, KEY, "video/mp4", 10, False)
    request = {"Name": "mediasign", "Policy": quote(json.dumps(policy), safe=""), "DurationSeconds": 1800}

    code, out = lint(capsys, write(tmp_path, request), "--user-id", "u1", "--json")
    report = json.loads(out)

    assert code == 1
    assert report["durationSeconds"] == 1800
    assert report["problems"] == ["duration 1800s is outside 1..600s"]


PUT = "name/cos:PutObject"
ROOT = f"qcs::cos:ap-guangzhou:uid/1250000000:{BUCKET}/"


@pytest.mark.parametrize(("resource", "action", "expected"), [
    (ROOT + "uploads/u1*", PUT, "not preceded by /"),
    (ROOT + "uploads/u1/a*.mp4", PUT, "not preceded by /"),
    (ROOT + "uploads/u10/a.mp4", PUT, "outside"),
    (ROOT.replace("1250000000:", "1250000001:") + "uploads/u1/a.mp4", PUT, "outside"),
    (ROOT + "uploads/u1/a.mp4", "name/cos:DeleteObject", "not an upload"),
    (ROOT + "uploads/u1/a.mp4", "name/cos:*", "not an upload"),
    (ROOT + "uploads/u1/../u2/a.mp4", PUT, ".."),
])
def test_policy_lint_reports_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str], resource: str,
                                     action: str, expected: str) -> None:
    statement = {"effect": "allow", "action": [action], "resource": [resource]}
    policy = {"version": "2.0", "statement": [statement]}

    code, out = lint(capsys, write(tmp_path, policy), "--user-id", "u1")

    assert code == 1
    assert expected in out


def test_policy_lint_reports_condition_on_parts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    resource = f"qcs::cos:ap-guangzhou:uid/1250000000:{BUCKET}/{KEY}"
    policy = {"version": "2.0", "statement": [{
        "effect": "allow", "action": ["name/cos:PutObject", "name/cos:UploadPart"], "resource": [resource],
        "condition": {"string_equal": {"cos:content-type": "video/mp4"}}}]}

    code, out = lint(capsys, write(tmp_path, policy), "--prefix", "uploads/u1/")

    assert code == 1
    assert "part or complete actions carry a header condition" in out


def test_policy_lint_invalid_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "broken.json"
    path.write_text("{not json", encoding="utf-8")

    assert main(["policy", "lint", str(path), "--user-id", "u1", *BASE_ARGS]) == 2
    assert "not JSON" in capsys.readouterr().err


def test_policy_lint_bucket_without_appid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, {})
    code = main(["policy", "lint", path, "--user-id", "u1", "--bucket", "media", "--lang", "en"])

    assert code == 2
    assert "APPID" in capsys.readouterr().err
