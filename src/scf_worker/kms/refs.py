"""The reference syntax.

In ``config.json`` a value is either plain text or exactly ``${secret:NAME}``,
where NAME is an upper-case identifier. On SCF the variable holds
``kms:v1:<CiphertextBlob>``, the base64 blob KMS ``Encrypt`` returned, which
only the function's role can turn back into the value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

CIPHERTEXT_PREFIX = "kms:v1:"
REF_PATTERN = re.compile(r"^\$\{secret:([A-Z][A-Z0-9_]{0,63})\}$")
_LOOKS_LIKE_REF = re.compile(r"\$\{secret:", re.IGNORECASE)


@dataclass(frozen=True)
class SecretRef:
    name: str

    def __str__(self) -> str:
        return "${secret:" + self.name + "}"


def parse_ref(value: str) -> SecretRef | None:
    """Return the reference a value holds, or None for a plain value.

    Raise ValueError for a value that tries to be a reference but is malformed,
    such as ``${secret:name}`` or a reference inside a longer string.
    """
    match = REF_PATTERN.match(value)
    if match:
        return SecretRef(match.group(1))
    if _LOOKS_LIKE_REF.search(value):
        raise ValueError("a reference must be the whole value, ${secret:NAME} with NAME in A-Z, 0-9, _")
    return None


def is_ciphertext(value: str) -> bool:
    return value.startswith(CIPHERTEXT_PREFIX) and len(value) > len(CIPHERTEXT_PREFIX)


def wrap_ciphertext(blob: str) -> str:
    return CIPHERTEXT_PREFIX + blob


def unwrap_ciphertext(value: str) -> str:
    return value[len(CIPHERTEXT_PREFIX):]
