"""``scf-worker deploy``: the SCF API calls, in order, dry and against a loopback stand-in."""

from __future__ import annotations

import base64
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scf_worker.cli import main
from scf_worker.deploy.api import Credentials, SdkClient
from scf_worker.deploy.errors import DeployError
from scf_worker.deploy.release import Deployer
from scf_worker.deploy.standin import TencentCloudStandIn
from scf_worker.kms import decrypt_environment, reset_cache
from scf_worker.kms.runtime import kms_decrypter
from tests.deploy.conftest import REPO_ROOT

SECRETS = {"STATE_URL": "sqlite:////tmp/never-used.db", "AUTH_JWT_SECRET": "jwt-plaintext-7f3c9a1e55",
           "STS_SECRET_ID": "AKIDplaintext0001", "STS_SECRET_KEY": "sts-key-plaintext-9b2e",
           "CALLBACK_SHARED_SECRET": "whsec_cGxhaW50ZXh0LWNhbGxiYWNrLXNlY3JldA==",
           "WEBHOOK_ENDPOINTS": '[{"url": "https://cms.example/hooks", "secret": "whsec_cGxhaW50ZXh0"}]'}


@pytest.fixture
def standin() -> Iterator[TencentCloudStandIn]:
    with TencentCloudStandIn() as server:
        yield server


@pytest.fixture
def tiny_zip(tmp_path: Path) -> Path:
    path = tmp_path / "code.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("index.py", "def main_handler(event, context):\n    return {}\n")
    return path


@pytest.fixture
def deploy_cli(standin: TencentCloudStandIn, tiny_zip: Path, tmp_path: Path,
               monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Any:
    monkeypatch.setenv("TENCENTCLOUD_SECRET_ID", standin.secret_id)
    monkeypatch.setenv("TENCENTCLOUD_SECRET_KEY", standin.secret_key)
    secrets_file = tmp_path / "secrets.json"
    secrets_file.write_text(json.dumps(SECRETS))

    def run(function: str, *extra: str) -> tuple[int, str, str]:
        code = main(["deploy", function, "--alias", "test", "--root", str(REPO_ROOT), "--zip", str(tiny_zip),
                     "--endpoint", standin.endpoint, "--secrets-file", str(secrets_file),
                     "--kms-key-id", "kms-key-1", "--lang", "en", "--poll-seconds", "0", *extra])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


# Read from the shipped config, which the transcode sizing measurements set.
TRANSCODE_CONFIG = json.loads((REPO_ROOT / "scf" / "transcode" / "config.json").read_text())
TRANSCODE_MEMORY_MB = TRANSCODE_CONFIG["memorySize"]


def dry_run(function: str, capsys: pytest.CaptureFixture[str], *extra: str) -> list[dict[str, Any]]:
    code = main(["deploy", function, "--alias", "test", "--root", str(REPO_ROOT), "--dry-run", *extra])
    out = capsys.readouterr().out
    assert code == 0
    return [json.loads(line) for line in out.splitlines()]


def test_dry_run_prints_first_deploy_calls_in_order(tiny_zip: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    calls = dry_run("transcode", capsys, "--zip", str(tiny_zip))

    assert [c["action"] for c in calls] == [
        "GetFunction", "CreateFunction", "UpdateFunctionEventInvokeConfig", "PutReservedConcurrencyConfig",
        "PublishVersion", "GetAlias", "CreateAlias", "ListTriggers", "CreateTrigger"]
    create = calls[1]["params"]
    assert create["Runtime"] == "Python3.10"
    assert create["MemorySize"] == TRANSCODE_MEMORY_MB
    assert create["Timeout"] == 900
    assert create["Layers"] == [{"LayerName": "ffmpeg", "LayerVersion": 1}]
    assert create["Code"]["ZipFile"].startswith("<base64 zip")
    assert calls[-1]["params"]["TriggerDesc"] == "0 */1 * * * * *"
    assert calls[-1]["params"]["Qualifier"] == "test"


def test_dry_run_shows_secret_references_not_values(tiny_zip: Path, capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTH_JWT_SECRET", "must-not-appear-anywhere")

    calls = dry_run("media-sign", capsys, "--zip", str(tiny_zip))

    variables = {v["Key"]: v["Value"] for v in calls[1]["params"]["Environment"]["Variables"]}
    assert variables["AUTH_JWT_SECRET"] == "kms:v1:<AUTH_JWT_SECRET>"
    assert variables["COS_BUCKET"] == "media-1250000000"
    assert "must-not-appear-anywhere" not in json.dumps(calls)


def test_dry_run_rollback_and_promote_read_the_alias(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["deploy", "media-sign", "--alias", "test", "--root", str(REPO_ROOT), "--dry-run",
                 "--rollback"])

    assert code == 1
    assert "alias test of media-sign does not exist" in capsys.readouterr().err


def test_first_deploy_issues_calls_in_order_and_waits_for_active(
        deploy_cli: Any, standin: TencentCloudStandIn) -> None:
    code, out, err = deploy_cli("cos-callback")

    assert code == 0, err
    assert standin.actions() == [
        "GetFunction", "CreateFunction", "GetFunction", "GetFunction",
        "UpdateFunctionEventInvokeConfig", "PutReservedConcurrencyConfig",
        "PublishVersion", "GetFunction", "GetFunction", "GetAlias", "CreateAlias",
        "ListTriggers", "CreateTrigger"]
    assert standin.actions("kms") == ["Encrypt", "Encrypt"]  # CALLBACK_SHARED_SECRET, STATE_URL
    function = standin.functions["cos-callback"]
    assert function.aliases["test"]["FunctionVersion"] == "1"
    assert function.triggers[0]["TriggerName"] == "media-1250000000.cos.ap-guangzhou.myqcloud.com"
    assert "alias test now serves version 1" in out


def test_secrets_reach_scf_only_as_kms_ciphertext(deploy_cli: Any, standin: TencentCloudStandIn) -> None:
    code, out, err = deploy_cli("media-sign")

    assert code == 0, err
    variables = {v["Key"]: v["Value"]
                 for v in standin.functions["media-sign"].config["Environment"]["Variables"]}
    for name in ("AUTH_JWT_SECRET", "STS_SECRET_ID", "STS_SECRET_KEY", "STATE_URL"):
        assert variables[name].startswith("kms:v1:")
    recorded = json.dumps([c.params for c in standin.calls if c.action != "Encrypt"])
    for plaintext in SECRETS.values():
        assert plaintext not in recorded and plaintext not in out + err


def test_gradual_release_promote_and_rollback(deploy_cli: Any, standin: TencentCloudStandIn) -> None:
    assert deploy_cli("webhook-forward")[0] == 0
    standin.calls.clear()

    code, _, err = deploy_cli("webhook-forward", "--weight", "10")

    assert code == 0, err
    assert standin.actions() == [
        "GetFunction", "UpdateFunctionCode", "GetFunction", "GetFunction",
        "UpdateFunctionConfiguration", "GetFunction", "GetFunction",
        "UpdateFunctionEventInvokeConfig", "PutReservedConcurrencyConfig",
        "PublishVersion", "GetFunction", "GetFunction", "GetAlias", "UpdateAlias", "ListTriggers"]
    alias = standin.functions["webhook-forward"].aliases["test"]
    assert alias["FunctionVersion"] == "1"
    assert alias["RoutingConfig"]["AdditionalVersionWeights"] == [{"Version": "2", "Weight": 0.1}]

    assert deploy_cli("webhook-forward", "--promote", "--weight", "50")[0] == 0
    assert alias["RoutingConfig"]["AdditionalVersionWeights"] == [{"Version": "2", "Weight": 0.5}]

    assert deploy_cli("webhook-forward", "--rollback")[0] == 0
    assert alias["FunctionVersion"] == "1"
    assert alias["RoutingConfig"] == {"AdditionalVersionWeights": []}

    assert deploy_cli("webhook-forward", "--promote")[0] == 1  # nothing in gradual release now


def test_rollback_re_points_to_the_version_before(deploy_cli: Any, standin: TencentCloudStandIn) -> None:
    for _ in range(3):
        assert deploy_cli("webhook-forward")[0] == 0
    standin.calls.clear()

    code, _, err = deploy_cli("webhook-forward", "--rollback")

    assert code == 0, err
    assert standin.actions() == ["GetAlias", "ListVersionByFunction", "UpdateAlias"]
    assert standin.functions["webhook-forward"].aliases["test"]["FunctionVersion"] == "2"


def test_deploy_refuses_plaintext_secret_without_a_kms_key(tiny_zip: Path, standin: TencentCloudStandIn,
                                                           monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("TENCENTCLOUD_SECRET_ID", standin.secret_id)
    monkeypatch.setenv("TENCENTCLOUD_SECRET_KEY", standin.secret_key)
    monkeypatch.setenv("STATE_URL", "sqlite:////tmp/x.db")
    monkeypatch.setenv("WEBHOOK_ENDPOINTS", "[]")
    monkeypatch.delenv("SCF_WORKER_KMS_KEY_ID", raising=False)

    code = main(["deploy", "webhook-forward", "--alias", "test", "--root", str(REPO_ROOT), "--zip",
                 str(tiny_zip), "--endpoint", standin.endpoint])

    assert code == 1
    assert "--kms-key-id" in capsys.readouterr().err
    assert standin.actions() == []


def test_wrong_key_fails_with_the_api_error_code(standin: TencentCloudStandIn) -> None:
    client = SdkClient("scf", "ap-guangzhou", Credentials(standin.secret_id, "wrong-key"), standin.endpoint)

    with pytest.raises(DeployError, match=r"AuthFailure\.SignatureFailure") as info:
        Deployer(client).rollback("media-sign", "test")

    assert "wrong-key" not in str(info.value)


def test_function_decrypts_kms_values_once_per_cold_start(standin: TencentCloudStandIn,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    credentials = Credentials(standin.secret_id, standin.secret_key)
    kms = SdkClient("kms", "ap-guangzhou", credentials, standin.endpoint)

    blob = kms.call("Encrypt", {"KeyId": "k", "Plaintext": base64.b64encode(b"s3cret-value").decode()})
    monkeypatch.setenv("TENCENTCLOUD_SECRETID", standin.secret_id)
    monkeypatch.setenv("TENCENTCLOUD_SECRETKEY", standin.secret_key)
    reset_cache()
    decrypt = kms_decrypter(endpoint=standin.endpoint)
    first = {"CALLBACK_SHARED_SECRET": "kms:v1:" + blob["CiphertextBlob"], "COS_REGION": "ap-guangzhou"}
    second = dict(first)

    assert decrypt_environment(first, decrypt) == ["CALLBACK_SHARED_SECRET"]
    decrypt_environment(second, decrypt)

    assert first["CALLBACK_SHARED_SECRET"] == second["CALLBACK_SHARED_SECRET"] == "s3cret-value"
    assert standin.actions("kms") == ["Encrypt", "Decrypt"]
    reset_cache()


def test_undecryptable_value_fails_at_cold_start_naming_the_variable(
        standin: TencentCloudStandIn, local_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    from scf_worker.app import get_services
    from scf_worker.runtime.errors import ConfigError

    monkeypatch.setenv("TENCENTCLOUD_SECRETID", standin.secret_id)
    monkeypatch.setenv("TENCENTCLOUD_SECRETKEY", standin.secret_key)
    monkeypatch.setenv("KMS_ENDPOINT", standin.endpoint)
    monkeypatch.setenv("CALLBACK_SHARED_SECRET", "kms:v1:bm90LWEtYmxvYg==")
    reset_cache()

    with pytest.raises(ConfigError, match="CALLBACK_SHARED_SECRET") as info:
        get_services()

    assert "bm90LWEtYmxvYg" not in str(info.value)
