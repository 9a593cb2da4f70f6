"""Each function's config.json states SCF's async retries, and the total number of runs stays bounded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scf_worker.functions import FUNCTIONS
from scf_worker.runtime.config import load_settings

SCF_DIR = Path(__file__).resolve().parents[2] / "scf"
# The bound the docs state: RETRY_MAX_ATTEMPTS runs through our queue plus SCF's retries.
MAX_RUNS_PER_WORK = 7


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_config_sets_async_retry(name: str) -> None:
    config = json.loads((SCF_DIR / name / "config.json").read_text())

    retry = config["asyncRetry"]

    assert retry["retryNum"] in (0, 1, 2)
    assert 60 <= retry["msgTTL"] <= 21600
    attempts = int(config["environment"]["variables"].get("RETRY_MAX_ATTEMPTS", "5"))
    assert attempts + retry["retryNum"] <= MAX_RUNS_PER_WORK


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_function_folder_exports_handler(name: str) -> None:
    index = (SCF_DIR / name / "index.py").read_text()

    assert f"from {FUNCTIONS[name].module} import main_handler" in index


def test_queue_settings_parse_and_hide_password() -> None:
    settings = load_settings({"QUEUE_URL": "amqp://worker:pa55word-x@127.0.0.1:5672/%2F",
                              "QUEUE_PREFIX": "scf.prod", "RETRY_JITTER": "false"})

    assert settings.queue_prefix == "scf.prod"
    assert not settings.retry_jitter
    assert "pa55word-x" in settings.secrets
    assert "pa55word" not in repr(settings)
