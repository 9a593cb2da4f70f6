"""Object keys from COS trigger records: strip the prefix once, decode only as the source encoded.

A record's ``cosObject.key`` is ``/<appid>/<bucket short name>/<object key>``.
Official samples and Tencent's own demos use the key as delivered, but public
code also percent-decodes it, and COS documents neither. The record's ``url``
field is the object's URL with the key percent-encoded, so it shows how the key
field was encoded:

- the key equals the URL's decoded path: the key field is raw, use it as is;
- the key, percent-decoded once, equals the URL's decoded path: it was
  percent-encoded, use the decoded form;
- otherwise (or without a URL): try the raw key, then the decoded forms,
  and let a HEAD pick the one that exists.

Decoding is percent-decoding only, never form decoding, so a literal ``+``
stays ``+``. It happens at most once, so ``%25`` in a stored key survives.
"""

from __future__ import annotations

from urllib.parse import unquote, urlparse

from scf_worker.callbacks.errors import RecordRejected
from scf_worker.storage.base import check_key
from scf_worker.storage.errors import InvalidObjectKey


def strip_prefix(raw_key: str, appid: str, short_name: str) -> str:
    """Remove the ``/<appid>/<bucket short name>/`` prefix exactly once."""
    prefix = f"/{appid}/{short_name}/"
    if not raw_key.startswith(prefix):
        raise RecordRejected("invalid_key", "key lacks the /<appid>/<bucket>/ prefix")
    return raw_key[len(prefix):]


def _decode_once(value: str) -> str | None:
    """Percent-decode once; None when the bytes are not UTF-8 (then it was not encoded)."""
    try:
        return unquote(value, errors="strict")
    except UnicodeDecodeError:
        return None


def _url_key(url: str | None) -> str | None:
    if not url:
        return None
    path = urlparse(url).path
    if not path.startswith("/") or len(path) < 2:
        return None
    return _decode_once(path[1:])


def key_candidates(key: str, url: str | None) -> tuple[str, ...]:
    """Return the safe keys the record may name, most likely first.

    Raise RecordRejected("invalid_key") when the key as delivered is unsafe.
    Decoded forms that are unsafe (``..`` segments, control characters) are
    dropped, so they are never looked up or downloaded.
    """
    try:
        check_key(key)
    except InvalidObjectKey as exc:
        raise RecordRejected("invalid_key", str(exc)) from None

    decoded = _decode_once(key)
    from_url = _url_key(url)
    if from_url is not None and from_url == key:
        ordered = [key]
    elif from_url is not None and decoded == from_url:
        ordered = [from_url]
    else:
        ordered = [key, *(k for k in (from_url, decoded) if k is not None)]

    candidates: list[str] = []
    for candidate in ordered:
        if candidate in candidates:
            continue
        try:
            candidates.append(check_key(candidate))
        except InvalidObjectKey:
            continue
    if not candidates:
        raise RecordRejected("invalid_key", "every decoded form of the key is unsafe")
    return tuple(candidates)
