"""User ids, MIME types, extensions and sizes: each rejection has its own code."""

from __future__ import annotations

import pytest

from scf_worker.runtime.errors import ApiError
from scf_worker.uploads.validation import DEFAULT_MIME_TYPES, check_user_id, parse_upload_request

LIMITS = {"video/mp4": 1000}


def parse(body: object):  # type: ignore[no-untyped-def]
    return parse_upload_request(body, DEFAULT_MIME_TYPES, lambda mime: LIMITS.get(mime, 500))


@pytest.mark.parametrize("user_id", [
    "", "a/b", "..", "a..b", ".", "*", "u*", "a b", "a\tb", "a\nb", "a\x00b", "a\x7fb", "a\u200bb",
    "a\u3000b", "a\\b", "a?b", "x" * 129,
])
def test_check_user_id_rejects(user_id: str) -> None:
    with pytest.raises(ApiError) as caught:
        check_user_id(user_id)
    assert caught.value.key == "invalid_user_id"
    assert caught.value.status == 400


@pytest.mark.parametrize("user_id", ["u1", "user@example.com", "auth0|123", "张三", "a.b", "x" * 128])
def test_check_user_id_accepts(user_id: str) -> None:
    assert check_user_id(user_id) == user_id


@pytest.mark.parametrize(("body", "key"), [
    ({"filename": "a.exe", "mime": "application/x-msdownload", "size": 10}, "mime_not_allowed"),
    ({"filename": "a.png", "mime": "video/mp4", "size": 10}, "extension_mismatch"),
    ({"filename": "noextension", "mime": "video/mp4", "size": 10}, "extension_mismatch"),
    ({"filename": "a.mp4", "mime": "video/mp4", "size": 0}, "invalid_size"),
    ({"filename": "a.mp4", "mime": "video/mp4", "size": 1001}, "invalid_size"),
    ({"filename": "a.png", "mime": "image/png", "size": 501}, "invalid_size"),
    ({"filename": "a.mp4", "mime": "video/mp4", "size": True}, "invalid_params"),
    ({"filename": "a.mp4", "mime": "video/mp4", "size": 1.5}, "invalid_params"),
    ({"filename": "a.mp4", "mime": "video/mp4", "size": 10, "mode": "url"}, "invalid_params"),
    ({"filename": "", "mime": "video/mp4", "size": 10}, "invalid_params"),
    ({"mime": "video/mp4", "size": 10}, "missing_params"),
    (["not", "an", "object"], "invalid_params"),
])
def test_parse_upload_request_rejects(body: object, key: str) -> None:
    with pytest.raises(ApiError) as caught:
        parse(body)
    assert caught.value.key == key


def test_parse_upload_request_codes_are_distinct() -> None:
    codes = {ApiError(key).entry.code for key in ("mime_not_allowed", "extension_mismatch", "invalid_size")}
    assert len(codes) == 3


def test_parse_upload_request_extension_case_insensitive() -> None:
    upload = parse({"filename": "Holiday.MP4", "mime": "Video/MP4", "size": 1000})
    assert upload.mime == "video/mp4"
    assert upload.extension == "mp4"
    assert upload.mode == "sts"


def test_parse_upload_request_per_mime_limit() -> None:
    assert parse({"filename": "a.mp4", "mime": "video/mp4", "size": 1000}).size == 1000
    assert parse({"filename": "a.png", "mime": "image/png", "size": 500}).size == 500
