"""Cold start per function: a fresh process imports index.py and serves one invocation.

Each sample is the wall time of a whole new interpreter process, on the
embedded defaults (SQLite state in a temp dir, folder object store). The
baseline is ``python -c "import json, hmac, hashlib"`` measured in the same run.

    python bench/cold_start.py [--runs 15] [--markdown]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

INVOKE = """
import json, sys
sys.path.insert(0, {folder!r})
import index
event = json.loads({event!r})
index.main_handler(event, {{"request_id": "bench", "time_limit_in_ms": 3000}})
"""


def _events(secret: str, callback_secret: str) -> dict[str, dict]:
    sys.path.insert(0, str(ROOT / "src"))
    import jwt

    from scf_worker.runtime import samples
    from scf_worker.webhooks.signing import decode_secret, signature_headers

    token = jwt.encode({"sub": "u1", "exp": int(time.time()) + 3600}, secret, algorithm="HS256")
    body = json.dumps({"filename": "a.mp4", "mime": "video/mp4", "size": 1000})
    callback = json.dumps({"objectKey": "uploads/u1/a.mp4", "etag": "abc", "bucket": "media-1250000000",
                           "size": 10, "mime": "video/mp4"}).encode()
    headers = signature_headers([decode_secret(callback_secret)], "msg_1", int(time.time()), callback)
    event = {"schemaVersion": 1, "event": "SCF_JOB_DONE", "jobId": "j", "type": "media.upload",
             "status": "done", "resource": {"bucket": "b", "key": "k"},
             "metrics": {"durationMs": 0, "attempts": 1}, "at": "2026-01-01T00:00:00Z"}
    return {
        "media-sign": samples.apigw_event("POST", "/upload/sign", body,
                                          {"authorization": f"Bearer {token}"}),
        "cos-callback": samples.apigw_event("POST", "/cos/callback", callback.decode(), headers),
        "transcode": {"jobId": "missing-job"},
        "webhook-forward": event,
    }


def _time(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, env=env, check=True, capture_output=True)
    return (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()

    from scf_worker.webhooks.signing import generate_secret  # noqa: F401 (after sys.path)

    jwt_secret = "bench-jwt-secret-" + "x" * 24
    with tempfile.TemporaryDirectory() as tmp:
        sys.path.insert(0, str(ROOT / "src"))
        from scf_worker.webhooks.signing import generate_secret as gen

        callback_secret = gen()
        env = {**os.environ, "STORAGE_URL": f"file://{tmp}/cos", "WORKER_HOME": tmp,
               "STATE_URL": f"sqlite:///{tmp}/state.db", "AUTH_JWT_SECRET": jwt_secret,
               "CALLBACK_SHARED_SECRET": callback_secret, "LOG_LEVEL": "WARNING"}
        env.pop("WEBHOOK_ENDPOINTS", None)
        events = _events(jwt_secret, callback_secret)
        # Warm the state file and the OS page cache once.
        subprocess.run([sys.executable, "-c", INVOKE.format(
            folder=str(ROOT / "scf" / "media-sign"), event=json.dumps(events["media-sign"]))],
            env=env, check=True, capture_output=True)

        rows = []
        baseline = [_time([sys.executable, "-c", "import json, hmac, hashlib"], env)
                    for _ in range(args.runs)]
        rows.append(("baseline: import json, hmac, hashlib", baseline))
        for name, event in events.items():
            script = INVOKE.format(folder=str(ROOT / "scf" / name), event=json.dumps(event))
            rows.append((name, [_time([sys.executable, "-c", script], env) for _ in range(args.runs)]))

    base = statistics.median(baseline)
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} cores, {args.runs} runs each")
    print("| function | median ms | p90 ms | over baseline ms |")
    print("|---|---:|---:|---:|")
    for name, samples_ms in rows:
        ordered = sorted(samples_ms)
        p90 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))]
        median = statistics.median(samples_ms)
        print(f"| {name} | {median:.1f} | {p90:.1f} | {median - base:+.1f} |")


if __name__ == "__main__":
    main()
