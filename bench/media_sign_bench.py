"""Benchmark media-sign: issuance latency through the official STS SDK, and the function's cold start.

Issuance: ``main_handler`` is called in-process with a fresh JWT per request.
STS is the loopback stand-in (``scf_worker.uploads.sts_local``), which
``tencentcloud-sdk-python`` reaches over HTTP with TC3 signing. The figure
therefore includes the SDK, the HTTP round trip and the stand-in, but not
Tencent's network.
Cold start: a new interpreter per sample imports the handler module and runs
the first invocation (configuration, SDK import, first STS call).

Run: ``.venv/bin/python bench/media_sign_bench.py [--requests 500] [--cold-starts 15]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STS_SECRET_ID = "AKIDbenchsubaccount000000000000001"
STS_SECRET_KEY = "bench-sub-account-secret-key-00001"
JWT_SECRET = "bench-jwt-secret-" + "x" * 32

COLD_START_SCRIPT = r"""
import json, sys, time
started = time.perf_counter()
from scf_worker.handlers.media_sign import main_handler
imported = time.perf_counter()
import jwt
from scf_worker.runtime import samples
token = jwt.encode({"sub": "u1", "exp": int(time.time()) + 300}, sys.argv[1], algorithm="HS256")
event = samples.apigw_event("POST", "/upload/sign", json.dumps({"filename": "a.mp4", "mime": "video/mp4",
                            "size": 1000}), {"authorization": "Bearer " + token})
first_started = time.perf_counter()
response = main_handler(event, samples.context("media-sign"))
first_done = time.perf_counter()
assert response["statusCode"] == 200, response
print(json.dumps({"importMs": (imported - started) * 1000,
                  "firstInvocationMs": (first_done - first_started) * 1000}))
"""


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))
    return ordered[index]


def environment(workdir: Path, sts_endpoint: str) -> dict[str, str]:
    return {
        "WORKER_HOME": str(workdir / "home"),
        "STATE_URL": f"sqlite:///{workdir / 'state.db'}",
        "STORAGE_URL": f"file://{workdir / 'cos'}",
        "COS_BUCKET": "media-1250000000",
        "AUTH_JWT_SECRET": JWT_SECRET,
        "STS_SECRET_ID": STS_SECRET_ID,
        "STS_SECRET_KEY": STS_SECRET_KEY,
        "STS_ENDPOINT": sts_endpoint,
        "LOG_LEVEL": "WARNING",
    }


def measure_issuance(requests: int) -> dict[str, float]:
    import jwt

    from scf_worker.handlers.media_sign import main_handler
    from scf_worker.runtime import samples

    body = json.dumps({"filename": "a.mp4", "mime": "video/mp4", "size": 1000})
    durations_ms = []
    for index in range(requests + 20):
        token = jwt.encode({"sub": f"u{index % 50}", "exp": int(time.time()) + 300}, JWT_SECRET,
                           algorithm="HS256")
        event = samples.apigw_event("POST", "/upload/sign", body, {"authorization": "Bearer " + token})
        started = time.perf_counter()
        response = main_handler(event, samples.context("media-sign"))
        elapsed_ms = (time.perf_counter() - started) * 1000
        assert response["statusCode"] == 200, response
        if index >= 20:  # the first calls warm the SDK client and the stand-in
            durations_ms.append(elapsed_ms)
    return {"p50": percentile(durations_ms, 0.50), "p99": percentile(durations_ms, 0.99),
            "mean": statistics.fmean(durations_ms), "count": len(durations_ms)}


def measure_cold_start(samples_count: int, env: dict[str, str], workdir: Path) -> dict[str, float]:
    imports, firsts, totals = [], [], []
    for index in range(samples_count):
        child_env = {**os.environ, **env, "STATE_URL": f"sqlite:///{workdir / f'cold-{index}.db'}"}
        output = subprocess.run([sys.executable, "-c", COLD_START_SCRIPT, JWT_SECRET], env=child_env,
                                capture_output=True, text=True, check=True, timeout=120)
        result = json.loads(output.stdout.strip().splitlines()[-1])
        imports.append(result["importMs"])
        firsts.append(result["firstInvocationMs"])
        totals.append(result["importMs"] + result["firstInvocationMs"])
    return {"importMs": statistics.median(imports), "firstInvocationMs": statistics.median(firsts),
            "totalMs": statistics.median(totals), "maxTotalMs": max(totals), "count": samples_count}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500, help="timed issuance calls (after 20 warm-up)")
    parser.add_argument("--cold-starts", type=int, default=15, help="fresh interpreters to time")
    args = parser.parse_args()

    from scf_worker.uploads.grants import MemoryGrantStore
    from scf_worker.uploads.sts_local import CallerKey, LocalSts

    with tempfile.TemporaryDirectory(prefix="media-sign-bench-") as tmp, \
            LocalSts({STS_SECRET_ID: CallerKey(STS_SECRET_KEY)}, MemoryGrantStore()) as sts:
        workdir = Path(tmp)
        env = environment(workdir, sts.endpoint)
        os.environ.update(env)
        issuance = measure_issuance(args.requests)
        cold = measure_cold_start(args.cold_starts, env, workdir)

    print(json.dumps({"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                  "platform": platform.platform()},
                      "issuanceMs": issuance, "coldStartMs": cold}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
