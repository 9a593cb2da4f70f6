"""Caller identity for media-sign: a verified HS256 bearer token, or a gateway header.

The user id never comes from the request body. ``AUTH_MODE=jwt`` (the default)
verifies ``Authorization: Bearer <JWT>`` with ``AUTH_JWT_SECRET``: HS256 only,
``exp`` and ``sub`` required, ``iss``/``aud`` checked when configured, clock
leeway at most 30 s. ``AUTH_MODE=gateway`` is the weaker mode for deployments
whose API Gateway already authenticated the caller: the user id is read from
``AUTH_GATEWAY_USER_HEADER`` and trusted as is, so the gateway must overwrite
that header on every request.
"""

from __future__ import annotations

from scf_worker.observability.logging import get_logger
from scf_worker.runtime.errors import ApiError
from scf_worker.runtime.events import HttpRequest
from scf_worker.uploads.config import UploadSettings

log = get_logger(__name__)
# A JWT with a handful of claims is a few hundred bytes; anything this large is not ours.
MAX_TOKEN_BYTES = 8192


def authenticate(request: HttpRequest, settings: UploadSettings, jwt_secret: str | None) -> str:
    """Return the caller's user id, or raise ApiError("unauthorized")."""
    if settings.auth_mode == "gateway":
        return _gateway_user(request, settings.gateway_user_header)
    return _jwt_subject(request, settings, jwt_secret)


def _gateway_user(request: HttpRequest, header: str) -> str:
    user_id = request.header(header)
    if not user_id:
        raise ApiError("unauthorized", f"missing {header} header from the gateway")
    return user_id


def _jwt_subject(request: HttpRequest, settings: UploadSettings, jwt_secret: str | None) -> str:
    scheme, _, token = (request.header("authorization") or "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or jwt_secret is None:
        raise ApiError("unauthorized", "send Authorization: Bearer <JWT>")
    if len(token) > MAX_TOKEN_BYTES:
        raise ApiError("unauthorized", "the bearer token is too long")

    import jwt

    try:
        claims = jwt.decode(
            token,
            jwt_secret,
            algorithms=["HS256"],
            options={"require": ["exp", "sub"]},
            leeway=settings.jwt_leeway_seconds,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
        )
    except jwt.PyJWTError as exc:
        # The reason (expired, bad signature, wrong audience) goes to the log, not to the caller.
        log.info("token_rejected", reason=type(exc).__name__)
        raise ApiError("unauthorized", "the bearer token is invalid or expired") from None
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise ApiError("unauthorized", "the token has no subject")
    return subject
