"""media-sign configuration, read from the environment once per cold start.

The shared ``Settings`` contains the bucket, region, prefix, duration, default
size cap and JWT secret. This module adds what only media-sign needs and
validates it up front. A misconfigured function then fails on its first
invocation with the variable named, instead of issuing a weak credential.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from scf_worker.runtime.config import Settings, env_int
from scf_worker.runtime.errors import ConfigError
from scf_worker.uploads.validation import DEFAULT_MIME_TYPES

MAX_JWT_LEEWAY_SECONDS = 30
DEFAULT_MULTIPART_THRESHOLD_BYTES = 20 * 1024 * 1024
DEFAULT_STS_TIMEOUT_SECONDS = 5
_MIME_RE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*$")
_EXTENSION_RE = re.compile(r"^[a-z0-9]{1,16}$")
_ROLE_ARN_RE = re.compile(r"^qcs::cam::uin/\d+:role(?:Name)?/[\w+=,.@-]{1,128}$")
_HEADER_NAME_RE = re.compile(r"^[a-z0-9-]{1,64}$")


@dataclass(frozen=True)
class StsSettings:
    """STS access: a sub-account key (GetFederationToken) or a role to assume (AssumeRole)."""

    region: str
    secret_id: str | None = field(default=None, repr=False)
    secret_key: str | None = field(default=None, repr=False)
    role_arn: str | None = None
    endpoint: str | None = None
    scheme: str = "https"
    timeout_seconds: int = DEFAULT_STS_TIMEOUT_SECONDS

    @property
    def action(self) -> str:
        return "AssumeRole" if self.role_arn else "GetFederationToken"


@dataclass(frozen=True)
class UploadSettings:
    """Everything media-sign needs, parsed and validated."""

    bucket: str
    region: str
    appid: str
    prefix_template: str
    duration_seconds: int
    allowed_types: Mapping[str, tuple[str, ...]]
    default_max_bytes: int
    max_bytes_by_mime: Mapping[str, int]
    multipart_threshold_bytes: int
    auth_mode: str
    jwt_issuer: str | None
    jwt_audience: str | None
    jwt_leeway_seconds: int
    gateway_user_header: str
    cors_allowed_origins: tuple[str, ...]
    sts: StsSettings | None

    def max_bytes_for(self, mime: str) -> int:
        return self.max_bytes_by_mime.get(mime, self.default_max_bytes)

    def user_prefix(self, user_id: str) -> str:
        return self.prefix_template.replace("${userId}", user_id)


def is_loopback_host(host: str) -> bool:
    """Return True for ``localhost`` and addresses in 127.0.0.0/8 or ::1."""
    name = host.strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _json_object(environ: Mapping[str, str], name: str, expected: str) -> dict[str, object] | None:
    raw = environ.get(name, "").strip()
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        raise ConfigError(name, expected) from None
    if not isinstance(value, dict) or not value:
        raise ConfigError(name, expected)
    return value


def allowed_types_from_env(environ: Mapping[str, str]) -> dict[str, tuple[str, ...]]:
    """Parse ``UPLOAD_ALLOWED_TYPES`` (MIME type -> extensions), or return the default allow-list."""
    expected = 'a JSON object of MIME type -> extensions, e.g. {"video/mp4": ["mp4"]}'
    value = _json_object(environ, "UPLOAD_ALLOWED_TYPES", expected)
    if value is None:
        return dict(DEFAULT_MIME_TYPES)
    types: dict[str, tuple[str, ...]] = {}
    for mime, extensions in value.items():
        if not _MIME_RE.match(mime) or mime.endswith("/*"):
            raise ConfigError("UPLOAD_ALLOWED_TYPES", f"lower-case type/subtype names; {mime!r} is not one")
        if not isinstance(extensions, list) or not extensions or not all(
            isinstance(ext, str) and _EXTENSION_RE.match(ext) for ext in extensions
        ):
            raise ConfigError("UPLOAD_ALLOWED_TYPES", f"a list of lower-case extensions for {mime}")
        types[mime] = tuple(extensions)
    return types


def max_bytes_by_mime_from_env(environ: Mapping[str, str],
                               types: Mapping[str, tuple[str, ...]]) -> dict[str, int]:
    """Parse ``UPLOAD_MAX_BYTES_BY_MIME``; every type must be on the allow-list."""
    name = "UPLOAD_MAX_BYTES_BY_MIME"
    value = _json_object(environ, name, 'a JSON object of MIME type -> bytes, e.g. {"video/mp4": 2147483648}')
    if value is None:
        return {}
    limits: dict[str, int] = {}
    for mime, limit in value.items():
        if mime not in types:
            raise ConfigError(name, f"MIME types from the allow-list; {mime!r} is not on it")
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 5 * 1024**4:
            raise ConfigError(name, f"a byte count from 1 to 5 TiB for {mime}")
        limits[mime] = limit
    return limits


def _cors_origins(environ: Mapping[str, str]) -> tuple[str, ...]:
    origins = []
    for origin in environ.get("CORS_ALLOWED_ORIGINS", "").replace(",", " ").split():
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.path or parts.query:
            raise ConfigError("CORS_ALLOWED_ORIGINS",
                              "exact origins such as https://cms.example.com, separated by commas", origin)
        origins.append(origin.lower())
    return tuple(origins)


def parse_sts_endpoint(raw: str) -> tuple[str, str]:
    """Split ``STS_ENDPOINT`` into (host[:port], scheme); plain HTTP only for a loopback host."""
    value = raw.strip()
    scheme = ""
    if "://" in value:
        scheme, _, value = value.partition("://")
        scheme = scheme.lower()
    host = urlsplit(f"//{value}").hostname or ""
    if not host or "/" in value:
        raise ConfigError("STS_ENDPOINT", "host or host:port, e.g. sts.tencentcloudapi.com", raw)
    loopback = is_loopback_host(host)
    if scheme == "":
        scheme = "http" if loopback else "https"
    if scheme not in ("http", "https"):
        raise ConfigError("STS_ENDPOINT", "an http or https endpoint", raw)
    if scheme == "http" and not loopback:
        raise ConfigError("STS_ENDPOINT", "https for any host that is not loopback", raw)
    return value, scheme


def _sts_settings(environ: Mapping[str, str], region: str) -> StsSettings | None:
    secret_id = environ.get("STS_SECRET_ID") or None
    secret_key = environ.get("STS_SECRET_KEY") or None
    role_arn = environ.get("STS_ROLE_ARN") or None
    if (secret_id is None) != (secret_key is None):
        raise ConfigError("STS_SECRET_KEY" if secret_key is None else "STS_SECRET_ID",
                          "both STS_SECRET_ID and STS_SECRET_KEY, or neither")
    if role_arn is not None and not _ROLE_ARN_RE.match(role_arn):
        raise ConfigError("STS_ROLE_ARN", "qcs::cam::uin/<uin>:roleName/<name>", role_arn)
    if secret_id is None and role_arn is None:
        return None
    endpoint, scheme = None, "https"
    if environ.get("STS_ENDPOINT"):
        endpoint, scheme = parse_sts_endpoint(environ["STS_ENDPOINT"])
    return StsSettings(
        region=environ.get("STS_REGION") or region,
        secret_id=secret_id,
        secret_key=secret_key,
        role_arn=role_arn,
        endpoint=endpoint,
        scheme=scheme,
        timeout_seconds=env_int(environ, "STS_TIMEOUT_SEC", DEFAULT_STS_TIMEOUT_SECONDS, 1, 60),
    )


def _check_prefix_template(template: str) -> None:
    """Require ``${userId}`` as a whole path segment, so no user's prefix can contain another's."""
    segments = template.rstrip("/").split("/")
    if (template.startswith("/") or "*" in template or "${userId}" not in segments
            or any(s in ("", ".", "..") for s in segments)
            or any("${userId}" in s and s != "${userId}" for s in segments)):
        raise ConfigError("COS_ALLOWED_PREFIX",
                          "a relative prefix with ${userId} as a whole segment, e.g. uploads/${userId}/",
                          template)


def load_upload_settings(settings: Settings, environ: Mapping[str, str] | None = None) -> UploadSettings:
    """Validate media-sign's configuration; raise ConfigError naming the bad variable."""
    env = os.environ if environ is None else environ
    appid = settings.appid  # raises ConfigError when COS_BUCKET has no -<APPID> suffix
    _check_prefix_template(settings.allowed_prefix)
    types = allowed_types_from_env(env)

    leeway = env_int(env, "AUTH_JWT_LEEWAY_SEC", MAX_JWT_LEEWAY_SECONDS, 0, MAX_JWT_LEEWAY_SECONDS)
    header = env.get("AUTH_GATEWAY_USER_HEADER", "x-user-id").strip().lower()
    if not _HEADER_NAME_RE.match(header):
        raise ConfigError("AUTH_GATEWAY_USER_HEADER", "an HTTP header name such as x-user-id", header)
    if settings.auth_mode == "jwt" and not settings.auth_jwt_secret:
        raise ConfigError("AUTH_JWT_SECRET", "a secret of at least 32 bytes when AUTH_MODE=jwt")
    if settings.auth_jwt_secret and len(settings.auth_jwt_secret.encode()) < 32:
        raise ConfigError("AUTH_JWT_SECRET",
                          "at least 32 bytes, because HS256 keys shorter than the hash are weak")

    sts = _sts_settings(env, settings.cos_region)
    if sts is None and settings.storage_url is None:
        # Without STS the local issuer mints credentials only the loopback COS endpoint accepts.
        raise ConfigError("STS_SECRET_ID", "STS_SECRET_ID and STS_SECRET_KEY, or STS_ROLE_ARN, when COS is"
                          " the object store (STORAGE_URL unset)")

    return UploadSettings(
        bucket=settings.cos_bucket,
        region=settings.cos_region,
        appid=appid,
        prefix_template=settings.allowed_prefix,
        duration_seconds=settings.sign_expire_seconds,
        allowed_types=types,
        default_max_bytes=settings.max_upload_bytes,
        max_bytes_by_mime=max_bytes_by_mime_from_env(env, types),
        multipart_threshold_bytes=env_int(env, "UPLOAD_MULTIPART_THRESHOLD_BYTES",
                                       DEFAULT_MULTIPART_THRESHOLD_BYTES, 1024 * 1024, 5 * 1024**4),
        auth_mode=settings.auth_mode,
        jwt_issuer=env.get("AUTH_JWT_ISSUER") or None,
        jwt_audience=env.get("AUTH_JWT_AUDIENCE") or None,
        jwt_leeway_seconds=leeway,
        gateway_user_header=header,
        cors_allowed_origins=_cors_origins(env),
        sts=sts,
    )
