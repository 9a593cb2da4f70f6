"""Property tests: adversarial user ids, filenames, MIME types and sizes never widen a credential."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from scf_worker.runtime.config import load_settings
from scf_worker.runtime.errors import ApiError
from scf_worker.runtime.events import HttpRequest
from scf_worker.uploads.cam import AccessRequest, is_allowed
from scf_worker.uploads.config import UploadSettings, load_upload_settings
from scf_worker.uploads.grants import MemoryGrantStore
from scf_worker.uploads.issuers import LocalIssuer
from scf_worker.uploads.policy import PART_ACTIONS, UPLOAD_ACTIONS, lint_policy
from scf_worker.uploads.service import SignService
from scf_worker.uploads.validation import DEFAULT_MIME_TYPES

MIB = 1024 * 1024
ENV = {
    "COS_BUCKET": "media-1250000000",
    "COS_REGION": "ap-guangzhou",
    "AUTH_MODE": "gateway",
    "STORAGE_URL": "file:///tmp/scf-worker-property-cos",
    "STATE_URL": "sqlite:////tmp/scf-worker-property.db",
    "UPLOAD_MULTIPART_THRESHOLD_BYTES": str(MIB),
}
UPLOAD_SETTINGS: UploadSettings = load_upload_settings(load_settings(ENV), ENV)
BASE = "qcs::cos:ap-guangzhou:uid/1250000000:media-1250000000/"
EXTENSIONS = sorted({ext for exts in DEFAULT_MIME_TYPES.values() for ext in exts})

user_ids = st.one_of(
    st.text(max_size=140),
    st.from_regex(r"[a-zA-Z0-9./*?\\ \-]{1,24}", fullmatch=True),
    st.sampled_from(["u1", "u10", "..", "../u2", "u1/../u2", "*", "u1*", "${userId}", "%2e%2e", "u1/", "/u1",
                     "u\u202e1", "u\u00a01", "x" * 128, "x" * 129]),
)
filenames = st.one_of(
    st.text(max_size=300),
    st.builds(lambda stem, ext: f"{stem}.{ext}", st.text(max_size=40),
              st.sampled_from([*EXTENSIONS, "MP4", "Jpg", "exe", "mp4.exe", "", "mp4/"])),
)
mimes = st.one_of(st.sampled_from([*DEFAULT_MIME_TYPES, "video/*", "*/*", "text/html", "VIDEO/MP4",
                                   " video/mp4 ", "video/mp4; codecs=avc1", "image/svg+xml"]),
                  st.text(max_size=40))
sizes = st.one_of(st.integers(min_value=-(2**63), max_value=2**63),
                  st.sampled_from([0, 1, MIB - 1, MIB, 100 * MIB, 100 * MIB + 1]))
modes = st.sampled_from(["sts", "form"])
matching = st.sampled_from([(mime, ext) for mime, exts in DEFAULT_MIME_TYPES.items() for ext in exts])
bodies = st.one_of(
    st.fixed_dictionaries({"filename": filenames, "mime": mimes, "size": sizes, "mode": modes}),
    st.builds(lambda pair, stem, upper, size, mode: {
        "filename": f"{stem}.{pair[1].upper() if upper else pair[1]}", "mime": pair[0], "size": size,
        "mode": mode}, matching, st.text(max_size=40), st.booleans(), st.integers(1, 100 * MIB), modes),
)


def sign(user_id: str, body: dict[str, Any]) -> tuple[dict[str, Any] | None, MemoryGrantStore]:
    grants = MemoryGrantStore()
    service = SignService(UPLOAD_SETTINGS, LocalIssuer(grants), None)
    request = HttpRequest("POST", "/upload/sign", {"x-user-id": user_id}, json.dumps(body).encode(), {}, None)
    try:
        return service.sign(request), grants
    except ApiError as exc:
        assert exc.status in (400, 401), exc.key
        return None, grants


def outside_keys(user_id: str, key: str) -> list[str]:
    directory = key.rsplit("/", 1)[0]
    return [f"uploads/{user_id}x/a.mp4", f"uploads/{user_id}0/a.mp4", f"uploads/{user_id}",
            "uploads/other/a.mp4", f"{key}x", f"{directory}/other.mp4",
            f"{directory}/../../../other/a.mp4", "a.mp4"]


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(user_id=user_ids, body=bodies)
def test_issued_policy_stays_in_user_prefix(user_id: str, body: dict[str, Any]) -> None:
    data, grants = sign(user_id, body)
    event("issued" if data is not None else "rejected")
    if data is None:
        return
    grant = grants.get(data["credentials"]["tmpSecretId"])
    assert grant is not None
    policy = grant.policy
    user_base = f"{BASE}uploads/{user_id}/"

    assert lint_policy(policy, "ap-guangzhou", "1250000000", "media-1250000000", f"uploads/{user_id}/",
                       UPLOAD_SETTINGS.duration_seconds) == []
    assert grant.expires_at - data["startTime"] <= 600
    for statement in policy["statement"]:
        for resource in statement["resource"]:
            assert resource.startswith(user_base)
            assert all(resource[i - 1] == "/" for i, char in enumerate(resource) if char == "*")
        if set(statement["action"]) & set(PART_ACTIONS):
            assert "condition" not in statement

    values = {"cos:content-type": data["mime"], "cos:content-length": 1}
    assert is_allowed(policy, AccessRequest("name/cos:PutObject", BASE + data["key"], values))
    for other_key in outside_keys(user_id, data["key"]):
        for action in UPLOAD_ACTIONS:
            request = AccessRequest(action, BASE + other_key, values)
            assert not is_allowed(policy, request), (action, other_key)


@settings(max_examples=100, deadline=None)
@given(user_id=st.sampled_from(["u1", "user@example.com", "张三"]), size=st.integers(1, 100 * MIB))
def test_multipart_actions_only_at_threshold(user_id: str, size: int) -> None:
    data, grants = sign(user_id, {"filename": "a.mp4", "mime": "video/mp4", "size": size})
    assert data is not None
    grant = grants.get(data["credentials"]["tmpSecretId"])
    assert grant is not None
    actions = {action for statement in grant.policy["statement"] for action in statement["action"]}

    assert ("name/cos:UploadPart" in actions) == (size >= MIB)
    assert ("name/cos:InitiateMultipartUpload" in actions) == (size >= MIB)
    header_statement = grant.policy["statement"][0]
    assert header_statement["condition"]["numeric_less_than_equal"]["cos:content-length"] == size
    assert header_statement["condition"]["string_equal"]["cos:content-type"] == "video/mp4"
