"""Caller identity for media-sign: a verified HS256 bearer token, or a gateway header.

The user id never comes from the request body. ``AUTH_MODE=gateway`` is the
weaker mode for deployments whose API Gateway already authenticated the
caller and forwards its id in ``AUTH_GATEWAY_USER_HEADER``.
"""

from __future__ import annotations

import os

from scf_worker.runtime.errors import ApiError
from scf_worker.runtime.events import HttpRequest

LEEWAY_SECONDS = 30


def authenticate(request: HttpRequest, mode: str, jwt_secret: str | None) -> str:
    """Return the caller's user id, or raise ApiError("unauthorized")."""
    if mode == "gateway":
        header = os.environ.get("AUTH_GATEWAY_USER_HEADER", "x-user-id")
        user_id = request.header(header)
        if not user_id:
            raise ApiError("unauthorized", f"missing {header} header from the gateway")
        return user_id

    authorization = request.header("authorization") or ""
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip() or jwt_secret is None:
        raise ApiError("unauthorized", "send Authorization: Bearer <JWT>")

    import jwt

    issuer = os.environ.get("AUTH_JWT_ISSUER") or None
    audience = os.environ.get("AUTH_JWT_AUDIENCE") or None
    try:
        claims = jwt.decode(
            token.strip(), jwt_secret, algorithms=["HS256"], options={"require": ["exp", "sub"]},
            leeway=LEEWAY_SECONDS, issuer=issuer, audience=audience,
        )
    except jwt.PyJWTError:
        raise ApiError("unauthorized", "the bearer token is invalid or expired") from None
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise ApiError("unauthorized", "the token has no subject")
    return subject
