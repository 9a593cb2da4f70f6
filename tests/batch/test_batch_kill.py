"""A media-import killed with SIGKILL mid-run resumes from its checkpoint to the same totals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from urllib.parse import urlsplit

from scf_worker.app import Services

from .batch_support import BUCKET, MediaServer, OffsetClock, seed_manifest
from .conftest import ImporterFactory
from .test_batch_import import assert_imported, pipeline_counts, read_report, store_manifest

KILL_AFTER_ROW = 300
# Upper bound on the child's run; it normally dies after about a third of that.
WATCHDOG_SECONDS = 120


def row_of(path: str) -> int:
    """Return the row number a generated media URL carries as its seed (/gen/<kind>/<size>/<row>)."""
    return int(urlsplit(path).path.rstrip("/").rsplit("/", 1)[-1])


def test_sigkilled_import_resumes_to_same_totals(batch_services: Services, batch_env: dict[str, str],
                                                 make_importer: ImporterFactory, media_server: MediaServer,
                                                 clock: OffsetClock) -> None:
    # The child process uses the system resolver, so its URLs name 127.0.0.1 directly.
    seeded = seed_manifest(batch_services.store, BUCKET, media_server, host="127.0.0.1")
    ref = store_manifest(batch_services, "imports/manifests/killed.csv", seeded.csv)
    env = {**os.environ, **batch_env, "SSL_CERT_FILE": str(media_server.ca_file),
           "IMPORT_CONCURRENCY": "2", "PYTHONUNBUFFERED": "1"}

    child = subprocess.Popen([sys.executable, "-m", "scf_worker", "batch", "import", str(ref.key), "--json"],
                             env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    watchdog = threading.Timer(WATCHDOG_SECONDS, child.kill)
    watchdog.start()
    try:
        assert child.stderr is not None
        for line in child.stderr:
            event = json.loads(line) if line.startswith("{") else {}
            if event.get("event") == "import_checkpoint" and event["nextRow"] >= KILL_AFTER_ROW:
                child.send_signal(signal.SIGKILL)
                break
    finally:
        watchdog.cancel()
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL

    importer = make_importer()
    killed = importer.ledger.get(importer.register(ref)[0].import_id)
    assert killed is not None
    assert killed.status == "running"
    assert KILL_AFTER_ROW <= killed.next_row < 1000
    final_before = sum(1 for r in importer.ledger.rows(killed.import_id, 1).values() if r.is_final)
    requests_before = len(media_server.requests)

    # The dead child's lease has to run out first; move the clock past it instead of waiting.
    clock.advance(importer.batch.lease_seconds + 1)
    resumed = importer.run(ref)

    assert resumed.status == "done"
    assert resumed.totals == {"imported": 950, "rejected": 50}
    assert sum(resumed.processed.values()) == 1000 - final_before
    refetched = [row_of(path) for path in media_server.requests[requests_before:]]
    assert min(refetched) > killed.next_row
    report = read_report(batch_services, ref)
    assert Counter(line["status"] for line in report) == {"imported": 950, "rejected": 50}
    assert_imported(batch_services, seeded, report)
    assert pipeline_counts(batch_services) == {
        "media_jobs": 950, "upload_done": 950, "transcode_scheduled": 950, "transcode_messages": 950,
        "scheduled_events": 950, "done_events": 950}
