"""Media type by magic bytes, never by file name, URL or a declared Content-Type."""

from __future__ import annotations

from pathlib import Path

from scf_worker.uploads.validation import DEFAULT_MIME_TYPES

# filetype reads at most this many leading bytes.
SNIFF_BYTES = 262
# filetype's names for types the upload allow-list spells differently.
_ALIASES = {"audio/x-wav": "audio/wav", "video/x-m4v": "video/mp4", "audio/x-m4a": "audio/mp4"}


def detect_media_type(head: bytes) -> tuple[str | None, str]:
    """Return (allowed MIME type or None, what was detected) for a file's leading bytes."""
    import filetype

    kind = filetype.guess(head)
    if kind is None:
        return None, "an unknown type"
    mime = _ALIASES.get(kind.mime, kind.mime)
    if mime not in DEFAULT_MIME_TYPES:
        return None, mime
    return mime, mime


def detect_file_type(path: Path) -> tuple[str | None, str]:
    with path.open("rb") as handle:
        return detect_media_type(handle.read(SNIFF_BYTES))


def extension_for(mime: str) -> str:
    """Return the usual filename extension of an allowed MIME type, without the dot."""
    return DEFAULT_MIME_TYPES[mime][0]
