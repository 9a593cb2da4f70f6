"""After-upload checks: the stored size against what was signed, and the type by magic bytes.

The type comes from the object's first bytes, never from its extension or its
Content-Type header. Containers are matched by family: an ISO-BMFF file
(``ftyp`` box) satisfies video/mp4, video/quicktime and audio/mp4 alike, and
EBML satisfies video/webm and video/x-matroska, because brands and doctypes in
the wild do not follow the declared subtype reliably. Codec-level checks are
left to ffprobe in the transcode step.
"""

from __future__ import annotations

from dataclasses import dataclass

# Enough for the ftyp brand, the RIFF form type and an EBML DocType in practice.
SNIFF_BYTES = 512

FAMILY_ISO_BMFF = "iso-bmff"
FAMILY_EBML = "ebml"

# Declared MIME type -> detected types (or families) that satisfy it.
ACCEPTED_TYPES: dict[str, frozenset[str]] = {
    "image/jpeg": frozenset({"image/jpeg"}),
    "image/png": frozenset({"image/png"}),
    "image/webp": frozenset({"image/webp"}),
    "image/gif": frozenset({"image/gif"}),
    "video/mp4": frozenset({FAMILY_ISO_BMFF}),
    "video/quicktime": frozenset({FAMILY_ISO_BMFF}),
    "audio/mp4": frozenset({FAMILY_ISO_BMFF}),
    "video/webm": frozenset({FAMILY_EBML}),
    "video/x-matroska": frozenset({FAMILY_EBML}),
    "audio/mpeg": frozenset({"audio/mpeg"}),
    "audio/aac": frozenset({"audio/aac"}),
    "audio/wav": frozenset({"audio/wav"}),
    "audio/ogg": frozenset({"audio/ogg"}),
}

# Boxes that may open a QuickTime file written before the ftyp box existed.
_LEGACY_QUICKTIME_BOXES = (b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot")


def sniff(data: bytes) -> str | None:
    """Return the detected type or container family of a file's first bytes, or None."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data.startswith(b"RIFF") and len(data) >= 12:
        return {b"WEBP": "image/webp", b"WAVE": "audio/wav"}.get(data[8:12])
    if len(data) >= 8 and (data[4:8] == b"ftyp" or data[4:8] in _LEGACY_QUICKTIME_BOXES):
        return FAMILY_ISO_BMFF
    if data.startswith(b"\x1a\x45\xdf\xa3"):
        return FAMILY_EBML
    if data.startswith(b"OggS"):
        return "audio/ogg"
    if data.startswith(b"ID3"):
        return "audio/mpeg"
    if len(data) >= 2 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0:
        # MPEG audio frame sync; layer bits 00 mark an AAC ADTS header instead.
        return "audio/aac" if (data[1] >> 1) & 0x03 == 0 else "audio/mpeg"
    return None


@dataclass(frozen=True)
class Violation:
    """Why an upload is rejected: a stable ``reason`` code and a readable detail."""

    reason: str
    detail: str


def check_size(size: int, limit: int) -> Violation | None:
    if size > limit:
        return Violation("size_exceeds_limit", f"stored size {size} bytes is above the signed {limit}")
    if size == 0:
        return Violation("empty_object", "the object is empty")
    return None


def check_type(declared_mime: str | None, first_bytes: bytes) -> Violation | None:
    """Check that the first bytes are the declared type (any allowed type when none is declared)."""
    detected = sniff(first_bytes)
    if detected is None:
        return Violation("not_media", "the first bytes match no allowed image, audio or video type")
    if declared_mime is None:
        return None
    accepted = ACCEPTED_TYPES.get(declared_mime)
    if accepted is None:
        return Violation("mime_not_allowed", f"{declared_mime} is not an allowed type")
    if detected not in accepted:
        return Violation("type_mismatch", f"declared {declared_mime} but the content is {detected}")
    return None
