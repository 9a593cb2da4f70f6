"""``scf-worker package``: each zip, unpacked alone into a clean venv, serves its function.

The zips are built once per session for the interpreter at hand, from an
offline wheelhouse of the wheels installed here, so no test reaches an index.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
import venv
import zipfile
from pathlib import Path
from typing import Any

import jwt
import pytest

from scf_worker.cli import main
from scf_worker.deploy.errors import PackageError
from scf_worker.deploy.manifest import discover, get_manifest
from scf_worker.deploy.package import build_package, requirements_for
from scf_worker.runtime import samples
from scf_worker.webhooks.signing import decode_secret, generate_secret, signature_headers
from tests.deploy.conftest import REPO_ROOT, Edit
from tests.deploy.wheelhouse import build_wheelhouse

PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"
FUNCTIONS = [m.name for m in discover(REPO_ROOT)]
RUNNER = """
import json, sys
sys.path[:] = [p for p in sys.path if "site-packages" not in p]
import index, scf_worker, jwt
root = sys.argv[1]
assert scf_worker.__file__.startswith(root), scf_worker.__file__
assert jwt.__file__.startswith(root), jwt.__file__
calls = json.load(open(sys.argv[2]))
print(json.dumps([index.main_handler(event, context) for event, context in calls]))
"""


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every function's zip, built once per session."""
    base = tmp_path_factory.mktemp("packages")
    manifests = discover(REPO_ROOT)
    requirements = sorted({r for m in manifests for r in requirements_for(m.extras)})
    wheelhouse = build_wheelhouse(requirements, base / "wheelhouse")
    return {m.name: build_package(m, base / f"{m.name}.zip", PYTHON, wheelhouse).path for m in manifests}


@pytest.fixture(scope="session")
def clean_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("clean-venv")
    venv.EnvBuilder(with_pip=False, clear=True).create(home)
    return home / "bin" / "python"


def run_unpacked(zip_path: Path, python: Path, tmp_path: Path, env: dict[str, str],
                 calls: list[tuple[dict[str, Any], dict[str, Any]]]) -> list[dict[str, Any]]:
    root = tmp_path / "var-user"
    root.mkdir()
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(root)
    (tmp_path / "calls.json").write_text(json.dumps(calls))
    (tmp_path / "runner.py").write_text(RUNNER)
    completed = subprocess.run(
        [str(python), str(tmp_path / "runner.py"), str(root), str(tmp_path / "calls.json")],
        cwd=root, env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(root), **env},
        capture_output=True, text=True, timeout=60, check=False)
    assert completed.returncode == 0, completed.stderr[-3000:]
    responses: list[dict[str, Any]] = json.loads(completed.stdout.splitlines()[-1])
    return responses


def local_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"WORKER_HOME": str(tmp_path / "home"), "STATE_URL": f"sqlite:///{tmp_path / 'state.db'}",
            "STORAGE_URL": f"file://{tmp_path / 'cos'}", "COS_BUCKET": "media-1250000000",
            "LOG_LEVEL": "WARNING", **extra}


def body(response: dict[str, Any]) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(response["body"])
    return parsed


def test_zip_has_index_at_root_and_no_tooling(built: dict[str, Path]) -> None:
    for name, path in built.items():
        names = zipfile.ZipFile(path).namelist()
        assert "index.py" in names and "config.json" not in names, name
        assert "scf_worker/handlers/__init__.py" in names
        assert not any(n.startswith(("scf_worker/cli/", "scf_worker/deploy/")) for n in names)
        assert any(n.startswith("jwt/") for n in names)


def test_every_function_is_packaged() -> None:
    assert set(FUNCTIONS) >= {"media-sign", "cos-callback", "transcode", "webhook-forward"}


def test_media_sign_zip_serves_4xx_and_2xx(built: dict[str, Path], clean_python: Path,
                                           tmp_path: Path) -> None:
    secret = "jwt-secret-for-the-packaged-zip-0123456789"
    token = jwt.encode({"sub": "u1", "exp": int(time.time()) + 300}, secret, algorithm="HS256")
    good = json.dumps({"filename": "a.mp4", "mime": "video/mp4", "size": 1000})
    calls = [
        (samples.apigw_event("POST", "/upload/sign", good), samples.context("media-sign")),
        (samples.apigw_event("POST", "/upload/sign", good, {"authorization": f"Bearer {token}"}),
         samples.context("media-sign")),
    ]

    bad, ok = run_unpacked(built["media-sign"], clean_python, tmp_path,
                           local_env(tmp_path, AUTH_JWT_SECRET=secret), calls)

    assert bad["statusCode"] == 401 and body(bad)["message"] == "unauthorized"
    assert ok["statusCode"] == 200 and body(ok)["data"]["key"].startswith("uploads/u1/")


def test_cos_callback_zip_serves_4xx_and_2xx(built: dict[str, Path], clean_python: Path,
                                             tmp_path: Path) -> None:
    secret = generate_secret()
    # cos-callback checks the object itself (HEAD and magic bytes), so the upload must exist.
    content = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64
    stored = tmp_path / "cos" / "media-1250000000" / "uploads" / "u1" / "a.mp4"
    stored.parent.mkdir(parents=True)
    stored.write_bytes(content)
    payload = json.dumps({"objectKey": "uploads/u1/a.mp4", "bucket": "media-1250000000",
                          "etag": hashlib.md5(content, usedforsecurity=False).hexdigest(),
                          "size": len(content), "mime": "video/mp4"}).encode()
    headers = signature_headers([decode_secret(secret)], "msg_1", int(time.time()), payload)
    calls = [
        (samples.apigw_event("POST", "/cos/callback", payload), samples.context("cos-callback")),
        (samples.apigw_event("POST", "/cos/callback", payload, {k.lower(): v for k, v in headers.items()}),
         samples.context("cos-callback")),
    ]

    bad, ok = run_unpacked(built["cos-callback"], clean_python, tmp_path,
                           local_env(tmp_path, CALLBACK_SHARED_SECRET=secret), calls)

    assert bad["statusCode"] == 403 and body(bad)["message"] == "invalid_signature"
    assert ok["statusCode"] == 200 and body(ok)["data"]["status"] == "recorded"


def test_webhook_forward_zip_dead_letters_bad_and_delivers_good(built: dict[str, Path], clean_python: Path,
                                                                tmp_path: Path) -> None:
    from scf_worker.demo.receiver import WebhookReceiver

    secret = generate_secret()
    event = {"schemaVersion": 1, "event": "SCF_JOB_DONE", "jobId": "job-1", "type": "media.transcode",
             "status": "done", "resource": {"bucket": "media-1250000000", "key": "a.mp4", "mime": None},
             "metrics": {"durationMs": 1, "attempts": 1}, "at": "2024-01-01T00:00:00Z"}
    with WebhookReceiver(secret) as receiver:
        endpoints = json.dumps([{"url": receiver.url, "secret": secret}])
        env = local_env(tmp_path, WEBHOOK_ENDPOINTS=endpoints, WEBHOOK_ALLOW_LOOPBACK="true")
        bad, ok = run_unpacked(built["webhook-forward"], clean_python, tmp_path, env,
                               [({"event": "nope"}, samples.context("webhook-forward")),
                                (event, samples.context("webhook-forward"))])

    assert bad["results"][0]["status"] == "dead" and bad["results"][0]["code"] == "invalid_event"
    assert ok["results"][0]["status"] == "done"
    assert [w.verified for w in receiver.received] == [True]


def test_transcode_zip_dead_letters_bad_and_drains_on_timer(built: dict[str, Path], clean_python: Path,
                                                            tmp_path: Path) -> None:
    bad, tick = run_unpacked(built["transcode"], clean_python, tmp_path, local_env(tmp_path),
                             [({"nojob": 1}, samples.context("transcode")),
                              (samples.timer_event("drain-transcode-queue"), samples.context("transcode"))])

    assert bad["results"][0]["status"] == "dead" and bad["results"][0]["code"] == "invalid_params"
    assert tick["code"] == 0 and tick["processed"] == 0


def test_transcode_zip_refers_to_the_ffmpeg_layer(built: dict[str, Path]) -> None:
    names = zipfile.ZipFile(built["transcode"]).namelist()
    assert "bin/ffmpeg" not in names
    assert "imageio_ffmpeg/__init__.py" not in names


def test_package_fails_when_over_the_zip_limit(project: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    (project / "scf" / "webhook-forward" / "blob.bin").write_bytes(os.urandom(2 * 1024 * 1024))
    manifest = get_manifest(project, "webhook-forward")
    monkeypatch.setattr("scf_worker.deploy.package.requirements_for", lambda extras: [])
    monkeypatch.setattr("scf_worker.deploy.limits.ZIP_UPLOAD_MAX_BYTES", 1024 * 1024)

    with pytest.raises(PackageError, match=r"at most 1\.0 MB through the API"):
        build_package(manifest, tmp_path / "big.zip", PYTHON)


def test_package_reports_pip_failure_with_a_hint(tmp_path: Path) -> None:
    manifest = get_manifest(REPO_ROOT, "webhook-forward")
    empty = tmp_path / "empty-wheelhouse"
    empty.mkdir()

    with pytest.raises(PackageError, match="--wheelhouse"):
        build_package(manifest, tmp_path / "x.zip", PYTHON, wheelhouse=empty)


def test_cli_package_prints_size_against_limits(project: Path, tmp_path: Path, edit_config: Edit,
                                                monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    edit_config("webhook-forward", lambda c: c["package"].update(extras=[]))
    monkeypatch.setattr("scf_worker.deploy.package.requirements_for", lambda extras: [])

    code = main(["package", "webhook-forward", "--root", str(project), "--output", str(tmp_path / "w.zip"),
                 "--python-version", PYTHON, "--json"])

    result = json.loads(capsys.readouterr().out)
    assert code == 0
    assert result["zipLimitBytes"] == 50 * 1024 * 1024 and 0 < result["zipBytes"] < result["zipLimitBytes"]


def test_cli_package_refuses_a_broken_config(project: Path, edit_config: Edit,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    edit_config("webhook-forward", lambda c: c.update(timeout=0))

    assert main(["package", "webhook-forward", "--root", str(project)]) == 1
    assert "timeout = 0" in capsys.readouterr().err
