"""The official COS SDK uploads with issued credentials; the loopback endpoint rejects the rest."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from qcloud_cos.cos_exception import CosServiceError
from tests.uploads.conftest import BUCKET, MIB, REGION, Clock, call_sign

from scf_worker.uploads.client import cos_client, upload_with_grant
from scf_worker.uploads.cos_endpoint import CosEndpoint
from scf_worker.uploads.grants import Grant, SqlGrantStore
from scf_worker.uploads.issuers import mint_credentials


def grant_for(env: dict[str, str], size: int, user: str = "u1", mime: str = "video/mp4",
              filename: str = "clip.mp4") -> dict[str, Any]:
    result = call_sign(env, {"filename": filename, "mime": mime, "size": size}, sub=user)
    assert result.status == 200, result.body
    return result.data


def client_for(grant: dict[str, Any], endpoint: CosEndpoint, **credential_overrides: str) -> Any:
    grant = {**grant, "credentials": {**grant["credentials"], **credential_overrides}}
    return cos_client(grant, ip=endpoint.host, port=endpoint.port, scheme="http")


def put(client: Any, key: str, body: bytes, content_type: str | None = "video/mp4") -> dict[str, Any]:
    extra = {"ContentType": content_type} if content_type else {}
    return client.put_object(Bucket=BUCKET, Key=key, Body=body, **extra)


def assert_rejected(call: Any, code: str = "AccessDenied") -> None:
    with pytest.raises(CosServiceError) as caught:
        call()
    assert caught.value.get_status_code() == 403
    assert caught.value.get_error_code() == code


def stored(services: Any, key: str) -> bytes | None:
    info = services.store.head(BUCKET, key)
    return None if info is None else services.store.path_of(BUCKET, key).read_bytes()


def test_simple_upload_succeeds(upload_env, endpoint, services) -> None:  # type: ignore[no-untyped-def]
    grant = grant_for(upload_env, 2000)
    body = os.urandom(2000)

    response = put(client_for(grant, endpoint), grant["key"], body)

    assert stored(services, grant["key"]) == body
    assert response["ETag"].strip('"') == services.store.head(BUCKET, grant["key"]).etag


def test_smaller_body_than_declared_succeeds(upload_env, endpoint, services) -> None:  # type: ignore[no-untyped-def]
    grant = grant_for(upload_env, 2000)
    put(client_for(grant, endpoint), grant["key"], b"x" * 10)
    assert stored(services, grant["key"]) == b"x" * 10


def test_upload_to_other_key_rejected(upload_env, endpoint, services) -> None:  # type: ignore[no-untyped-def]
    grant = grant_for(upload_env, 2000)
    other = grant["key"].rsplit("/", 1)[0] + "/other.mp4"

    assert_rejected(lambda: put(client_for(grant, endpoint), other, b"x" * 100))
    assert stored(services, other) is None


@pytest.mark.parametrize(("owner", "target"), [("u1", "u10"), ("u10", "u1")])
def test_upload_to_other_user_prefix_rejected(upload_env, endpoint, services, owner: str,  # type: ignore[no-untyped-def]
                                             target: str) -> None:
    grant = grant_for(upload_env, 2000, user=owner)
    victim_key = grant["key"].replace(f"uploads/{owner}/", f"uploads/{target}/", 1)

    assert_rejected(lambda: put(client_for(grant, endpoint), victim_key, b"x" * 100))
    assert stored(services, victim_key) is None


def test_larger_body_rejected(upload_env, endpoint, services) -> None:  # type: ignore[no-untyped-def]
    grant = grant_for(upload_env, 2000)

    assert_rejected(lambda: put(client_for(grant, endpoint), grant["key"], b"x" * 2001))
    assert stored(services, grant["key"]) is None


@pytest.mark.parametrize("content_type", ["video/quicktime", "text/html", None])
def test_other_content_type_rejected(upload_env, endpoint, services, content_type: str | None) -> None:  # type: ignore[no-untyped-def]
    grant = grant_for(upload_env, 2000)

    assert_rejected(lambda: put(client_for(grant, endpoint), grant["key"], b"x" * 100, content_type))
    assert stored(services, grant["key"]) is None


def test_expired_credential_rejected(upload_env, endpoint, services, endpoint_clock: Clock) -> None:  # type: ignore[no-untyped-def]
    grant = grant_for(upload_env, 2000)
    endpoint_clock.offset = grant["expiredTime"] - grant["startTime"] + 1

    assert_rejected(lambda: put(client_for(grant, endpoint), grant["key"], b"x" * 100), "ExpiredToken")
    assert stored(services, grant["key"]) is None


def test_missing_session_token_rejected(upload_env, endpoint) -> None:  # type: ignore[no-untyped-def]
    grant = grant_for(upload_env, 2000)
    client = cos_client({**grant, "credentials": {**grant["credentials"], "sessionToken": None}},
                        ip=endpoint.host, port=endpoint.port, scheme="http")

    assert_rejected(lambda: put(client, grant["key"], b"x" * 100))


def test_other_grant_session_token_rejected(upload_env, endpoint) -> None:  # type: ignore[no-untyped-def]
    grant = grant_for(upload_env, 2000)
    other = grant_for(upload_env, 2000)
    client = client_for(grant, endpoint, sessionToken=other["credentials"]["sessionToken"])

    assert_rejected(lambda: put(client, grant["key"], b"x" * 100), "InvalidToken")


def test_wrong_secret_key_rejected(upload_env, endpoint) -> None:  # type: ignore[no-untyped-def]
    grant = grant_for(upload_env, 2000)
    client = client_for(grant, endpoint, tmpSecretKey="not-the-issued-secret-key")

    assert_rejected(lambda: put(client, grant["key"], b"x" * 100), "SignatureDoesNotMatch")


def test_unknown_access_key_rejected(upload_env, endpoint) -> None:  # type: ignore[no-untyped-def]
    grant = grant_for(upload_env, 2000)
    client = client_for(grant, endpoint, tmpSecretId="AKIDnotissuedbyanyone")

    assert_rejected(lambda: put(client, grant["key"], b"x" * 100), "InvalidAccessKeyId")


def test_multipart_upload_when_granted(upload_env, endpoint, services, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    size = 2 * MIB + 12345
    grant = grant_for(upload_env, size)
    source = tmp_path / "big.mp4"
    source.write_bytes(os.urandom(size))

    assert grant["multipart"] is True
    upload_with_grant(client_for(grant, endpoint), grant, source, part_bytes=MIB)

    assert stored(services, grant["key"]) == source.read_bytes()


def test_multipart_list_and_abort(upload_env, endpoint) -> None:  # type: ignore[no-untyped-def]
    grant = grant_for(upload_env, 2 * MIB)
    client = client_for(grant, endpoint)
    initiated = client.create_multipart_upload(Bucket=BUCKET, Key=grant["key"], ContentType="video/mp4")
    upload_id = initiated["UploadId"]
    etag = client.upload_part(Bucket=BUCKET, Key=grant["key"], Body=b"y" * MIB, PartNumber=1,
                              UploadId=upload_id)["ETag"]

    listed = client.list_parts(Bucket=BUCKET, Key=grant["key"], UploadId=upload_id)
    client.abort_multipart_upload(Bucket=BUCKET, Key=grant["key"], UploadId=upload_id)

    assert [(p["PartNumber"], p["ETag"]) for p in listed["Part"]] == [("1", etag)]
    with pytest.raises(CosServiceError) as caught:
        client.list_parts(Bucket=BUCKET, Key=grant["key"], UploadId=upload_id)
    assert caught.value.get_error_code() == "NoSuchUpload"


def test_multipart_initiate_needs_declared_content_type(upload_env, endpoint) -> None:  # type: ignore[no-untyped-def]
    grant = grant_for(upload_env, 2 * MIB)
    client = client_for(grant, endpoint)

    assert_rejected(lambda: client.create_multipart_upload(Bucket=BUCKET, Key=grant["key"],
                                                          ContentType="text/html"))


def test_multipart_rejected_below_threshold(upload_env, endpoint) -> None:  # type: ignore[no-untyped-def]
    grant = grant_for(upload_env, 2000)
    client = client_for(grant, endpoint)

    assert grant["multipart"] is False
    assert_rejected(lambda: client.create_multipart_upload(Bucket=BUCKET, Key=grant["key"],
                                                          ContentType="video/mp4"))


def test_sdk_upload_file_needs_bucket_listing(upload_env, endpoint, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # upload_file looks for resumable uploads with List Multipart Uploads, a bucket-level
    # action that a key-scoped credential must not have; upload_with_grant avoids it.
    grant = grant_for(upload_env, 2 * MIB)
    source = tmp_path / "big.mp4"
    source.write_bytes(b"z" * (2 * MIB))

    assert_rejected(lambda: client_for(grant, endpoint).upload_file(
        Bucket=BUCKET, Key=grant["key"], LocalFilePath=str(source), PartSize=1, ContentType="video/mp4"))


def test_head_and_get_need_read_grant(upload_env, endpoint, services) -> None:  # type: ignore[no-untyped-def]
    grant = grant_for(upload_env, 2000)
    uploader = client_for(grant, endpoint)
    put(uploader, grant["key"], b"payload")
    reader_credentials = mint_credentials(int(endpoint.clock()), 600)
    SqlGrantStore(services.db).put(Grant(
        reader_credentials.tmp_secret_id, reader_credentials.tmp_secret_key, reader_credentials.session_token,
        {"version": "2.0", "statement": [{
            "effect": "allow", "action": ["name/cos:HeadObject", "name/cos:GetObject"],
            "resource": [f"qcs::cos:{REGION}:uid/1250000000:{BUCKET}/uploads/u1/*"]}]},
        reader_credentials.expired_time))
    reader = client_for(grant, endpoint, tmpSecretId=reader_credentials.tmp_secret_id,
                        tmpSecretKey=reader_credentials.tmp_secret_key,
                        sessionToken=reader_credentials.session_token)

    head = reader.head_object(Bucket=BUCKET, Key=grant["key"])
    body = reader.get_object(Bucket=BUCKET, Key=grant["key"])["Body"].get_raw_stream().read()

    assert head["Content-Length"] == "7"
    assert body == b"payload"
    with pytest.raises(CosServiceError) as caught:
        uploader.head_object(Bucket=BUCKET, Key=grant["key"])
    assert caught.value.get_status_code() == 403  # a HEAD error has no body, so no error code


def test_sts_issued_credentials_upload(upload_env, sts, endpoint, services) -> None:  # type: ignore[no-untyped-def]
    # Both official SDKs end to end: tencentcloud-sdk-python fetches the credential from the STS
    # stand-in, and cos-python-sdk-v5 uploads with it through the verifying endpoint.
    grant = grant_for(upload_env, 2000)
    client = client_for(grant, endpoint)

    put(client, grant["key"], b"s" * 2000)

    assert len(sts.calls) == 1
    assert stored(services, grant["key"]) == b"s" * 2000
    assert_rejected(lambda: put(client, grant["key"], b"s" * 2001))


def raw_request(endpoint: CosEndpoint, method: str, path: str, body: bytes = b"",
                headers: dict[str, str] | None = None) -> tuple[int, str]:
    import http.client

    connection = http.client.HTTPConnection(endpoint.host, endpoint.port, timeout=10)
    try:
        connection.request(method, path, body=body,
                           headers={"Host": f"{BUCKET}.cos.{REGION}.myqcloud.com", **(headers or {})})
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def test_unsigned_request_rejected(upload_env, endpoint, services) -> None:  # type: ignore[no-untyped-def]
    status, body = raw_request(endpoint, "PUT", "/uploads/u1/a.mp4", b"x" * 10,
                               {"Content-Type": "video/mp4"})

    assert status == 403
    assert "<Code>AccessDenied</Code>" in body
    assert services.store.head(BUCKET, "uploads/u1/a.mp4") is None


@pytest.mark.parametrize("path", ["/uploads/u1/../u2/a.mp4", "/uploads/u1/%2e%2e/u2/a.mp4",
                                  "/uploads/u1/./a.mp4"])
def test_dot_segment_key_rejected(upload_env, endpoint, path: str) -> None:  # type: ignore[no-untyped-def]
    status, body = raw_request(endpoint, "PUT", path, b"x", {"Content-Type": "video/mp4"})

    assert status == 400
    assert "<Code>InvalidArgument</Code>" in body


def test_endpoint_binds_loopback_only(services) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="loopback"):
        CosEndpoint(services.store, SqlGrantStore(services.db), {BUCKET: REGION}, host="0.0.0.0")  # noqa: S104 (the bind must be rejected)
