"""``scf-worker db migrate|check`` against SQLite, MariaDB and Redis."""

from __future__ import annotations

from pathlib import Path

import pytest

from backends import mariadb_database, redis_prefix
from scf_worker.cli import main


def test_check_fails_then_migrate_fixes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"

    assert main(["db", "check", "--url", url, "--lang", "en"]) == 1
    assert "table media_jobs is missing" in capsys.readouterr().out
    assert main(["db", "migrate", "--url", url, "--lang", "en"]) == 0
    assert "created table media_jobs" in capsys.readouterr().out
    assert main(["db", "check", "--url", url, "--lang", "en"]) == 0
    assert "schema is current" in capsys.readouterr().out


def test_migrate_mariadb_hides_password(capsys: pytest.CaptureFixture[str]) -> None:
    with mariadb_database() as url:
        with_password = url.replace("root@", "root:@")

        assert main(["db", "migrate", "--url", with_password, "--lang", "zh"]) == 0
        assert main(["db", "check", "--url", url, "--lang", "zh"]) == 0
        out = capsys.readouterr().out
        assert "表结构已是最新" in out
        assert "root" not in out


def test_defaults_to_state_and_idempotency_urls(local_env: dict[str, str], monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    with redis_prefix() as redis_url:
        monkeypatch.setenv("IDEMPOTENCY_URL", redis_url)

        assert main(["db", "migrate", "--lang", "en"]) == 0
        out = capsys.readouterr().out
        assert "created table media_jobs" in out
        assert "Redis needs no tables" in out


def test_unreachable_store_fails(capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    assert main(["db", "check", "--url", f"mysql://root:hunter2secret@127.0.0.1:{port}/x"]) == 1
    err = capsys.readouterr().err
    assert "failed" in err
    assert "hunter2secret" not in err
