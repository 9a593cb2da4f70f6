"""Upload records in Redis, for deployments whose ``STATE_URL`` is ``redis://``.

Guarantee: one Lua script writes the record, the job documents, and the
outbox entries (the ``SCF_JOB_*`` events for webhook-forward and the transcode
message) only when the record does not exist yet. For cos-callback the same
script also completes the delivery's idempotency claim (``write_completing``),
so a new upload takes one round trip after the checks. On a cluster the claim
lives in another slot, so a second script completes it. Redis runs a script without
interleaving other clients and propagates its writes to the AOF and to
replicas as one MULTI/EXEC block. So no reader, and no restart, finds a record
without its outbox entries or the reverse. The script checks key types before
its first write, because Redis does not roll back a script that fails midway.

What it does not give: durability beyond the server's persistence settings.
With ``appendfsync everysec`` or an asynchronous replica failover, the last
acknowledged scripts can be lost; they are lost whole (record and outbox
together), and an upload whose delivery was already acknowledged is then
only recovered by a reconciliation pass.

``relay_outbox`` moves outbox entries to a queue transport at least once
(publish, then XACK and XDEL); consumers dedupe by job id.

All keys share the hash tag ``{up}``, so the script also runs on a Redis
cluster, where every key it touches must live in one slot.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from scf_worker.callbacks.recorder import (
    RECORD_RECORDED,
    RECORD_REJECTED,
    TRANSCODE_TOPIC,
    RecordOutcome,
    VerifiedUpload,
    job_ids_for,
    job_key_for,
    upload_jobs,
)
from scf_worker.idempotency.redis import COMPLETE_FUNCTION
from scf_worker.jobs.model import Job
from scf_worker.jobs.store import WEBHOOK_TOPIC
from scf_worker.state.errors import StateError
from scf_worker.state.redis import RedisTarget, redis_errors

RELAY_GROUP = "relay"

# keys: 1 record hash, 2 index zset, 3 outbox stream, 4.. job documents (strings).
# args: 1 job key, 2 created_at, 3 number of record field/value items, then those items,
#       then one value per job document, then (topic, payload) pairs for the outbox.
# Returns false when it wrote the record, else the stored record's fields.
_RECORD_FUNCTION = """
local function record_upload(keys, args)
  if redis.call('EXISTS', keys[1]) == 1 then
    return redis.call('HMGET', keys[1], 'status', 'reason', 'object_key', 'etag')
  end
  local expected = {[2] = 'zset', [3] = 'stream'}
  for i = 2, #keys do
    local kind = redis.call('TYPE', keys[i]).ok
    if kind ~= 'none' and kind ~= (expected[i] or 'string') then
      return redis.error_reply('key ' .. keys[i] .. ' holds a ' .. kind)
    end
  end
  local n = tonumber(args[3])
  redis.call('HSET', keys[1], unpack(args, 4, 3 + n))
  redis.call('ZADD', keys[2], args[2], args[1])
  local at = 4 + n
  for i = 4, #keys do
    redis.call('SET', keys[i], args[at])
    at = at + 1
  end
  while at < #args do
    redis.call('XADD', keys[3], '*', 'topic', args[at], 'payload', args[at + 1])
    at = at + 2
  end
  return false
end
"""
_RECORD = _RECORD_FUNCTION + "return record_upload(KEYS, ARGV)"

# KEYS: 1 an idempotency claim, then _RECORD's keys. ARGV: the claim's token, response,
# now and expiry (as for COMPLETE_FUNCTION), then _RECORD's arguments.
# A new record is written and the claim completed: returns 1, or 0 when the claim was no
# longer the caller's. An existing record is left alone: returns its fields.
_RECORD_AND_COMPLETE = COMPLETE_FUNCTION + _RECORD_FUNCTION + """
local claim = KEYS[1]
local kind = redis.call('TYPE', claim).ok
if kind ~= 'none' and kind ~= 'string' then
  return redis.error_reply('key ' .. claim .. ' holds a ' .. kind)
end
local record_keys, record_args = {}, {}
for i = 2, #KEYS do record_keys[i - 1] = KEYS[i] end
for i = 5, #ARGV do record_args[i - 4] = ARGV[i] end
local existing = record_upload(record_keys, record_args)
if existing then return existing end
return complete_claim(claim, ARGV[1], ARGV[2], ARGV[3], ARGV[4])
"""


def _job_document(job: Job, now: float) -> str:
    # Shallow: dataclasses.asdict deep-copies every field first, which profiled at about
    # twice the cost of the encoding, for the same JSON.
    row = {**vars(job), "resource": vars(job.resource), "created_at": now, "updated_at": now}
    return json.dumps(row, ensure_ascii=False)


class RedisUploadRecorder:
    """Records under ``<prefix>{up}:``; see the module docstring for the guarantee."""

    def __init__(self, target: RedisTarget, clock: Callable[[], float] = time.time) -> None:
        self.target = target
        self.clock = clock
        self.base = f"{target.prefix}{{up}}:"
        self._record_script = target.client.register_script(_RECORD)
        self._record_and_complete_script = target.client.register_script(_RECORD_AND_COMPLETE)
        # Set when the server rejects keys from two slots (a cluster, or a proxy to one).
        self._one_slot_only = False

    def record_key(self, job_key: str) -> str:
        return f"{self.base}media_jobs:{job_key}"

    @property
    def index_key(self) -> str:
        return f"{self.base}media_jobs"

    @property
    def outbox_key(self) -> str:
        return f"{self.base}outbox"

    def job_key(self, job_id: str) -> str:
        return f"{self.base}jobs:{job_id}"

    def find(self, bucket: str, key: str, etag: str) -> RecordOutcome | None:
        job_key = job_key_for(bucket, key, etag)
        try:
            values = self.target.client.hmget(self.record_key(job_key), "status", "reason",
                                              "object_key", "etag")
        except redis_errors() as exc:
            raise StateError(f"redis read failed: {type(exc).__name__}") from exc
        if values[0] is None:
            return None
        return self._outcome(job_key, values)

    def record(self, upload: VerifiedUpload, request_id: str | None) -> RecordOutcome:
        return self._write(upload, None, request_id)

    def reject(self, upload: VerifiedUpload, reason: str, request_id: str | None) -> RecordOutcome:
        return self._write(upload, reason, request_id)

    def _write(self, upload: VerifiedUpload, reason: str | None,
               request_id: str | None) -> RecordOutcome:
        return self.write_completing(upload, reason, request_id, None)[0]

    def write_completing(self, upload: VerifiedUpload, reason: str | None, request_id: str | None,
                         claim: tuple[str, list[str]] | None) -> tuple[RecordOutcome, bool]:
        """Record the upload; when it is new, also complete ``claim`` in the same script.

        ``claim`` is a claim key and its arguments from ``RedisIdempotencyStore.completion``,
        on the same server. Return the outcome and whether the claim was completed. The
        claim and the record hash to different slots, so a cluster rejects the combined
        script. The record is then written alone, and the caller completes the claim.
        """
        job_key = job_key_for(upload.bucket, upload.key, upload.etag)
        upload_id, _ = job_ids_for(job_key)
        status = RECORD_REJECTED if reason else RECORD_RECORDED
        now = self.clock()
        jobs, events, transcode_id = upload_jobs(upload, request_id, now, reason)

        fields = {"job_key": job_key, "job_id": upload_id, "bucket": upload.bucket,
                  "object_key": upload.key, "etag": upload.etag, "size": str(upload.size),
                  "mime": upload.mime or "", "status": status, "reason": reason or "",
                  "request_id": request_id or "", "created_at": repr(now)}
        outbox = [(WEBHOOK_TOPIC, json.dumps(event, ensure_ascii=False)) for event in events]
        if transcode_id is not None:
            outbox.append((TRANSCODE_TOPIC, json.dumps({"jobId": transcode_id})))
        keys = [self.record_key(job_key), self.index_key, self.outbox_key,
                *(self.job_key(job.id) for job in jobs)]
        args: list[str] = [job_key, repr(now), str(2 * len(fields))]
        for name, value in fields.items():
            args += [name, value]
        args += [_job_document(job, now) for job in jobs]
        for topic, payload in outbox:
            args += [topic, payload]

        try:
            result = self._run_record(keys, args, claim)
        except redis_errors() as exc:
            raise StateError(f"redis record failed: {type(exc).__name__}: {exc}") from exc
        if isinstance(result, list):
            return self._outcome(job_key, result), False
        outcome = RecordOutcome(status, status, upload_id, transcode_id, upload.key, upload.etag, reason)
        return outcome, result == 1

    def _run_record(self, keys: list[str], args: list[str],
                    claim: tuple[str, list[str]] | None) -> Any:
        import redis

        if claim is not None and not self._one_slot_only:
            try:
                return self._record_and_complete_script(keys=[claim[0], *keys], args=[*claim[1], *args])
            except redis.ResponseError as exc:
                if "CROSSSLOT" not in str(exc):
                    raise
                # NOTE: no test runs against a cluster; the match is on Redis's error text.
                self._one_slot_only = True
        return self._record_script(keys=keys, args=args)

    @staticmethod
    def _outcome(job_key: str, values: list[Any]) -> RecordOutcome:
        status, reason, key, etag = (v.decode() if isinstance(v, bytes) else v for v in values)
        upload_id, transcode_id = job_ids_for(job_key)
        return RecordOutcome("duplicate", status, upload_id,
                             transcode_id if status == RECORD_RECORDED else None, key, etag,
                             reason or None)

    # Reading back, for the relay, operators and tests.

    def count_records(self) -> int:
        return int(self.target.client.zcard(self.index_key))

    def get_job(self, job_id: str) -> dict[str, Any] | None:
        raw = self.target.client.get(self.job_key(job_id))
        return json.loads(raw) if raw else None

    def relay_outbox(self, publish: Callable[[str, dict[str, Any]], None], consumer: str,
                     count: int = 100, reclaim_idle_ms: int = 60_000) -> int:
        """Hand outbox entries to ``publish(topic, payload)`` at least once; return how many.

        Entries another relay read but never acknowledged (it crashed) are
        reclaimed after ``reclaim_idle_ms``. An entry is deleted only after
        ``publish`` returned, so a publish that raises leaves it for the next run.
        """
        import redis

        client = self.target.client
        try:
            client.xgroup_create(self.outbox_key, RELAY_GROUP, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise StateError(f"redis outbox group failed: {exc}") from exc
        _, reclaimed, *_ = client.xautoclaim(self.outbox_key, RELAY_GROUP, consumer,
                                              min_idle_time=reclaim_idle_ms, start_id="0-0",
                                              count=count)
        fresh = client.xreadgroup(RELAY_GROUP, consumer, {self.outbox_key: ">"}, count=count)
        entries = list(reclaimed) + [entry for _, batch in fresh for entry in batch]
        for entry_id, data in entries:
            if not data:
                continue
            publish(data[b"topic"].decode(), json.loads(data[b"payload"]))
            client.xack(self.outbox_key, RELAY_GROUP, entry_id)
            client.xdel(self.outbox_key, entry_id)
        return len([e for e in entries if e[1]])
