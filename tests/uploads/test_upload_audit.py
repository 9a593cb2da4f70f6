"""After upload, cos-callback removes objects that break the rules STS cannot enforce."""

from __future__ import annotations

import pytest

from scf_worker.handlers import cos_callback
from scf_worker.runtime import samples
from scf_worker.runtime.config import load_settings
from scf_worker.uploads.audit import load_upload_limits, upload_violation

BUCKET = "media-1250000000"
KEY = "uploads/u1/2026/05/01/0123456789abcdef0123456789abcdef.mp4"
# The start of an MP4 file, so the after-upload magic-byte check sees video.
MP4_HEADER = b"\x00\x00\x00\x18ftypmp42"
LIMITS = load_upload_limits(load_settings({"COS_BUCKET": BUCKET}),
                            {"UPLOAD_MAX_BYTES_BY_MIME": '{"video/mp4": 1000}'})


@pytest.mark.parametrize(("key", "size", "content_type", "expected"), [
    (KEY, 1000, "video/mp4", None),
    (KEY, None, None, None),
    ("outputs/u1/x.exe", 10**12, "application/x-msdownload", None),
    (KEY, 1001, "video/mp4", "exceeds"),
    (KEY, 10, "text/html", "does not match"),
    (KEY.replace(".mp4", ".exe"), 10, "video/mp4", "not on the allow-list"),
    (KEY.replace(".mp4", ""), 10, "video/mp4", "not on the allow-list"),
    (KEY.replace(".mp4", ".MOV"), 10**6, "video/quicktime", None),
])
def test_upload_violation(key: str, size: int | None, content_type: str | None, expected: str | None) -> None:
    violation = upload_violation(LIMITS, key, size, content_type)
    if expected is None:
        assert violation is None
    else:
        assert violation is not None
        assert expected in violation


def test_cos_callback_quarantines_oversize_upload(upload_env, services, monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
                                              logs) -> None:
    monkeypatch.setenv("UPLOAD_MAX_BYTES_BY_MIME", '{"video/mp4": 1000}')
    info = services.store.put_bytes(BUCKET, KEY, MP4_HEADER + b"v" * 2000)
    event = samples.cos_event(samples.cos_record(BUCKET, KEY, info.size, info.etag, content_type="video/mp4"))

    result = cos_callback.main_handler(event, samples.context("cos-callback"))

    assert [r["status"] for r in result["results"]] == ["rejected"]
    assert services.store.head(BUCKET, KEY) is None
    assert services.store.head(BUCKET, "quarantine/" + KEY) is not None
    rejected = logs.events("upload_rejected")[0]
    assert rejected["reason"] == "upload_rules"
    assert "exceeds" in rejected["detail"]
    assert [job.type for job in services.jobs.list_jobs()] == ["media.upload"]
    assert services.jobs.list_jobs()[0].status == "rejected"


def test_cos_callback_records_valid_upload(upload_env, services) -> None:  # type: ignore[no-untyped-def]
    info = services.store.put_bytes(BUCKET, KEY, MP4_HEADER + b"v" * 2000)
    event = samples.cos_event(samples.cos_record(BUCKET, KEY, info.size, info.etag, content_type="video/mp4"))

    result = cos_callback.main_handler(event, samples.context("cos-callback"))

    assert [r["status"] for r in result["results"]] == ["recorded"]
    assert services.store.head(BUCKET, KEY) is not None
