"""COS record keys: stripped once, decoded only as the source encoded, resolved to the stored key."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from callback_helpers import MP4, Harness, cos_record, put

from scf_worker.app import get_services
from scf_worker.callbacks.errors import RecordRejected
from scf_worker.callbacks.keys import key_candidates, strip_prefix
from scf_worker.storage.local import LocalObjectStore

STORED_KEYS = [
    "uploads/u1/clip one.mp4",
    "uploads/u1/a+b.mp4",
    "uploads/u1/视频 第1集.mp4",
    "uploads/u1/12:30:00.mp4",
    "uploads/u1/100%.mp4",
    "uploads/u1/50%25off.mp4",
    "uploads/u1/a%2Bb.mp4",
    "uploads/u1/混合 a+b%20c:d.mp4",
]
URL = "http://media-1250000000.cos.ap-guangzhou.myqcloud.com/"


def test_prefix_stripped_once() -> None:
    assert strip_prefix("/1250000000/media/1250000000/media/x.mp4", "1250000000", "media") == \
        "1250000000/media/x.mp4"


def test_prefix_missing_rejected() -> None:
    with pytest.raises(RecordRejected):
        strip_prefix("/1250000001/media/x.mp4", "1250000000", "media")


@pytest.mark.parametrize("key", STORED_KEYS)
def test_raw_key_with_url_is_used_as_is(key: str) -> None:
    assert key_candidates(key, URL + quote(key)) == (key,)


@pytest.mark.parametrize("key", STORED_KEYS)
def test_encoded_key_with_url_is_decoded_once(key: str) -> None:
    assert key_candidates(quote(key), URL + quote(key)) == (key,)


def test_plus_is_never_a_space() -> None:
    assert key_candidates("a+b.mp4", None) == ("a+b.mp4",)


def test_without_url_raw_key_comes_first() -> None:
    assert key_candidates("50%25off.mp4", None) == ("50%25off.mp4", "50%off.mp4")


def test_unsafe_decoded_form_dropped() -> None:
    assert key_candidates("u/%2E%2E/x.mp4", None) == ("u/%2E%2E/x.mp4",)
    assert key_candidates("u/a%00b.mp4", None) == ("u/a%00b.mp4",)


@pytest.mark.parametrize("key", ["uploads/../secret.mp4", "uploads/./a.mp4", "uploads/a\x01.mp4", "/abs.mp4"])
def test_unsafe_key_rejected(key: str) -> None:
    with pytest.raises(RecordRejected) as caught:
        key_candidates(key, None)
    assert caught.value.outcome == "invalid_key"


def test_encoded_traversal_rejected_when_url_confirms() -> None:
    with pytest.raises(RecordRejected):
        key_candidates("u/%2E%2E/x.mp4", URL + "u/../x.mp4")


FORMS = {
    "raw with url": {"encoded_key": False, "url": True},
    "encoded with url": {"encoded_key": True, "url": True},
    "raw without url": {"encoded_key": False, "url": False},
    "encoded without url": {"encoded_key": True, "url": False},
}


@pytest.mark.parametrize("form", sorted(FORMS))
@pytest.mark.parametrize("key", STORED_KEYS)
def test_event_forms_record_stored_key(sqlite_harness: Harness, key: str, form: str) -> None:
    etag = put(sqlite_harness.root, key, MP4)

    result = sqlite_harness.cos(cos_record(key, etag, len(MP4), **FORMS[form]))

    assert result["results"][0]["status"] == "recorded"
    assert result["results"][0]["key"] == key
    assert [r["object_key"] for r in sqlite_harness.records()] == [key]


def test_double_encoded_neighbour_not_confused(sqlite_harness: Harness) -> None:
    """Both "50%25off" and "50%off" exist; each raw event records its own object."""
    etag_literal = put(sqlite_harness.root, "uploads/u1/50%25off.mp4", MP4)
    etag_plain = put(sqlite_harness.root, "uploads/u1/50%off.mp4", MP4 + b"1")

    first = sqlite_harness.cos(cos_record("uploads/u1/50%25off.mp4", etag_literal, len(MP4), url=False))
    second = sqlite_harness.cos(cos_record("uploads/u1/50%off.mp4", etag_plain, len(MP4) + 1, url=False))

    assert first["results"][0]["key"] == "uploads/u1/50%25off.mp4"
    assert second["results"][0]["key"] == "uploads/u1/50%off.mp4"


class RecordingStore(LocalObjectStore):
    """The folder store, noting every key it was asked about."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.touched: list[str] = []

    def head(self, bucket: str, key: str) -> Any:
        self.touched.append(key)
        return super().head(bucket, key)

    def read_first_bytes(self, bucket: str, key: str, length: int) -> Any:
        self.touched.append(key)
        return super().read_first_bytes(bucket, key, length)


def test_bad_records_have_own_outcomes(sqlite_harness: Harness) -> None:
    store = RecordingStore(sqlite_harness.root)
    get_services().store = store
    good_etag = put(sqlite_harness.root, "uploads/u1/good.mp4", MP4)
    wrong_bucket = cos_record("uploads/u1/x.mp4", "e", 1, bucket="other-1250000000")
    wrong_appid = cos_record("uploads/u1/x.mp4", "e", 1, bucket="media-1250000001")
    traversal = cos_record("uploads/../../etc/passwd", "e", 1, url=False)
    control = cos_record("uploads/u1/a\x07.mp4", "e", 1, url=False)
    removed = cos_record("uploads/u1/x.mp4", "e", 1)
    removed["event"]["eventName"] = "cos:ObjectRemove:Delete"

    good = cos_record("uploads/u1/good.mp4", good_etag, len(MP4))

    result = sqlite_harness.cos(wrong_bucket, traversal, good, wrong_appid, control, removed,
                                {"cos": "not an object"}, "junk")

    statuses = [r["status"] for r in result["results"]]
    assert statuses == ["wrong_bucket", "invalid_key", "recorded", "wrong_bucket", "invalid_key",
                        "ignored_event", "invalid_record", "invalid_record"]
    assert set(store.touched) == {"uploads/u1/good.mp4"}
