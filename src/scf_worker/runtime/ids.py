"""Random identifiers without importing ``uuid``.

``uuid`` pulls in ``platform`` and ``subprocess`` at import, which costs a few
milliseconds of every cold start; these helpers need only ``os.urandom``.
"""

from __future__ import annotations

import os


def random_hex(num_bytes: int = 16) -> str:
    return os.urandom(num_bytes).hex()


def uuid4_text() -> str:
    """Return a random (version 4) UUID in its canonical 8-4-4-4-12 text form."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    text = raw.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
