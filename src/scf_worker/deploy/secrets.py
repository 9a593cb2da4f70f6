"""Resolve ``${secret:NAME}`` references for deploy: plaintext never leaves as plaintext.

A value comes from ``--secrets-file`` (a JSON object NAME → value) or the
deployer's environment variable NAME. A value that already is ``kms:v1:...``
is sent as it is; any other value is encrypted with KMS ``Encrypt`` under the
given key, and the ciphertext is what SCF stores.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Mapping
from pathlib import Path

from scf_worker.deploy.api import ApiClient
from scf_worker.deploy.errors import DeployError
from scf_worker.kms.refs import is_ciphertext, parse_ref, wrap_ciphertext


def load_secret_source(secrets_file: Path | None) -> Mapping[str, str]:
    if secrets_file is None:
        return os.environ
    try:
        data = json.loads(secrets_file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise DeployError(f"{secrets_file}: not a readable JSON object ({type(exc).__name__})") from None
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise DeployError(f"{secrets_file}: expected a JSON object of NAME: string value")
    return data


def resolve_variables(variables: Mapping[str, str], source: Mapping[str, str], kms: ApiClient | None,
                      key_id: str | None) -> dict[str, str]:
    """Return the variables with every reference replaced by a ``kms:v1:`` ciphertext."""
    resolved: dict[str, str] = {}
    for name, value in variables.items():
        ref = parse_ref(value)
        if ref is None:
            resolved[name] = value
            continue
        secret = source.get(ref.name)
        if not secret:
            raise DeployError(f"environment.variables.{name} references {ref}, but {ref.name} is not set"
                              " in the secrets file or the environment")
        resolved[name] = secret if is_ciphertext(secret) else _encrypt(name, secret, kms, key_id)
    return resolved


def _encrypt(name: str, plaintext: str, kms: ApiClient | None, key_id: str | None) -> str:
    if not key_id:
        raise DeployError(f"environment.variables.{name} holds a plaintext secret: pass --kms-key-id so"
                          " deploy stores it KMS-encrypted, or give a kms:v1: value")
    if kms is None:
        return wrap_ciphertext(f"<Encrypt with {key_id}>")
    response = kms.call("Encrypt", {"KeyId": key_id,
                                    "Plaintext": base64.b64encode(plaintext.encode()).decode()})
    blob = response.get("CiphertextBlob")
    if not isinstance(blob, str) or not blob:
        raise DeployError(f"KMS Encrypt returned no CiphertextBlob for {name}")
    return wrap_ciphertext(blob)
