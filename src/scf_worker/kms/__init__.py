"""Secrets in SCF environment variables: references in config.json, KMS ciphertext on SCF.

``config.json`` names a secret with ``${secret:NAME}``; ``scf-worker deploy``
resolves it on the deployer's machine and sends ``kms:v1:<CiphertextBlob>``;
the function decrypts each such value once per cold start.
"""

from scf_worker.kms.errors import SecretError
from scf_worker.kms.refs import (
    CIPHERTEXT_PREFIX,
    SecretRef,
    is_ciphertext,
    parse_ref,
    wrap_ciphertext,
)
from scf_worker.kms.runtime import decrypt_environment, reset_cache

__all__ = [
    "CIPHERTEXT_PREFIX",
    "SecretError",
    "SecretRef",
    "decrypt_environment",
    "is_ciphertext",
    "parse_ref",
    "reset_cache",
    "wrap_ciphertext",
]
