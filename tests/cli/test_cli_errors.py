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


def test_dlq_discard_without_filter_needs_all(capsys, local_env):
    assert main(["dlq", "discard", "--lang", "en"]) == 2
    assert "--all" in capsys.readouterr().err


def test_unexpected_error_is_one_line(capsys, tmp_path):
    assert main(["check", "--root", str(tmp_path / "missing"), "--lang", "en"]) != 0
    assert "Traceback" not in capsys.readouterr().err


def test_alert_threshold_out_of_range_names_variable(capsys, local_env, monkeypatch):
    monkeypatch.setenv("ALERT_FAILURE_RATE", "2")
    assert main(["alerts", "check"]) == 2
    assert "ALERT_FAILURE_RATE" in capsys.readouterr().err


def test_report_rejects_non_positive_requests(capsys):
    with pytest.raises(SystemExit):
        main(["report", "media-sign", "--requests", "-1"])


def test_missing_ffmpeg_binary_is_named():
    from scf_worker.transcode.binaries import find_ffmpeg
    from scf_worker.transcode.errors import FfmpegNotFound

    with pytest.raises(FfmpegNotFound, match="FFMPEG_BINARY"):
        find_ffmpeg("/nonexistent/ffmpeg")
