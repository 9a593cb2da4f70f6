"""media-sign (API Gateway): short-lived upload credentials for one server-chosen key.

``OPTIONS`` preflights from origins in ``CORS_ALLOWED_ORIGINS`` are handled here.
Every other origin gets no CORS headers at all.
"""

from __future__ import annotations

from typing import Any

from scf_worker.app import Services, get_services
from scf_worker.observability.logging import get_logger
from scf_worker.runtime import responses
from scf_worker.runtime.errors import ApiError, ConfigError
from scf_worker.runtime.events import HttpRequest
from scf_worker.runtime.invocation import Invocation, http_function
from scf_worker.uploads.config import UploadSettings, load_upload_settings
from scf_worker.uploads.issuers import CredentialIssuer
from scf_worker.uploads.service import SignService

log = get_logger(__name__)
CORS_ALLOW_METHODS = "POST, OPTIONS"
CORS_ALLOW_HEADERS = "authorization, content-type"
CORS_MAX_AGE_SECONDS = 600


def build_issuer(services: Services, upload: UploadSettings) -> CredentialIssuer:
    if upload.sts is not None:
        from scf_worker.uploads.issuers import StsIssuer

        return StsIssuer(upload.sts, services.clock)
    from scf_worker.uploads.grants import SqlGrantStore
    from scf_worker.uploads.issuers import LocalIssuer

    return LocalIssuer(SqlGrantStore(services.db), services.clock)


def upload_settings(services: Services) -> UploadSettings:
    settings: UploadSettings | None = services.extensions.get("sign_settings")
    if settings is None:
        settings = load_upload_settings(services.settings)
        services.extensions["sign_settings"] = settings
    return settings


def get_sign_service(services: Services) -> SignService:
    """Build the service on first use (cold start) and keep it for the instance's life."""
    service: SignService | None = services.extensions.get("sign")
    if service is not None:
        return service
    upload = upload_settings(services)
    issuer = build_issuer(services, upload)
    if upload.auth_mode == "gateway":
        log.warning("auth_mode_gateway", header=upload.gateway_user_header,
                    detail="user ids are taken from a gateway header without verification;"
                           " the gateway must authenticate callers and overwrite this header")
    log.info("media_sign_ready", authMode=upload.auth_mode, issuer=type(issuer).__name__,
             stsAction=upload.sts.action if upload.sts else None, bucket=upload.bucket,
             corsOrigins=len(upload.cors_allowed_origins))
    service = SignService(upload, issuer, services.settings.auth_jwt_secret, services.clock)
    services.extensions["sign"] = service
    return service


def sign(services: Services, request: HttpRequest, invocation: Invocation) -> Any:
    try:
        service = get_sign_service(services)
    except ConfigError as exc:
        log.error("config_invalid", variable=exc.variable, error=str(exc))
        raise ApiError("internal_error") from None
    return service.sign(request)


_sign_handler = http_function("media-sign", "POST /upload/sign", sign)


def main_handler(event: Any, context: Any) -> dict[str, Any]:
    """Handle a CORS preflight, or sign and add CORS headers for a listed origin."""
    origin, method = _origin_and_method(event)
    allowed = _allowed_origins()
    if method == "OPTIONS":
        return _preflight(origin, allowed)
    response = _sign_handler(event, context)
    if allowed:
        response["headers"]["Vary"] = "Origin"
    if origin is not None and origin.lower() in allowed:
        response["headers"]["Access-Control-Allow-Origin"] = origin
    return response


def _origin_and_method(event: Any) -> tuple[str | None, str]:
    if not isinstance(event, dict):
        return None, ""
    raw_headers = event.get("headers")
    # A malformed event still reaches the signing path, which answers it with a 4xx.
    headers = {str(k).lower(): v for k, v in raw_headers.items()} if isinstance(raw_headers, dict) else {}
    origin = headers.get("origin")
    return (origin if isinstance(origin, str) else None), str(event.get("httpMethod") or "").upper()


def _allowed_origins() -> tuple[str, ...]:
    try:
        return upload_settings(get_services()).cors_allowed_origins
    except ConfigError:
        return ()  # the signing path logs the configuration error and returns 500


def _preflight(origin: str | None, allowed: tuple[str, ...]) -> dict[str, Any]:
    if origin is None or origin.lower() not in allowed:
        log.info("cors_preflight_rejected", origin=origin)  # origins are public, so they are logged
        return responses.error(ApiError("forbidden", "origin is not allowed"), None)
    response = responses.ok(None, None, status=204)
    response["body"] = ""
    response["headers"].update({
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Allow-Methods": CORS_ALLOW_METHODS,
        "Access-Control-Allow-Headers": CORS_ALLOW_HEADERS,
        "Access-Control-Max-Age": str(CORS_MAX_AGE_SECONDS),
        "Vary": "Origin",
    })
    return response
