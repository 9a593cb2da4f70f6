"""The idempotency contract, run unchanged against SQLite, MariaDB and Redis."""

from __future__ import annotations

import threading

import pytest

from backends import Clock
from scf_worker.idempotency.base import IdempotencyStore, fingerprint
from scf_worker.idempotency.errors import AlreadyCompleted, AlreadyInProgress, IdempotencyConflict

FP = fingerprint({"objectKey": "uploads/u1/a.mp4", "etag": "abc"})
OTHER_FP = fingerprint({"objectKey": "uploads/u1/a.mp4", "etag": "def"})
LEASE = 60.0


def test_claim_new_key_returns_token(store: IdempotencyStore) -> None:
    token = store.claim("key-1", FP, LEASE)

    assert isinstance(token, str)
    assert len(token) >= 16


def test_claim_held_key_is_in_progress(store: IdempotencyStore, clock: Clock) -> None:
    store.claim("key-1", FP, LEASE)

    with pytest.raises(AlreadyInProgress) as caught:
        store.claim("key-1", FP, LEASE)
    assert caught.value.lease_until == pytest.approx(clock.now + LEASE)


def test_completed_key_returns_stored_response(store: IdempotencyStore) -> None:
    token = store.claim("key-1", FP, LEASE)
    response = {"status": "recorded", "key": "uploads/用户/视频 1.mp4", "jobId": "j-1"}
    assert store.complete("key-1", response, token)

    with pytest.raises(AlreadyCompleted) as caught:
        store.claim("key-1", FP, LEASE)
    assert caught.value.response == response


def test_different_payload_conflicts_when_completed(store: IdempotencyStore) -> None:
    token = store.claim("key-1", FP, LEASE)
    store.complete("key-1", {"ok": True}, token)

    with pytest.raises(IdempotencyConflict):
        store.claim("key-1", OTHER_FP, LEASE)


def test_different_payload_conflicts_when_in_progress(store: IdempotencyStore) -> None:
    store.claim("key-1", FP, LEASE)

    with pytest.raises(IdempotencyConflict):
        store.claim("key-1", OTHER_FP, LEASE)


def test_expired_lease_lets_next_claim_win(store: IdempotencyStore, clock: Clock) -> None:
    first = store.claim("key-1", FP, LEASE)
    clock.advance(LEASE + 0.001)

    second = store.claim("key-1", FP, LEASE)

    assert second != first
    assert store.complete("key-1", {"by": "second"}, first) is False
    assert store.complete("key-1", {"by": "second"}, second) is True
    with pytest.raises(AlreadyCompleted) as caught:
        store.claim("key-1", FP, LEASE)
    assert caught.value.response == {"by": "second"}


def test_lease_boundary_still_held(store: IdempotencyStore, clock: Clock) -> None:
    store.claim("key-1", FP, LEASE)
    clock.advance(LEASE - 0.5)

    with pytest.raises(AlreadyInProgress):
        store.claim("key-1", FP, LEASE)


def test_release_lets_retry_proceed(store: IdempotencyStore) -> None:
    token = store.claim("key-1", FP, LEASE)

    assert store.release("key-1", token) is True
    assert store.claim("key-1", FP, LEASE) != token


def test_release_with_stale_token_keeps_claim(store: IdempotencyStore, clock: Clock) -> None:
    stale = store.claim("key-1", FP, LEASE)
    clock.advance(LEASE + 1)
    store.claim("key-1", FP, LEASE)

    assert store.release("key-1", stale) is False
    with pytest.raises(AlreadyInProgress):
        store.claim("key-1", FP, LEASE)


def test_release_does_not_drop_completed(store: IdempotencyStore) -> None:
    token = store.claim("key-1", FP, LEASE)
    store.complete("key-1", {"ok": 1}, token)

    assert store.release("key-1", token) is False
    with pytest.raises(AlreadyCompleted):
        store.claim("key-1", FP, LEASE)


def test_expired_record_is_new_again(store: IdempotencyStore, clock: Clock) -> None:
    token = store.claim("key-1", FP, LEASE)
    store.complete("key-1", {"ok": 1}, token)
    clock.advance(3600 + 1)

    # Past expiry even another payload may use the key.
    assert store.claim("key-1", OTHER_FP, LEASE)


def test_completed_before_expiry_still_replays(store: IdempotencyStore, clock: Clock) -> None:
    token = store.claim("key-1", FP, LEASE)
    store.complete("key-1", {"ok": 1}, token)
    clock.advance(3600 - 1)

    with pytest.raises(AlreadyCompleted):
        store.claim("key-1", FP, LEASE)


def test_long_unicode_keys_are_distinct(store: IdempotencyStore) -> None:
    base = "cos-callback:record:media-1250000000/uploads/用户/" + "长" * 900
    store.claim(base + "a", FP, LEASE)

    assert store.claim(base + "b", FP, LEASE)


def test_concurrent_claims_have_one_winner(store: IdempotencyStore) -> None:
    barrier = threading.Barrier(8)
    winners: list[str] = []
    losers: list[str] = []
    errors: list[BaseException] = []

    def contend() -> None:
        barrier.wait()
        try:
            winners.append(store.claim("contended", FP, LEASE))
        except AlreadyInProgress:
            losers.append("in_progress")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=contend) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert len(winners) == 1
    assert len(losers) == 7


def test_purge_expired_removes_only_expired(store: IdempotencyStore, clock: Clock) -> None:
    token = store.claim("old", FP, LEASE)
    store.complete("old", {"ok": 1}, token)
    clock.advance(3600 + 1)
    store.claim("fresh", FP, LEASE)

    store.purge_expired()

    # Whether purged now (SQL) or by the key's own expiry (Redis), "old" is claimable and
    # "fresh" is still held.
    assert store.claim("old", OTHER_FP, LEASE)
    with pytest.raises(AlreadyInProgress):
        store.claim("fresh", FP, LEASE)
