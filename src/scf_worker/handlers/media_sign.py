"""media-sign (API Gateway): short-lived upload credentials for one server-chosen key."""

from __future__ import annotations

from typing import Any

from scf_worker.app import Services
from scf_worker.runtime.events import HttpRequest
from scf_worker.runtime.invocation import Invocation, http_function
from scf_worker.uploads.issuers import CredentialIssuer, LocalIssuer
from scf_worker.uploads.service import SignService


def build_issuer(services: Services) -> CredentialIssuer:
    import os

    secret_id, secret_key = os.environ.get("STS_SECRET_ID"), os.environ.get("STS_SECRET_KEY")
    if secret_id and secret_key:
        from scf_worker.uploads.issuers import StsIssuer

        return StsIssuer(secret_id, secret_key, services.settings.cos_region,
                         endpoint=os.environ.get("STS_ENDPOINT"), clock=services.clock)
    return LocalIssuer(services.db, services.clock)


def sign(services: Services, request: HttpRequest, invocation: Invocation) -> Any:
    service: SignService | None = services.extensions.get("sign")
    if service is None:
        services.settings.require("AUTH_JWT_SECRET")
        service = SignService(services.settings, build_issuer(services), services.clock)
        services.extensions["sign"] = service
    return service.sign(request)


main_handler = http_function("media-sign", "POST /upload/sign", sign)
