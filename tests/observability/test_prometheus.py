from scf_worker.observability.prometheus import render


def _row(function, outcome, duration_ms, **extra):
    return {"function": function, "outcome": outcome, "duration_ms": duration_ms,
            "retries": 0, "dead_letters": 0, "duplicates": 0, "cold_start": 0, "ffmpeg_ms": 0, **extra}


def test_render_counts_and_histogram():
    rows = [_row("transcode", "done", 40.0, ffmpeg_ms=30), _row("transcode", "retry", 700.0, retries=1),
            _row("transcode", "dead", 3.0, dead_letters=1), _row("media-sign", "ok", 2.0, cold_start=1)]
    text = render(rows, dead_letter_backlog=4)
    lines = set(text.splitlines())
    assert 'scf_worker_invocations_total{function="transcode",outcome="done"} 1' in lines
    assert 'scf_worker_retries_total{function="transcode"} 1' in lines
    assert 'scf_worker_dead_letters_total{function="transcode"} 1' in lines
    assert 'scf_worker_cold_start_total{function="media-sign"} 1' in lines
    assert 'scf_worker_invocation_duration_ms_bucket{function="transcode",le="50"} 2' in lines
    assert 'scf_worker_invocation_duration_ms_bucket{function="transcode",le="+Inf"} 3' in lines
    assert 'scf_worker_invocation_duration_ms_count{function="transcode"} 3' in lines
    assert "scf_worker_dead_letter_backlog 4" in lines
    assert text.endswith("\n")


def test_render_escapes_label_values():
    text = render([_row('we"ird\\fn', "ok", 1.0)], 0)
    assert 'function="we\\"ird\\\\fn"' in text
