import json

import pytest

from scf_worker.cli import main


def test_config_error_is_one_line_naming_the_variable(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("STATE_URL", "postgres://db/x")
    assert main(["alerts", "check"]) == 2
    err = capsys.readouterr().err
    assert "STATE_URL" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("window", ["abc", "0s", "5"])
def test_alerts_rejects_bad_window(window, capsys, local_env):
    assert main(["alerts", "check", f"--window={window}"]) == 2
    assert "invalid window" in capsys.readouterr().err


def test_trace_unknown_id_json(capsys, local_env):
    assert main(["trace", "nothing", "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["key"] is None


def test_worker_rejects_non_positive_poll(capsys, local_env):
    assert main(["worker", "--poll-seconds", "-1"]) == 2


def test_worker_until_idle_prints_summary(capsys, local_env):
    assert main(["worker", "--until-idle", "--lang", "en"]) == 0
    assert "Processed 0 messages" in capsys.readouterr().out


@pytest.mark.parametrize("setup, key", [
    (lambda p: p / "missing.mp4", "media file not found"),
    (lambda p: p, "not a regular file"),
])
def test_demo_rejects_bad_media_path(tmp_path, capsys, setup, key):
    assert main(["demo", str(setup(tmp_path)), "--lang", "en"]) == 2
    assert key in capsys.readouterr().err


def test_demo_json_error_is_json(tmp_path, capsys):
    assert main(["demo", str(tmp_path / "missing.mp4"), "--json"]) == 2
    assert json.loads(capsys.readouterr().out)["ok"] is False


def test_demo_refuses_non_empty_workdir(tmp_path, capsys):
    (tmp_path / "old.txt").write_text("x")
    assert main(["demo", "--workdir", str(tmp_path), "--lang", "en"]) == 2
    assert "not empty" in capsys.readouterr().err
