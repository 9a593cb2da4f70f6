import json
import random

import numpy as np
import pytest

from scf_worker.observability import metrics
from scf_worker.observability.aggregate import load_records, percentile, summarize
from scf_worker.observability.alerts import Thresholds, evaluate, parse_window

NOW = 1_800_000_000.0


def _record(outcome, duration_ms, function="transcode", ts=NOW, code="ok", **extra):
    return metrics.InvocationRecord(function=function, trigger="queue", outcome=outcome, code=code,
                                    duration_ms=duration_ms, ts=ts, **extra)


def _known_run(services):
    """100 invocations: 81 successes, 12 retried attempts, 7 failures of which 3 dead-lettered."""
    rng = random.Random(7)
    durations = [rng.uniform(5, 500) for _ in range(100)]
    outcomes = ["done"] * 81 + ["retry"] * 12 + ["error"] * 4 + ["dead"] * 3
    for outcome, duration in zip(outcomes, durations, strict=True):
        metrics.emit(_record(outcome, duration, code="ok" if outcome == "done" else "boom",
                             retries=int(outcome == "retry"), dead_letters=int(outcome == "dead")),
                     db=services.db)
    return durations


def test_known_run_counts_and_rates_are_exact(services):
    _known_run(services)
    summary = summarize(load_records(services.db, "transcode"))
    assert summary.invocations == 100
    assert summary.successes == 81
    assert summary.failures == 7
    assert summary.retries == 12
    assert summary.dead_letters == 3
    assert summary.success_rate == 0.81
    assert summary.failure_rate == 0.07
    assert summary.retry_rate == 0.12
    assert summary.dead_letter_rate == 0.03
    assert summary.failures_by_code == {"boom": 7}


def test_percentiles_match_numpy(services):
    durations = _known_run(services)
    summary = summarize(load_records(services.db, "transcode"))
    for q, value in ((50, summary.p50_ms), (95, summary.p95_ms), (99, summary.p99_ms)):
        assert value == pytest.approx(float(np.percentile(durations, q)), rel=1e-12)


@pytest.mark.parametrize("values", [[1.0], [3.0, 1.0], [float(i) for i in range(1, 11)]])
def test_percentile_function_matches_numpy(values):
    for q in (0, 25, 50, 90, 95, 99, 100):
        assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)))


def test_metrics_line_is_flat_json(logs, services):
    metrics.emit(_record("done", 12.5, ffmpeg_ms=3.0), db=services.db)
    line = logs.events("metrics")[-1]
    assert line["metricFunction"] == "transcode"
    assert line["durationMs"] == 12.5
    assert line["ffmpegMs"] == 3.0
    assert all(isinstance(v, (str, int, float)) for v in line.values())


def test_alerts_quiet_on_a_healthy_window(services):
    for _ in range(40):
        metrics.emit(_record("done", 100.0, function="webhook-forward"), db=services.db)
    results = evaluate(services.db, 300, {"webhook-forward": 30_000}, Thresholds(),
                       clock=lambda: NOW + 10)
    assert [r.rule for r in results if r.fired] == []


def test_failure_rate_alert_fires_above_threshold(services):
    for index in range(100):
        metrics.emit(_record("dead" if index < 6 else "done", 10.0, function="cos-callback"),
                     db=services.db)
    fired = [r for r in evaluate(services.db, 300, {}, Thresholds(), clock=lambda: NOW + 1) if r.fired]
    assert [(r.rule, r.scope) for r in fired] == [("failure_rate", "cos-callback")]
    assert fired[0].value == 0.06


def test_failure_rate_alert_ignores_records_outside_window(services):
    for _ in range(10):
        metrics.emit(_record("dead", 10.0, ts=NOW - 3600), db=services.db)
    results = evaluate(services.db, 300, {}, Thresholds(), clock=lambda: NOW)
    assert not any(r.fired for r in results)


def test_p95_alert_fires_near_timeout(services):
    for index in range(20):
        metrics.emit(_record("done", 850_000.0 if index >= 1 else 10.0), db=services.db)
    results = evaluate(services.db, 300, {"transcode": 900_000}, Thresholds(), clock=lambda: NOW)
    fired = {r.rule for r in results if r.fired}
    assert fired == {"p95_near_timeout"}


def test_dead_letter_backlog_alert(services):
    from scf_worker.observability.alerts import pending_dead_letters
    from scf_worker.retry.classify import Failure
    from scf_worker.retry.deadletter import DeadLetter

    failure = Failure("permanent", "invalid_media", "InvalidMedia", "x", at=NOW)
    for index in range(101):
        services.dead_letters.add(DeadLetter("transcode", "media.transcode", str(index),
                                             {"jobId": str(index)}, 1, failure, failure))
    backlog_count = pending_dead_letters(services.dead_letters)
    assert backlog_count == 101
    results = evaluate(services.db, 300, {}, Thresholds(), clock=lambda: NOW,
                       dead_letter_backlog=backlog_count)
    backlog = next(r for r in results if r.rule == "dead_letter_backlog")
    assert backlog.fired
    assert backlog.value == 101


@pytest.mark.parametrize("text, seconds", [("30s", 30), ("5m", 300), ("2h", 7200), ("1d", 86400)])
def test_parse_window(text, seconds):
    assert parse_window(text) == seconds


@pytest.mark.parametrize("text", ["", "5", "m", "5x", "-5m"])
def test_parse_window_rejects_bad_values(text):
    with pytest.raises(ValueError):
        parse_window(text)


def test_metrics_store_failure_never_raises(logs):
    class Broken:
        def execute(self, *args):
            raise RuntimeError("down")

    metrics.emit(_record("done", 1.0), db=Broken())
    assert logs.events("metrics_store_failed")


def test_function_timeouts_match_config_json():
    from pathlib import Path

    from scf_worker.functions import FUNCTIONS

    root = Path(__file__).resolve().parents[2]
    for name, spec in FUNCTIONS.items():
        config = json.loads((root / "scf" / name / "config.json").read_text())
        assert spec.timeout_seconds == config["timeout"], name
