"""``scf-worker check``: the shipped configs pass, broken ones name file, field, value and limit."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from scf_worker.cli import main
from scf_worker.deploy.check import check_project
from tests.deploy.conftest import REPO_ROOT, Edit


def env(config: dict[str, Any]) -> dict[str, str]:
    variables: dict[str, str] = config["environment"]["variables"]
    return variables


def test_check_passes_the_shipped_configs() -> None:
    assert check_project(REPO_ROOT) == []


BROKEN = [
    ("media-sign", lambda c: c.update(memorySize=100), "memorySize", 100, "128-3072 in steps of 128"),
    ("media-sign", lambda c: c.update(memorySize=3200), "memorySize", 3200, "128-3072"),
    ("media-sign", lambda c: c.update(timeout=0), "timeout", 0, "1-900 seconds"),
    ("transcode", lambda c: c.update(timeout=3600), "timeout", 3600, "asyncRunEnable"),
    ("media-sign", lambda c: c.update(runtime="Python3.12"), "runtime", "Python3.12", "Python3.10"),
    ("media-sign", lambda c: c.update(runtime="Python3.9"), "runtime", "Python3.9", "3.10"),
    ("media-sign", lambda c: env(c).update(SCF_REGION="x1"), "environment.variables.SCF_REGION",
     "SCF_REGION", "reserved prefixes"),
    ("media-sign", lambda c: env(c).update(TENCENTCLOUD_SECRETID="${secret:ID}"),
     "environment.variables.TENCENTCLOUD_SECRETID", "TENCENTCLOUD_SECRETID", "reserved prefixes"),
    ("cos-callback", lambda c: env(c).pop("CALLBACK_SHARED_SECRET"),
     "environment.variables.CALLBACK_SHARED_SECRET", None, "cannot run without it"),
    ("webhook-forward", lambda c: env(c).pop("WEBHOOK_ENDPOINTS"),
     "environment.variables.WEBHOOK_ENDPOINTS", None, "cannot run without it"),
    ("media-sign", lambda c: env(c).update(AUTH_JWT_SECRET="literal-secret-value"),
     "environment.variables.AUTH_JWT_SECRET", "(a literal value)", "${secret:NAME}"),
    ("media-sign", lambda c: env(c).update(STATE_URL="mysql://u:pw@127.0.0.1/db"),
     "environment.variables.STATE_URL", "(a literal value)", "${secret:NAME}"),
    ("media-sign", lambda c: env(c).update(AUTH_JWT_SECRET="${secret:lower}"),
     "environment.variables.AUTH_JWT_SECRET", "${secret:lower}", "NAME in A-Z"),
    ("media-sign", lambda c: env(c).update(SIGN_EXPIRE_SEC="3600"),
     "environment.variables.SIGN_EXPIRE_SEC", "3600", "at most 600 seconds"),
    ("transcode", lambda c: c["triggers"][0].update(cronExpression="0 */1 * * *"),
     "triggers[0].cronExpression", "0 */1 * * *", "seven fields"),
    ("transcode", lambda c: c["triggers"][0].update(cronExpression="0 61 * * * * *"),
     "triggers[0].cronExpression", "0 61 * * * * *", "minute: 0-59"),
    ("transcode", lambda c: c["triggers"][0].update(cronExpression="0 0 12 ? * MON-XYZ *"),
     "triggers[0].cronExpression", "0 0 12 ? * MON-XYZ *", "week: 0-6"),
    ("media-sign", lambda c: c["triggers"][0].update(method="FETCH"), "triggers[0].method", "FETCH", "POST"),
    ("media-sign", lambda c: c["triggers"][0].update(path="upload/sign"), "triggers[0].path",
     "upload/sign", "starting with /"),
    ("cos-callback", lambda c: c["triggers"][1].update(event="cos:Created"), "triggers[1].event",
     "cos:Created", "cos:ObjectCreated:*"),
    ("cos-callback", lambda c: c["triggers"][1].update(bucket="media"), "triggers[1].bucket", "media",
     "<name>-<APPID>"),
    ("transcode", lambda c: c["triggers"][0].update(name="9-bad"), "triggers[0].name", "9-bad",
     "starting with a letter"),
    ("transcode", lambda c: c.update(layers=[]), "layers", [], "provides ffmpeg"),
    ("transcode", lambda c: c["package"].pop("ffmpeg"), "package.ffmpeg", None, "transcode runs ffmpeg"),
    ("webhook-forward", lambda c: c["package"].update(extras=["nosuch"]), "package.extras[0]", "nosuch",
     "one of"),
    ("webhook-forward", lambda c: c.update(asyncRetry={"retryNum": 5, "msgTTL": 60}),
     "asyncRetry.retryNum", 5, "0-2"),
    ("webhook-forward", lambda c: c.update(name="other"), "name", "other", "the folder name"),
    ("webhook-forward", lambda c: c.update(handler="main.handler"), "handler", "main.handler",
     "file main.py exists"),
    ("webhook-forward", lambda c: c.update(memroySize=128), "memroySize", 128, "only the keys"),
]


@pytest.mark.parametrize(("function", "change", "field", "value", "allowed"), BROKEN,
                         ids=[f"{b[0]}-{b[2]}-{i}" for i, b in enumerate(BROKEN)])
def test_check_names_file_field_value_and_limit(project: Path, edit_config: Edit, function: str,
                                                change: Any, field: str, value: Any, allowed: str) -> None:
    path = edit_config(function, change)

    problems = check_project(project)

    matching = [p for p in problems if p.field == field]
    assert matching, [str(p) for p in problems]
    problem = matching[0]
    assert problem.file == str(path)
    assert problem.value == value
    assert allowed in problem.allowed


def test_check_reports_every_problem_of_a_file_in_one_run(project: Path, edit_config: Edit) -> None:
    edit_config("media-sign", lambda c: c.update(memorySize=100, timeout=901, runtime="Python2.7"))

    fields = {p.field for p in check_project(project)}

    assert {"memorySize", "timeout", "runtime"} <= fields


def test_check_rejects_a_route_two_functions_serve(project: Path, edit_config: Edit) -> None:
    edit_config("cos-callback", lambda c: c["triggers"][0].update(path="/upload/sign"))

    problems = [p for p in check_project(project) if p.field == "triggers[0].path"]

    assert len(problems) == 1
    owner = "media-sign" if "cos-callback" in problems[0].allowed else "cos-callback"
    assert owner in problems[0].file and problems[0].value == "/upload/sign"


def test_check_reports_unreadable_json_by_file(project: Path) -> None:
    path = project / "scf" / "media-sign" / "config.json"
    path.write_text("{not json")

    problems = check_project(project)

    assert problems[0].file == str(path) and problems[0].field == "(file)"


def test_check_covers_a_new_function_folder_without_registration(project: Path) -> None:
    folder = project / "scf" / "thumbnail-extra"
    folder.mkdir()
    (folder / "index.py").write_text("from scf_worker.handlers.nosuch import main_handler\n")
    config = json.loads((project / "scf" / "webhook-forward" / "config.json").read_text())
    config.update(name="thumbnail-extra", memorySize=96)
    (folder / "config.json").write_text(json.dumps(config))

    problems = [p for p in check_project(project) if "thumbnail-extra" in p.file]

    assert {p.field for p in problems} == {"memorySize", "handler"}
    assert any(p.value == "scf_worker.handlers.nosuch" for p in problems)


def test_cli_check_exits_nonzero_and_prints_each_problem(project: Path, edit_config: Edit,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    edit_config("media-sign", lambda c: c.update(memorySize=100))

    code = main(["check", "--root", str(project), "--lang", "en"])

    err = capsys.readouterr().err
    assert code == 1
    assert "scf/media-sign/config.json: memorySize = 100: allowed 64, or 128-3072" in err


def test_cli_check_json_lists_problems(project: Path, edit_config: Edit,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    edit_config("transcode", lambda c: c.update(timeout=1000))

    code = main(["check", "--root", str(project), "--json"])

    problems = json.loads(capsys.readouterr().out)
    assert code == 1
    assert problems[0]["field"] == "timeout" and problems[0]["value"] == 1000


def test_cli_check_succeeds_on_the_repository(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--root", str(REPO_ROOT), "--lang", "en"]) == 0
    count = len(list((REPO_ROOT / "scf").glob("*/config.json")))
    assert f"{count} function configs" in capsys.readouterr().out
