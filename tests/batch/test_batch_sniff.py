"""Media type by magic bytes."""

from __future__ import annotations

import pytest

from scf_worker.batch import detect_media_type

from .batch_support import MIME, media_bytes


@pytest.mark.parametrize("kind", sorted(MIME))
def test_allowed_media_detected_from_leading_bytes(kind: str) -> None:
    assert detect_media_type(media_bytes(kind, "seed")) == (MIME[kind], MIME[kind])


@pytest.mark.parametrize(("kind", "detected"), [("txt", "an unknown type"), ("pdf", "application/pdf")])
def test_other_content_is_not_media(kind: str, detected: str) -> None:
    assert detect_media_type(media_bytes(kind, "seed")) == (None, detected)


def test_wav_alias_maps_to_allowed_type() -> None:
    head = b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 40
    assert detect_media_type(head)[0] == "audio/wav"
