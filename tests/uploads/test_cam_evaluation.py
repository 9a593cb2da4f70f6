"""CAM policy evaluation used by the loopback COS endpoint."""

from __future__ import annotations

from scf_worker.uploads.cam import AccessRequest, is_allowed

RESOURCE = "qcs::cos:ap-guangzhou:uid/1250000000:media-1250000000/uploads/u1/a.mp4"


def policy(*statements: dict) -> dict:
    return {"version": "2.0", "statement": list(statements)}


def allow(**extra: object) -> dict:
    return {"effect": "allow", "action": ["name/cos:PutObject"], "resource": [RESOURCE], **extra}


def test_is_allowed_exact_resource() -> None:
    assert is_allowed(policy(allow()), AccessRequest("name/cos:PutObject", RESOURCE))
    assert not is_allowed(policy(allow()), AccessRequest("name/cos:PutObject", RESOURCE + "x"))
    assert not is_allowed(policy(allow()), AccessRequest("name/cos:GetObject", RESOURCE))


def test_is_allowed_wildcards() -> None:
    wide = allow(action=["name/cos:*"], resource=[RESOURCE.rsplit("/", 1)[0] + "/*"])
    assert is_allowed(policy(wide), AccessRequest("name/cos:GetObject", RESOURCE))
    assert not is_allowed(policy(wide), AccessRequest("name/cos:GetObject", RESOURCE.replace("u1", "u10")))


def test_is_allowed_deny_wins() -> None:
    deny = {**allow(), "effect": "deny"}
    assert not is_allowed(policy(allow(), deny), AccessRequest("name/cos:PutObject", RESOURCE))


def test_is_allowed_missing_condition_key() -> None:
    limited = allow(condition={"numeric_less_than_equal": {"cos:content-length": 10}})
    lenient = allow(condition={"numeric_less_than_equal_if_exist": {"cos:content-length": 10}})
    request = AccessRequest("name/cos:PutObject", RESOURCE, {})

    assert not is_allowed(policy(limited), request)
    assert is_allowed(policy(lenient), request)


def test_is_allowed_conditions() -> None:
    conditioned = allow(condition={"string_equal": {"cos:content-type": "video/mp4"},
                                   "numeric_less_than_equal": {"cos:content-length": 10},
                                   "string_like": {"cos:x-cos-storage-class": "STANDARD*"}})
    ok = {"cos:content-type": "video/mp4", "cos:content-length": 10, "cos:x-cos-storage-class": "STANDARD_IA"}

    assert is_allowed(policy(conditioned), AccessRequest("name/cos:PutObject", RESOURCE, ok))
    for key, bad in (("cos:content-type", "video/mp4x"), ("cos:content-length", 11),
                     ("cos:x-cos-storage-class", "ARCHIVE")):
        request = AccessRequest("name/cos:PutObject", RESOURCE, {**ok, key: bad})
        assert not is_allowed(policy(conditioned), request)


def test_is_allowed_unknown_operator_fails_closed() -> None:
    odd = {"string_equal_ignore_case": {"cos:content-type": "video/mp4"}}
    values = {"cos:content-type": "video/mp4"}

    assert not is_allowed(policy(allow(condition=odd)), AccessRequest("name/cos:PutObject", RESOURCE, values))
    deny = {**allow(condition=odd), "effect": "deny"}
    assert not is_allowed(policy(allow(), deny), AccessRequest("name/cos:PutObject", RESOURCE, values))


def test_is_allowed_ip_condition() -> None:
    local_only = allow(condition={"ip_equal": {"qcs:ip": "127.0.0.0/8"}})
    loopback = AccessRequest("name/cos:PutObject", RESOURCE, {"qcs:ip": "127.0.0.1"})
    ipv6 = AccessRequest("name/cos:PutObject", RESOURCE, {"qcs:ip": "::1"})
    assert is_allowed(policy(local_only), loopback)
    assert not is_allowed(policy(local_only), ipv6)


def test_is_allowed_malformed_policy() -> None:
    assert not is_allowed({}, AccessRequest("name/cos:PutObject", RESOURCE))
    assert not is_allowed({"statement": "x"}, AccessRequest("name/cos:PutObject", RESOURCE))
