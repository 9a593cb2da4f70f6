"""``scf-worker report``: a measured run of one function written up as a Chinese report.

The page states how it was produced (command, request count, faults, machine),
the success, retry and dead-letter rates, latency percentiles with a histogram
image, cold start, peak memory, and every alert threshold with whether it fired.
"""

from __future__ import annotations

import json
import os
import platform
import random
import resource
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scf_worker.app import Services, get_services, reset_services
from scf_worker.demo.pipeline import local_environment
from scf_worker.functions import FUNCTIONS
from scf_worker.observability import simulate
from scf_worker.observability.aggregate import Summary, load_records, summarize
from scf_worker.observability.alerts import AlertResult, Thresholds, evaluate
from scf_worker.webhooks.signing import generate_secret

DEFAULT_FAULTS = {
    "media-sign": "bad_signature=0.05,permanent=0.03",
    "cos-callback": "bad_signature=0.05,duplicate=0.1",
    "transcode": "transient=0.1,permanent=0.05",
    "webhook-forward": "transient=0.1,permanent=0.03,slow=0.05,duplicate=0.05",
    "media-import": "permanent=0.05",
    "reconcile": "",
    "dlq-replay": "",
}
DEFAULT_REQUESTS = {"media-sign": 500, "cos-callback": 500, "transcode": 20, "webhook-forward": 200,
                    "media-import": 200, "reconcile": 100, "dlq-replay": 50}


@dataclass
class ReportResult:
    function: str
    requests: int
    faults: simulate.FaultSpec
    summary: Summary
    alerts: list[AlertResult]
    outcome_counts: dict[str, int]
    cold_start_ms: float
    peak_rss_mb: float
    peak_child_rss_mb: float
    wall_seconds: float


def _local_env(workdir: Path) -> dict[str, str]:
    return {
        "WORKER_HOME": str(workdir), "STATE_URL": f"sqlite:///{workdir / 'state.db'}",
        "STORAGE_URL": f"file://{workdir / 'cos'}", "COS_BUCKET": "media-1250000000",
        "AUTH_JWT_SECRET": secrets.token_urlsafe(32), "CALLBACK_SHARED_SECRET": generate_secret(),
        "WEBHOOK_ENDPOINTS": "", "WEBHOOK_ALLOW_LOOPBACK": "true", "RETRY_BASE_MS": "20",
        "RETRY_MAX_DELAY_MS": "200", "LOG_LEVEL": "WARNING", "METRICS_TO_STATE": "true",
    }


def measure_cold_start(function: str, runs: int = 5) -> float:
    """Return the median wall time (ms) of a new process importing the function's handler."""
    spec = FUNCTIONS[function]
    code = f"import {spec.module} as m; m.main_handler(None, {{}})"
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, **_local_env(Path(tmp))}
        samples_ms = []
        for _ in range(runs):
            started = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True)
            samples_ms.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples_ms)


def run(function: str, requests: int | None = None, faults: str | None = None,
        seed: int = 1) -> ReportResult:
    if function not in DEFAULT_FAULTS:
        raise ValueError(f"unknown function {function!r}; known: {', '.join(DEFAULT_FAULTS)}")
    count = requests or DEFAULT_REQUESTS[function]
    spec = simulate.FaultSpec.parse(DEFAULT_FAULTS[function] if faults is None else faults)
    rng = random.Random(seed)  # noqa: S311 (fault placement, not security)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="scf-report-") as tmp:
        workdir = Path(tmp)
        env = _local_env(workdir)
        with local_environment(env):
            counts = _drive(function, env, count, spec, rng, workdir)
            services = get_services()
            records = [r for r in load_records(services.db, function)]
            summary = summarize(records)
            timeouts = {name: s.timeout_seconds * 1000 for name, s in FUNCTIONS.items()}
            alerts = evaluate(services.db, 24 * 3600, timeouts, Thresholds())
    usage = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ReportResult(
        function=function, requests=count, faults=spec, summary=summary,
        alerts=[a for a in alerts if a.scope in (function, "all")], outcome_counts=counts,
        cold_start_ms=measure_cold_start(function),
        peak_rss_mb=usage.ru_maxrss / 1024, peak_child_rss_mb=children.ru_maxrss / 1024,
        wall_seconds=time.monotonic() - started,
    )


def _drive(function: str, env: dict[str, str], count: int, spec: simulate.FaultSpec,
           rng: random.Random, workdir: Path) -> dict[str, int]:
    if function == "media-sign":
        return simulate.simulate_media_sign(env, count, spec, rng)
    if function == "cos-callback":
        return simulate.simulate_cos_callback(env, count, spec, rng)

    def configure(extra: dict[str, str]) -> Services:
        os.environ.update(extra)
        reset_services()
        return get_services()

    if function == "transcode":
        return simulate.simulate_transcode(env, count, spec, rng, workdir, configure)
    if function == "media-import":
        return simulate.simulate_media_import(env, count, spec, rng)
    if function == "reconcile":
        return simulate.simulate_reconcile(env, count, spec, rng)
    if function == "dlq-replay":
        return simulate.simulate_dlq_replay(env, count, spec, rng, configure)
    return simulate.simulate_webhook_forward(env, count, spec, rng, configure)


def histogram_png(durations_ms: list[float], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 3.2), dpi=110)
    axes.hist(durations_ms, bins=min(40, max(5, len(durations_ms) // 5)), color="#3572b0")
    axes.set_xlabel("latency (ms)")
    axes.set_ylabel("invocations")
    axes.set_title(title)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)


def _pct(value: float) -> str:
    return f"{value * 100:.2f}%"


def write(result: ReportResult, docs_dir: Path) -> Path:
    """Write ``docs/scf-<function>-report.md`` and its histogram image; return the page path."""
    name = result.function
    image = docs_dir / "images" / f"scf-{name}-latency.png"
    histogram_png(result.summary.durations_ms, image, f"{name} latency, n={result.summary.invocations}")
    s = result.summary
    rule_names = {"failure_rate": "失败率", "p95_near_timeout": "P95 接近超时",
                  "dead_letter_backlog": "死信积压"}
    alert_rows = "\n".join(
        f"| {rule_names.get(a.rule, a.rule)} (`{a.rule}`) | {_fmt_threshold(a)} | {_fmt_value(a)} | "
        f"{'是' if a.fired else '否'} |"
        for a in result.alerts
    )
    codes = "\n".join(f"| `{code}` | {n} |" for code, n in sorted(s.failures_by_code.items()))
    codes = codes or "| — | 0 |"
    outcomes = ", ".join(f"{k}: {v}" for k, v in sorted(result.outcome_counts.items()))
    page = f"""# {name} 运行报告

本报告由 `scf-worker report {name} --requests {result.requests} --faults {result.faults.describe()}` 生成:在本地栈(SQLite 状态库、目录对象存储、真实 ffmpeg、127.0.0.1 上的接收端)上运行真实处理函数,并按比例注入故障。机器:{os.cpu_count()} 核,{platform.system()} {platform.machine()},Python {platform.python_version()}。生成时间 {time.strftime('%Y-%m-%d %H:%M:%SZ', time.gmtime())},耗时 {result.wall_seconds:.1f} 秒。

## 概览

| 指标 | 数值 |
|---|---|
| 调用次数(含每次重试) | {s.invocations} |
| 成功率 | {_pct(s.success_rate)} |
| 失败率(最终失败) | {_pct(s.failure_rate)} |
| 重试率 | {_pct(s.retry_rate)} |
| 死信率 | {_pct(s.dead_letter_rate)} |
| 重复投递(幂等命中) | {s.duplicates} |
| 冷启动(新进程导入并处理一次,中位数) | {result.cold_start_ms:.1f} ms |
| 峰值内存(本进程 RSS) | {result.peak_rss_mb:.1f} MB |
| 峰值内存(子进程,如 ffmpeg) | {result.peak_child_rss_mb:.1f} MB |
| ffmpeg 总耗时 | {s.ffmpeg_ms_total:.0f} ms |

请求结果分布:{outcomes}。

## 延迟

| p50 | p95 | p99 | 最大 |
|---:|---:|---:|---:|
| {s.p50_ms:.2f} ms | {s.p95_ms:.2f} ms | {s.p99_ms:.2f} ms | {s.max_ms:.2f} ms |

![{name} 延迟分布](images/scf-{name}-latency.png)

## 失败按错误码

| 错误码 | 次数 |
|---|---:|
{codes}

## 告警阈值

| 规则 | 阈值 | 实测 | 是否触发 |
|---|---|---|---|
{alert_rows}

注入的故障比例高于生产常态,因此失败率告警可能触发;这正是用于验证告警规则的。率的定义与 CLS 上的对应查询见 [observability.md](observability.md)。
"""
    path = docs_dir / f"scf-{name}-report.md"
    path.write_text(page, encoding="utf-8")
    return path


def _fmt_threshold(alert: AlertResult) -> str:
    if alert.rule == "failure_rate":
        return f"> {_pct(alert.threshold)}"
    if alert.rule == "p95_near_timeout":
        return f"> {alert.threshold:.0f} ms(超时的 80%)"
    return f"> {alert.threshold:.0f} 条"


def _fmt_value(alert: AlertResult) -> str:
    if alert.rule == "failure_rate":
        return _pct(alert.value)
    if alert.rule == "p95_near_timeout":
        return f"{alert.value:.2f} ms"
    return f"{alert.value:.0f} 条"


def as_json(result: ReportResult) -> dict[str, Any]:
    return {"function": result.function, "requests": result.requests,
            "faults": result.faults.describe(), "summary": result.summary.as_dict(),
            "alerts": [a.as_dict() for a in result.alerts], "outcomes": result.outcome_counts,
            "coldStartMs": result.cold_start_ms, "peakRssMb": result.peak_rss_mb,
            "peakChildRssMb": result.peak_child_rss_mb}


__all__ = ["as_json", "json", "run", "write"]
