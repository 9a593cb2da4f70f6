"""Decrypt ``kms:v1:`` environment values once per cold start.

``decrypt_environment`` runs from ``get_services()`` before the settings are
read. Each ciphertext is sent to KMS ``Decrypt`` once; the plaintext replaces
the value in ``os.environ`` (so every reader sees it) and is registered with
the log redactor. The KMS SDK is imported only when a ciphertext is present,
so a function without secrets pays nothing at cold start.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Callable, MutableMapping

from scf_worker.kms.errors import SecretError
from scf_worker.kms.refs import is_ciphertext, unwrap_ciphertext

Decrypt = Callable[[str], str]
_plaintexts: dict[str, str] = {}


def reset_cache() -> None:
    _plaintexts.clear()


def kms_decrypter(region: str | None = None, endpoint: str | None = None) -> Decrypt:
    """Build a decrypt function on the official KMS SDK with the role's credentials."""
    from tencentcloud.common import credential
    from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
    from tencentcloud.common.profile.client_profile import ClientProfile
    from tencentcloud.common.profile.http_profile import HttpProfile
    from tencentcloud.kms.v20190118 import kms_client, models

    http_profile = HttpProfile(reqTimeout=5)
    endpoint = endpoint or os.environ.get("KMS_ENDPOINT") or None
    if endpoint:
        http_profile.endpoint = endpoint
        if endpoint.split(":")[0] in ("127.0.0.1", "localhost", "[::1]"):
            http_profile.scheme = "http"
    client = kms_client.KmsClient(
        credential.Credential(os.environ.get("TENCENTCLOUD_SECRETID", ""),
                              os.environ.get("TENCENTCLOUD_SECRETKEY", ""),
                              os.environ.get("TENCENTCLOUD_SESSIONTOKEN") or None),
        region or os.environ.get("TENCENTCLOUD_REGION") or os.environ.get("COS_REGION", "ap-guangzhou"),
        ClientProfile(httpProfile=http_profile),
    )

    def decrypt(blob: str) -> str:
        request = models.DecryptRequest()
        request.CiphertextBlob = blob
        try:
            response = client.Decrypt(request)
        except TencentCloudSDKException as exc:
            raise RuntimeError(f"KMS Decrypt failed: {exc.get_code()}") from None
        return base64.b64decode(response.Plaintext).decode("utf-8")

    return decrypt


def decrypt_environment(environ: MutableMapping[str, str] | None = None,
                        decrypt: Decrypt | None = None) -> list[str]:
    """Replace every ``kms:v1:`` value with its plaintext; return the variables decrypted.

    A failure raises SecretError naming the variable, never the value.
    """
    env = os.environ if environ is None else environ
    names = [name for name, value in env.items() if is_ciphertext(value)]
    if not names:
        return []
    from scf_worker.observability.logging import register_secrets

    for name in names:
        ciphertext = env[name]
        plaintext = _plaintexts.get(ciphertext)
        if plaintext is None:
            decrypt = decrypt or kms_decrypter()
            try:
                plaintext = decrypt(unwrap_ciphertext(ciphertext))
            except (RuntimeError, ValueError, UnicodeDecodeError) as exc:
                raise SecretError(name, f"could not decrypt the kms:v1: value ({exc})") from None
            _plaintexts[ciphertext] = plaintext
        register_secrets([plaintext])
        env[name] = plaintext
    return names
