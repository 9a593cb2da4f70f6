"""Replay through the CLI, the script's entry point and the dlq-replay timer function."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from retry_support import JOB_TYPE, TOPIC, Stack, heal, plan, row

from scf_worker.cli import main
from scf_worker.cli.dlq import ProgressBar, parse_time
from scf_worker.handlers.dlq_replay import main_handler as dlq_replay_handler
from scf_worker.jobs.worker import run_until_idle
from scf_worker.retry.classify import TRANSIENT, Failure
from scf_worker.retry.deadletter import DeadLetterQuery, list_entries, new_entry
from scf_worker.retry.replay import Replayer, ReplayOptions
from scf_worker.runtime.samples import timer_event

JOBS = ("j1", "j2", "j3")


def cli_json(capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    code = main(["dlq", *args, "--json"])
    output = capsys.readouterr().out
    return code, json.loads(output)


def fail_jobs(stack: Stack, jobs: tuple[str, ...] = JOBS, kind: str = "transient") -> None:
    for job in jobs:
        stack.services.queue.publish(TOPIC, plan(stack.db, job, fail_times=1000, kind=kind))
    run_until_idle(stack.services, max_wait_seconds=10, sleep=stack.sleep, topics=(TOPIC,))


def pending(stack: Stack) -> list:
    return list_entries(stack.services.dead_letters, DeadLetterQuery())


def runs(stack: Stack) -> dict[str, int]:
    return {job: row(stack.db, job)["runs"] for job in JOBS}


def test_replay_completes_every_entry_once(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    fail_jobs(stack)
    assert len(pending(stack)) == 3
    heal(stack.db)
    before = runs(stack)

    code, dry = cli_json(capsys, "replay", "--dry-run")
    assert code == 0
    assert dry["wouldReplay"] == 3
    assert dry["sent"] == 0
    assert runs(stack) == before
    assert len(pending(stack)) == 3

    code, first = cli_json(capsys, "replay")
    assert code == 0
    assert first["replayed"] == 3
    assert first["sent"] == 3
    assert pending(stack) == []
    assert {job: row(stack.db, job)["effects"] for job in JOBS} == {"j1": 1, "j2": 1, "j3": 1}

    code, second = cli_json(capsys, "replay")
    assert code == 0
    assert second["sent"] == 0
    assert second["entries"] == 0
    assert {job: row(stack.db, job)["effects"] for job in JOBS} == {"j1": 1, "j2": 1, "j3": 1}
    code, replayed = cli_json(capsys, "list", "--status", "replayed")
    assert [e["resolution"] for e in replayed] == ["replayed"] * 3


def test_replay_failure_keeps_entry_pending(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    fail_jobs(stack, ("j1",))

    code, report = cli_json(capsys, "replay")

    assert code == 1
    assert report["failed"] == 1
    [entry] = pending(stack)
    assert entry.attempts == 6
    assert entry.last_failed_at >= entry.first_failed_at
    assert row(stack.db, "j1")["runs"] == 6


def test_replay_sends_copies_of_same_work_once(stack: Stack) -> None:
    fail_jobs(stack, ("j1",))
    [entry] = pending(stack)
    stack.services.dead_letters.add(new_entry(TOPIC, JOB_TYPE, "j1", {"jobId": "j1"}, 5,
                                              entry.first_failure, entry.last_failure))
    heal(stack.db)

    report = Replayer(stack.services).run(ReplayOptions())

    assert report.sent == 1
    assert sorted(item.action for item in report.items) == ["replayed", "replayed"]
    assert row(stack.db, "j1")["effects"] == 1
    resolutions = sorted(str(e.resolution) for e in list_entries(
        stack.services.dead_letters, DeadLetterQuery(statuses=("replayed",))))
    assert resolutions == ["duplicate", "replayed"]


def test_replay_skips_work_that_since_succeeded(stack: Stack) -> None:
    fail_jobs(stack, ("j1",))
    heal(stack.db)
    stack.services.queue.publish(TOPIC, {"jobId": "j1"})
    run_until_idle(stack.services, max_wait_seconds=10, sleep=stack.sleep, topics=(TOPIC,))
    runs_before = row(stack.db, "j1")["runs"]

    dry = Replayer(stack.services).run(ReplayOptions(dry_run=True))
    report = Replayer(stack.services).run(ReplayOptions())

    assert [item.action for item in dry.items] == ["would_skip"]
    assert report.sent == 0
    assert [item.action for item in report.items] == ["already_done"]
    assert row(stack.db, "j1")["runs"] == runs_before
    assert row(stack.db, "j1")["effects"] == 1
    assert pending(stack) == []


def test_replay_filters_and_discard(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    if stack.kind != "sqlite":
        pytest.skip("filters are covered per store by the store contract")
    fail_jobs(stack)
    heal(stack.db)
    ids = [str(e.id) for e in pending(stack)]

    code, report = cli_json(capsys, "replay", "--id", ids[0], "--function", TOPIC, "--type", JOB_TYPE)
    assert code == 0
    assert report["replayed"] == 1
    code, discarded = cli_json(capsys, "discard", "--id", ids[1])
    assert code == 0
    assert discarded["discarded"] == [ids[1]]
    code, left = cli_json(capsys, "list")
    assert code == 0
    assert [e["id"] for e in left] == [ids[2]]
    code, shown = cli_json(capsys, "show", ids[1])
    assert code == 0
    assert shown["status"] == "discarded"
    assert main(["dlq", "show", "999999"]) == 2


def test_rate_limits_replays(stack: Stack) -> None:
    if stack.kind != "sqlite":
        pytest.skip("pacing does not depend on the store")
    fail_jobs(stack)
    heal(stack.db)
    slept: list[float] = []
    now = [0.0]

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    report = Replayer(stack.services, sleep=sleep, monotonic=lambda: now[0]).run(
        ReplayOptions(rate_per_second=2))

    assert report.sent == 3
    assert slept == [0.5, 0.5]


def test_timer_function_replays_transient_entries_within_budget(
        stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    fail_jobs(stack, ("j1", "j2"))
    fail_jobs(stack, ("j3",), kind="permanent")
    heal(stack.db)
    stack.services.settings = type(stack.services.settings)(
        **{**stack.services.settings.__dict__, "dlq_replay_budget": 1, "dlq_replay_rate": 1000})

    first = dlq_replay_handler(timer_event(), {"request_id": "t1", "time_limit_in_ms": 900_000})
    second = dlq_replay_handler(timer_event(), {"request_id": "t2", "time_limit_in_ms": 900_000})
    third = dlq_replay_handler(timer_event(), {"request_id": "t3", "time_limit_in_ms": 900_000})

    assert [first["replayed"], second["replayed"], third["replayed"]] == [1, 1, 0]
    assert [e.idempotency_key for e in pending(stack)] == ["j3"]


def test_progress_bar_draws_only_on_terminal() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal, piped = Terminal(), io.StringIO()
    for stream in (terminal, piped):
        bar = ProgressBar(stream, "Replaying")
        bar(1, 2)
        bar(2, 2)

    assert terminal.getvalue().endswith("[" + "#" * 30 + "] 2/2\n")
    assert "\r" in terminal.getvalue()
    assert piped.getvalue() == ""


@pytest.mark.parametrize(("value", "expected"), [
    ("2024-05-01T02:00:00Z", 1714528800.0),
    ("2024-05-01T10:00:00+08:00", 1714528800.0),
    ("1714528800", 1714528800.0),
    ("24h", 1714528800.0 - 86400),
    ("30m", 1714528800.0 - 1800),
])
def test_parse_time_forms(value: str, expected: float) -> None:
    assert parse_time(value, now=1714528800.0) == expected


def test_failure_dict_round_trip() -> None:
    failure = Failure(TRANSIENT, "http_503", "TransientError", "busy", at=5.0)

    assert Failure.from_dict(failure.as_dict()) == failure
