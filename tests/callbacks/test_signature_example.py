"""The worked signature example in docs/scf-cos-callback.md, checked against the code."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

from scf_worker.webhooks.signing import decode_secret, sign

DOC = Path(__file__).resolve().parents[2] / "docs" / "scf-cos-callback.md"
SECRET = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
MSG_ID = "msg_2Lx1ZTe0bA9fQ"
TIMESTAMP = 1718000000
BODY = (b'{"objectKey":"uploads/u123/2024/06/10/clip.mp4","etag":"9a0364b9e99bb480dd25e1f0284c8555",'
        b'"bucket":"media-1250000000","size":2561690,"mime":"video/mp4"}')
SIGNATURE = "v1,RP82YoD15lsffAXAqnmDrt7qyA1XTr3E0jDmzA1QJP8="
LEGACY = "960fe42082bd2d6284fc86c3065e3b110e03c2068436e01c3efa25cc8dbe243b"


def test_example_signature_matches_code() -> None:
    assert sign(decode_secret(SECRET), MSG_ID, TIMESTAMP, BODY) == SIGNATURE


def test_example_legacy_signature_matches_code() -> None:
    assert hmac.new(decode_secret(SECRET), BODY, hashlib.sha256).hexdigest() == LEGACY


def test_doc_shows_example_values() -> None:
    text = DOC.read_text(encoding="utf-8")

    for value in (SECRET, MSG_ID, str(TIMESTAMP), BODY.decode(), SIGNATURE, LEGACY):
        assert value in text
