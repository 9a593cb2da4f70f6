import json
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_trace_lists_every_step_of_a_demo_upload(tmp_path):
    env_run = {"check": False, "capture_output": True, "text": True, "timeout": 300}
    demo = subprocess.run([sys.executable, "-m", "scf_worker", "demo", "--workdir", str(tmp_path),
                           "--json"], **env_run)
    assert demo.returncode == 0, demo.stderr[-2000:]
    upload_job = next(j for j in json.loads(demo.stdout)["jobs"] if j["type"] == "media.upload")

    import os

    env = {**os.environ, "STATE_URL": f"sqlite:///{tmp_path / 'state.db'}"}
    traced = subprocess.run([sys.executable, "-m", "scf_worker", "trace", upload_job["id"], "--json"],
                            env=env, **env_run)
    assert traced.returncode == 0, traced.stderr[-2000:]
    steps = json.loads(traced.stdout)["steps"]
    names = [(s["kind"], s["name"]) for s in steps]
    assert names[0] == ("invocation", "media-sign")
    assert ("upload", "media_jobs") in names
    assert ("invocation", "cos-callback") in names
    assert ("invocation", "transcode") in names
    assert ("event", "SCF_JOB_DONE") in names
    assert names[-1] == ("invocation", "webhook-forward")
    assert sum(1 for kind, name in names if name == "webhook-forward") == 3

    alerts = subprocess.run([sys.executable, "-m", "scf_worker", "alerts", "check", "--window", "1h",
                             "--json"], env=env, **env_run)
    assert alerts.returncode == 0, alerts.stdout
    assert json.loads(alerts.stdout)["fired"] == 0
