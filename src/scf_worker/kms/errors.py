"""Errors of secret references and KMS decryption; none carries a secret value."""

from __future__ import annotations


class SecretError(Exception):
    """A reference cannot be resolved or a ciphertext cannot be decrypted.

    ``variable`` names the environment variable; the message never includes
    the plaintext or the ciphertext.
    """

    def __init__(self, variable: str, message: str) -> None:
        self.variable = variable
        super().__init__(f"{variable}: {message}")
