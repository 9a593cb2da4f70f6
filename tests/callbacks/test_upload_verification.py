"""After-upload checks: size against the signed limit, type by magic bytes, quarantine."""

from __future__ import annotations

import pytest
from callback_helpers import MOV, MP4, PNG, SCRIPT, WEBM, Harness, cos_record, put

from scf_worker.app import reset_services
from scf_worker.callbacks.verification import check_size, check_type, sniff

MP3 = b"ID3\x04\x00" + bytes(32)
ADTS = b"\xff\xf1\x50\x80" + bytes(32)
MPEG_FRAME = b"\xff\xfb\x90\x00" + bytes(32)


@pytest.mark.parametrize(("data", "detected"), [
    (PNG, "image/png"),
    (b"\xff\xd8\xff\xe0" + bytes(16), "image/jpeg"),
    (b"GIF89a" + bytes(8), "image/gif"),
    (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp"),
    (b"RIFF\x00\x00\x00\x00WAVEfmt ", "audio/wav"),
    (b"RIFF\x00\x00\x00\x00AVI LIST", None),
    (MP4, "iso-bmff"),
    (MOV, "iso-bmff"),
    (b"\x00\x00\x00\x08moov" + bytes(8), "iso-bmff"),
    (WEBM, "ebml"),
    (b"OggS\x00\x02" + bytes(8), "audio/ogg"),
    (MP3, "audio/mpeg"),
    (ADTS, "audio/aac"),
    (MPEG_FRAME, "audio/mpeg"),
    (SCRIPT, None),
    (b"", None),
    (b"%PDF-1.7", None),
])
def test_sniff_detects_by_content(data: bytes, detected: str | None) -> None:
    assert sniff(data) == detected


@pytest.mark.parametrize(("mime", "data"), [
    ("video/mp4", MP4), ("video/quicktime", MOV), ("video/mp4", MOV), ("audio/mp4", MP4),
    ("video/webm", WEBM), ("video/x-matroska", WEBM), ("image/png", PNG), ("audio/mpeg", MP3),
    ("audio/aac", ADTS), (None, PNG),
])
def test_matching_type_passes(mime: str | None, data: bytes) -> None:
    assert check_type(mime, data) is None


@pytest.mark.parametrize(("mime", "data", "reason"), [
    ("video/mp4", PNG, "type_mismatch"),
    ("image/png", MP4, "type_mismatch"),
    ("video/mp4", SCRIPT, "not_media"),
    (None, SCRIPT, "not_media"),
    ("application/x-sh", PNG, "mime_not_allowed"),
])
def test_wrong_type_fails(mime: str | None, data: bytes, reason: str) -> None:
    violation = check_type(mime, data)

    assert violation is not None
    assert violation.reason == reason


def test_size_limits() -> None:
    assert check_size(10, 10) is None
    assert check_size(11, 10).reason == "size_exceeds_limit"  # type: ignore[union-attr]
    assert check_size(0, 10).reason == "empty_object"  # type: ignore[union-attr]


def test_png_claiming_mp4_rejected(sqlite_harness: Harness) -> None:
    key = "uploads/u1/disguised.mp4"
    etag = put(sqlite_harness.root, key, PNG)

    outcome = sqlite_harness.cos(cos_record(key, etag, len(PNG), content_type="video/mp4"))["results"][0]

    assert outcome["status"] == "rejected"
    assert outcome["reason"] == "type_mismatch"
    assert (sqlite_harness.root / "media-1250000000" / "quarantine" / key).exists()


def test_object_over_max_upload_rejected(sqlite_harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAX_UPLOAD_BYTES", str(len(MP4) - 1))
    reset_services()
    key = "uploads/u1/big.mp4"
    etag = put(sqlite_harness.root, key, MP4)

    outcome = sqlite_harness.cos(cos_record(key, etag, len(MP4)))["results"][0]

    assert outcome["status"] == "rejected"
    assert outcome["reason"] == "size_exceeds_limit"
    assert sqlite_harness.transcode_messages() == []


def test_redelivery_of_rejected_finishes_quarantine(sqlite_harness: Harness) -> None:
    key = "uploads/u1/fake.mp4"
    etag = put(sqlite_harness.root, key, SCRIPT)
    first = cos_record(key, etag, len(SCRIPT))
    sqlite_harness.cos(first)
    # The object comes back (for example the delete of the original failed after the copy).
    put(sqlite_harness.root, key, SCRIPT)
    second = cos_record(key, etag, len(SCRIPT))
    second["cos"]["cosObject"]["meta"]["x-cos-request-id"] = "other"

    outcome = sqlite_harness.cos({**second, "cos": {**second["cos"], "cosObject": {
        **second["cos"]["cosObject"], "vid": "v2"}}})["results"][0]

    assert outcome["status"] == "duplicate"
    assert outcome["reason"] == "not_media"
    assert not (sqlite_harness.root / "media-1250000000" / key).exists()
    assert len(sqlite_harness.records()) == 1


def test_quarantined_keys_are_ignored(sqlite_harness: Harness) -> None:
    key = "quarantine/uploads/u1/fake.mp4"
    etag = put(sqlite_harness.root, key, SCRIPT)

    outcome = sqlite_harness.cos(cos_record(key, etag, len(SCRIPT)))["results"][0]

    assert outcome["status"] == "ignored_quarantine"
    assert sqlite_harness.records() == []
