"""Move outbox rows from the SQL ``queue`` table to a broker transport.

Job state changes write their follow-up messages to the ``queue`` table in the
same transaction (the outbox). With ``QUEUE_URL=amqp://…`` workers consume from
the broker instead, so each worker poll first publishes any pending outbox rows
there, with confirms, and marks them ``relayed``. A crash between the confirm
and the commit publishes a row twice; the work ledger runs the work once.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from scf_worker.queue.base import QueueTransport
from scf_worker.queue.sql import failure_from_json
from scf_worker.state.sql import Database

RELAY_BATCH = 100


def relay_outbox(db: Database, transport: QueueTransport, clock: Callable[[], float] = time.time,
                 limit: int = RELAY_BATCH) -> int:
    """Publish up to ``limit`` pending outbox rows to ``transport``; return how many moved."""
    now = clock()
    with db.transaction() as tx:
        rows = tx.query(
            "SELECT id, topic, payload, dedupe_key, attempts, due_at, first_failure FROM queue"  # noqa: S608
            " WHERE status = 'ready' ORDER BY id LIMIT ?" + db.lock_rows,
            (limit,),
        )
        for row in rows:
            delay_ms = max(0, int((float(row["due_at"]) - now) * 1000))
            transport.publish(row["topic"], json.loads(row["payload"]), delay_ms=delay_ms,
                              attempts_made=int(row["attempts"]), dedupe_key=row["dedupe_key"],
                              first_failure=failure_from_json(row["first_failure"]))
            tx.execute("UPDATE queue SET status = 'relayed' WHERE id = ?", (row["id"],))
    return len(rows)
