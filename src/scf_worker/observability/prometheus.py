"""Prometheus text exposition (version 0.0.4) of the recorded invocation metrics.

``scf-worker dev`` serves it at ``GET /metrics`` so a local Prometheus or a
curious developer can watch rates and latency while the stack runs.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

# Latency buckets in milliseconds, from a fast HTTP response to a long transcode.
BUCKETS_MS = (5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 30_000, 60_000, 300_000, 900_000)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def render(rows: list[dict[str, Any]], dead_letter_backlog: int) -> str:
    """Render counters, a latency histogram per function and the dead-letter backlog."""
    counts: dict[tuple[str, str], int] = defaultdict(int)
    totals: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    durations: dict[str, list[float]] = defaultdict(list)
    for row in rows:
        function = row["function"]
        counts[(function, row["outcome"])] += 1
        for name in ("retries", "dead_letters", "duplicates", "cold_start", "ffmpeg_ms"):
            totals[function][name] += float(row.get(name) or 0)
        durations[function].append(float(row["duration_ms"]))

    lines = ["# HELP scf_worker_invocations_total Invocations (one per HTTP call, COS event or job message).",
             "# TYPE scf_worker_invocations_total counter"]
    for (function, outcome), value in sorted(counts.items()):
        lines.append(f'scf_worker_invocations_total{{function="{_label(function)}",'
                     f'outcome="{_label(outcome)}"}} {value}')
    for name, help_text in (("retries", "Attempts that failed and were scheduled again."),
                            ("dead_letters", "Attempts that ended in the dead-letter store."),
                            ("duplicates", "Deliveries answered from an earlier result."),
                            ("cold_start", "Invocations that started a new instance."),
                            ("ffmpeg_ms", "Milliseconds spent in ffmpeg.")):
        metric = f"scf_worker_{name}_total"
        lines += [f"# HELP {metric} {help_text}", f"# TYPE {metric} counter"]
        for function in sorted(totals):
            lines.append(f'{metric}{{function="{_label(function)}"}} {totals[function][name]:g}')

    lines += ["# HELP scf_worker_invocation_duration_ms Invocation latency in milliseconds.",
              "# TYPE scf_worker_invocation_duration_ms histogram"]
    for function, values in sorted(durations.items()):
        label = f'function="{_label(function)}"'
        for bound in BUCKETS_MS:
            below = sum(1 for value in values if value <= bound)
            lines.append(f'scf_worker_invocation_duration_ms_bucket{{{label},le="{bound}"}} {below}')
        lines.append(f'scf_worker_invocation_duration_ms_bucket{{{label},le="+Inf"}} {len(values)}')
        lines.append(f"scf_worker_invocation_duration_ms_sum{{{label}}} {sum(values):g}")
        lines.append(f"scf_worker_invocation_duration_ms_count{{{label}}} {len(values)}")

    lines += ["# HELP scf_worker_dead_letter_backlog Pending entries in the dead-letter store.",
              "# TYPE scf_worker_dead_letter_backlog gauge",
              f"scf_worker_dead_letter_backlog {dead_letter_backlog}"]
    return "\n".join(lines) + "\n"


def exposition(services: Any) -> str:
    """Read the state store and render; used by the dev stack's /metrics route."""
    from scf_worker.observability.aggregate import load_records
    from scf_worker.observability.alerts import pending_dead_letters

    return render(load_records(services.db), pending_dead_letters(services.dead_letters))
