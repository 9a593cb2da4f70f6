"""Throughput of media-import and reconcile on the embedded defaults (SQLite state, folder store).

Each case runs in a fresh temp directory. There are three cases:

- an import of ROWS rows whose sources are objects in the bucket, copied to new keys;
- an import of ROWS https:// sources from a loopback HTTPS server in this process,
  whose TLS handshakes share the CPU with the importer;
- a reconcile over ROWS recorded objects plus ORPHANS objects without a record.

Usage: python bench/batch_import.py [--rows 1000] [--orphans 100] [--concurrency 1 4]
"""

from __future__ import annotations

import argparse
import hashlib
import http.server
import os
import ssl
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

BUCKET = "media-1250000000"
MAGIC = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"


def media(seed: str, size: int = 300) -> bytes:
    return (MAGIC + hashlib.sha256(seed.encode()).digest() * (size // 32 + 1))[:size]


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        body = media(self.path)
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)


def https_server() -> tuple[http.server.ThreadingHTTPServer, ssl.SSLContext]:
    import trustme

    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.socket = server_context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, client_context


def environment(workdir: Path) -> None:
    os.environ.update({
        "WORKER_HOME": str(workdir / "home"), "STATE_URL": f"sqlite:///{workdir / 'state.db'}",
        "STORAGE_URL": f"file://{workdir / 'cos'}", "COS_BUCKET": BUCKET, "LOG_LEVEL": "WARNING",
        "IMPORT_ALLOW_LOOPBACK": "true", "IMPORT_MAX_BYTES": "4096",
    })


def build_importer(client_context: ssl.SSLContext | None) -> Any:
    from scf_worker.app import get_services, reset_services
    from scf_worker.batch import Importer, ResolvingUrlGuard
    from scf_worker.batch.fetch import HttpsFetcher
    from scf_worker.batch.wiring import batch_settings

    reset_services()
    services = get_services()
    batch = batch_settings(services)
    guard = ResolvingUrlGuard(True)
    fetcher = HttpsFetcher(guard, batch.max_source_bytes, 10, 30, ssl_context=client_context)
    return services, Importer(services.settings, batch, services.jobs, services.store, services.scratch_root,
                              services.clock, guard=guard, fetcher=fetcher)


def bench_import(kind: str, rows: int, concurrency: int, client_context: ssl.SSLContext,
                 port: int) -> float:
    from scf_worker.batch import ManifestRef

    with tempfile.TemporaryDirectory(prefix="bench-import-") as tmp:
        environment(Path(tmp))
        services, importer = build_importer(client_context)
        lines = ["source,key"]
        for i in range(rows):
            if kind == "object":
                services.store.put_bytes(BUCKET, f"legacy/{i}.mp4", media(str(i)))
                lines.append(f"legacy/{i}.mp4,uploads/imported/{i}.mp4")
            else:
                lines.append(f"https://127.0.0.1:{port}/media/{i},uploads/web/{i}.mp4")
        services.store.put_bytes(BUCKET, "imports/manifests/bench.csv", ("\n".join(lines) + "\n").encode())
        started = time.perf_counter()
        summary = importer.run(ManifestRef.stored(BUCKET, "imports/manifests/bench.csv"),
                               concurrency=concurrency)
        elapsed = time.perf_counter() - started
        assert summary.totals == {"imported": rows}, summary.totals
        return elapsed


def bench_reconcile(rows: int, orphans: int) -> float:
    from scf_worker.batch.wiring import reconciler_for
    from scf_worker.callbacks.notices import UploadNotice
    from scf_worker.callbacks.recorder import record_upload

    with tempfile.TemporaryDirectory(prefix="bench-reconcile-") as tmp:
        environment(Path(tmp))
        services, _ = build_importer(None)
        for i in range(rows + orphans):
            info = services.store.put_bytes(BUCKET, f"uploads/u{i % 50}/{i}.mp4", media(str(i)))
            if i < rows:
                notice = UploadNotice(BUCKET, info.key, info.etag, info.size, "video/mp4")
                record_upload(services.jobs, notice, "bench")
        started = time.perf_counter()
        summary = reconciler_for(services).run()
        elapsed = time.perf_counter() - started
        assert summary.recorded == orphans, summary.counts()
        return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--orphans", type=int, default=100)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4])
    args = parser.parse_args()

    server, client_context = https_server()
    port = int(server.server_address[1])
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} cores, {args.rows} rows")
    print("| case | concurrency | seconds | rows/s |")
    print("|---|---:|---:|---:|")
    for kind in ("object", "url"):
        for concurrency in args.concurrency:
            seconds = bench_import(kind, args.rows, concurrency, client_context, port)
            print(f"| import, {kind} sources | {concurrency} | {seconds:.2f} | {args.rows / seconds:.0f} |")
    seconds = bench_reconcile(args.rows, args.orphans)
    print(f"| reconcile, {args.rows} recorded + {args.orphans} orphans | 4 | {seconds:.2f} |"
          f" {(args.rows + args.orphans) / seconds:.0f} objects/s |")
    server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
