"""``scf-worker batch import`` and ``scf-worker reconcile``, and the terminal progress bar."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from scf_worker.app import Services
from scf_worker.batch import ManifestRef
from scf_worker.batch.wiring import importer_for
from scf_worker.cli import main
from scf_worker.cli.progress import BAR_WIDTH, TerminalProgress

from .batch_support import BUCKET, media_bytes

CSV = ("source,key,title\nlegacy/0.mp4,uploads/imported/0.mp4,片头\nlegacy/1.mp4,,\n,uploads/x.mp4,\n"
       "legacy/absent.mp4,,\nlegacy/2.mp4,outputs/2.mp4,\n")


@pytest.fixture
def sources(batch_services: Services, tmp_path: Path) -> Path:
    for index in range(3):
        batch_services.store.put_bytes(BUCKET, f"legacy/{index}.mp4",  # type: ignore[attr-defined]
                                       media_bytes("mp4", str(index)))
    manifest = tmp_path / "list.csv"
    manifest.write_text(CSV, encoding="utf-8")
    return manifest


def output(captured: str) -> str:
    """Drop the JSON log lines, which share standard output with the command's output in tests."""
    return "\n".join(line for line in captured.splitlines() if not line.startswith('{"ts"'))


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any]:
    code = main([*argv, "--json"])
    return code, json.loads(output(capsys.readouterr().out))


def test_import_local_manifest(sources: Path, batch_services: Services,
                               capsys: pytest.CaptureFixture[str]) -> None:
    code, result = run_json(capsys, "batch", "import", str(sources), "--concurrency", "2")

    assert code == 0
    assert result["status"] == "done"
    assert result["totals"] == {"imported": 2, "rejected": 3}
    assert result["report"] == (sources.parent / "list.csv.report.jsonl").as_uri()
    lines = [json.loads(line) for line in (sources.parent / "list.csv.report.jsonl").read_text().splitlines()]
    assert [line.get("reason") for line in lines] == [None, None, "missing_source", "source_not_found",
                                                      "invalid_key"]


def test_import_dry_run_writes_nothing(sources: Path, batch_services: Services,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    code, result = run_json(capsys, "batch", "import", str(sources), "--dry-run")

    assert code == 0
    assert result["dryRun"] is True
    assert result["totals"] == {"would_import": 2, "rejected": 3}
    assert [row["status"] for row in result["rows"]] == ["would_import", "would_import", "rejected",
                                                         "rejected", "rejected"]
    assert batch_services.db.query("SELECT COUNT(*) AS n FROM media_jobs")[0]["n"] == 0
    assert batch_services.db.query("SELECT COUNT(*) AS n FROM batch_imports")[0]["n"] == 0
    assert not (sources.parent / "list.csv.report.jsonl").exists()


def test_import_stored_manifest_in_chinese(sources: Path, batch_services: Services,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    batch_services.store.put_bytes(BUCKET, "batches/list.csv", CSV.encode())  # type: ignore[attr-defined]

    code = main(["batch", "import", "batches/list.csv", "--lang", "zh"])
    text = output(capsys.readouterr().out)

    assert code == 0
    assert "本轮合计" in text
    assert "已导入" in text
    assert "missing_source" in text
    assert f"cos://{BUCKET}/batches/list.csv.report.jsonl" in text


def test_repeat_and_rerun_import(sources: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_json(capsys, "batch", "import", str(sources))
    _, again = run_json(capsys, "batch", "import", str(sources))
    _, rerun = run_json(capsys, "batch", "import", str(sources), "--rerun")

    assert again["thisRun"] == {}
    assert again["pass"] == 1
    assert rerun["pass"] == 2
    assert rerun["thisRun"] == {"already_imported": 2, "rejected": 3}


def test_import_exit_codes(sources: Path, batch_services: Services,
                           capsys: pytest.CaptureFixture[str]) -> None:
    importer = importer_for(batch_services)
    record, _ = importer.register(ManifestRef.local(sources))
    importer.ledger.claim(record.import_id, "another-run", 300)

    assert main(["batch", "import", str(sources.parent / "absent.csv"), "--lang", "en"]) == 2
    assert "Manifest not found" in capsys.readouterr().err
    assert main(["batch", "import", str(sources), "--concurrency", "0"]) == 2
    assert main(["batch", "import", str(sources), "--lang", "en"]) == 3
    assert "Another process is importing" in capsys.readouterr().err


def test_reconcile_cli(batch_services: Services, capsys: pytest.CaptureFixture[str]) -> None:
    batch_services.store.put_bytes(BUCKET, "uploads/u1/lost.mp4", media_bytes("mp4", "lost"))  # type: ignore[attr-defined]

    dry_code, dry = run_json(capsys, "reconcile", "--dry-run")
    code = main(["reconcile", "--lang", "zh"])
    text = output(capsys.readouterr().out)
    _, again = run_json(capsys, "reconcile")

    assert dry_code == 0
    assert dry["orphanKeys"] == ["uploads/u1/lost.mp4"]
    assert dry["recorded"] == 0
    assert code == 0
    assert "补记 1" in text
    assert "uploads/u1/lost.mp4" in text
    assert again["orphans"] == 0


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_draws_on_terminal_only() -> None:
    ticks = iter(float(n) for n in range(100))
    terminal = Terminal()
    bar = TerminalProgress(terminal, "导入", {"imported": "已导入"}, monotonic=lambda: next(ticks))
    bar.start(4)
    for _ in range(2):
        bar.advance("imported")
    bar.finish()
    pipe = io.StringIO()
    quiet = TerminalProgress(pipe, "x", {})
    quiet.start(2)
    quiet.advance("imported")
    quiet.finish()

    assert bar.render() == f"导入 [{'#' * (BAR_WIDTH // 2)}{'-' * (BAR_WIDTH // 2)}] 2/4  50%  已导入 2"
    assert terminal.getvalue().startswith("\r导入 [")
    assert terminal.getvalue().endswith("\n")
    assert pipe.getvalue() == ""
