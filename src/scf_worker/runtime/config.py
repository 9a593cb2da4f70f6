"""Configuration read from the environment once per cold start.

Every variable is parsed and validated here, so a misconfigured function fails
at its first invocation with a message naming the variable and the expected
form. No variable we define uses the prefixes SCF reserves (``SCF_``,
``QCLOUD_``, ``TENCENTCLOUD_``); the platform's ``TENCENTCLOUD_*`` role
credentials are read, never set.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from scf_worker.jobs.model import EVENT_NAMES
from scf_worker.runtime.errors import ConfigError

RESERVED_PREFIXES = ("SCF_", "QCLOUD_", "TENCENTCLOUD_")
MAX_SIGN_EXPIRE_SECONDS = 600
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9-]*-(\d{5,})$")


@dataclass(frozen=True)
class WebhookEndpoint:
    """One outbound webhook target from ``WEBHOOK_ENDPOINTS``."""

    url: str
    secrets: tuple[str, ...]
    events: tuple[str, ...] = ()

    def wants(self, event_name: str) -> bool:
        return not self.events or event_name in self.events


@dataclass(frozen=True)
class Settings:
    """All configuration, parsed and validated."""

    work_dir: Path
    state_url: str
    storage_url: str | None
    cos_bucket: str
    cos_region: str
    allowed_prefix: str
    output_prefix: str
    sign_expire_seconds: int
    max_upload_bytes: int
    auth_mode: str
    auth_jwt_secret: str | None
    callback_secrets: tuple[str, ...]
    callback_tolerance_seconds: int
    callback_max_body_bytes: int
    webhook_endpoints: tuple[WebhookEndpoint, ...]
    webhook_allow_loopback: bool
    webhook_timeout_seconds: float
    ffmpeg_binary: str | None
    ffprobe_binary: str | None
    retry_base_ms: int
    retry_max_delay_ms: int
    retry_max_attempts: int
    log_level: str
    secrets: frozenset[str] = field(default_factory=frozenset, repr=False)
    webhook_connect_timeout_seconds: float = 3.0
    webhook_max_payload_bytes: int = 256 * 1024
    webhook_breaker_failures: int = 5
    webhook_breaker_open_seconds: int = 60
    webhook_disable_after_seconds: int = 72 * 3600
    webhook_allow_cidrs: tuple[str, ...] = ()

    @property
    def appid(self) -> str:
        """Return the APPID suffix of the bucket name (``media-1250000000`` → ``1250000000``)."""
        match = _BUCKET_RE.match(self.cos_bucket)
        if match is None:
            raise ConfigError("COS_BUCKET", "<name>-<APPID>, e.g. media-1250000000", self.cos_bucket)
        return match.group(1)

    @property
    def bucket_short_name(self) -> str:
        return self.cos_bucket[: -len(self.appid) - 1]

    def require(self, *names: str) -> None:
        """Raise ConfigError for the first variable a function needs that is unset."""
        present = {
            "AUTH_JWT_SECRET": self.auth_jwt_secret is not None or self.auth_mode == "gateway",
            "CALLBACK_SHARED_SECRET": bool(self.callback_secrets),
            "WEBHOOK_ENDPOINTS": bool(self.webhook_endpoints),
        }
        for name in names:
            if not present.get(name, True):
                raise ConfigError(name, "a value; this function cannot run without it")


def _default_work_dir(environ: Mapping[str, str]) -> Path:
    if environ.get("TENCENTCLOUD_RUNENV") == "SCF":
        # Everything except /tmp is read-only on SCF.
        return Path("/tmp/scf-worker")  # noqa: S108
    return Path.cwd() / ".scf-worker"


def _int(environ: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(name, f"an integer from {low} to {high}", raw) from None
    if not low <= value <= high:
        raise ConfigError(name, f"an integer from {low} to {high}", raw)
    return value


def _bool(environ: Mapping[str, str], name: str, default: bool) -> bool:
    raw = environ.get(name, "").strip().lower()
    if raw == "":
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(name, "true or false", raw)


def _webhook_endpoints(environ: Mapping[str, str]) -> tuple[WebhookEndpoint, ...]:
    raw = environ.get("WEBHOOK_ENDPOINTS", "").strip()
    if not raw:
        return ()
    expected = 'a JSON list of {"url", "secret", "events"} objects'
    try:
        items = json.loads(raw)
    except json.JSONDecodeError:
        raise ConfigError("WEBHOOK_ENDPOINTS", expected) from None
    if not isinstance(items, list):
        raise ConfigError("WEBHOOK_ENDPOINTS", expected)
    endpoints = []
    for index, item in enumerate(items):
        where = f"WEBHOOK_ENDPOINTS[{index}]"
        if not isinstance(item, dict) or not isinstance(item.get("url"), str):
            raise ConfigError(where, 'an object with a string "url"')
        secret = item.get("secret")
        secrets = [secret] if isinstance(secret, str) else secret
        if not isinstance(secrets, list) or not secrets or not all(
            isinstance(s, str) and s.startswith("whsec_") for s in secrets
        ):
            raise ConfigError(f"{where}.secret", "a whsec_ value or a list of them")
        _check_webhook_secrets(f"{where}.secret", secrets)
        events = item.get("events") or []
        if not isinstance(events, list) or not all(e in EVENT_NAMES for e in events):
            raise ConfigError(f"{where}.events", f"a list of event names from {', '.join(EVENT_NAMES)}")
        if not item["url"].lower().startswith(("https://", "http://")):
            raise ConfigError(f"{where}.url", "an absolute https:// URL")
        endpoints.append(WebhookEndpoint(item["url"], tuple(secrets), tuple(events)))
    return tuple(endpoints)


def _check_webhook_secrets(where: str, secrets: list[str]) -> None:
    """Decode each secret the way the signer will, so a bad one fails at cold start."""
    from scf_worker.webhooks.errors import InvalidSecret
    from scf_worker.webhooks.signing import decode_secret

    for index, secret in enumerate(secrets):
        try:
            decode_secret(secret)
        except InvalidSecret as exc:
            raise ConfigError(f"{where}[{index}]", str(exc)) from None


def _cidrs(environ: Mapping[str, str], name: str) -> tuple[str, ...]:
    from scf_worker.webhooks.guard import parse_networks

    values = tuple(v for v in environ.get(name, "").replace(",", " ").split() if v)
    try:
        parse_networks(values)
    except ValueError as exc:
        raise ConfigError(name, f"private or CGNAT CIDRs separated by commas ({exc})") from None
    return values


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Parse and validate the configuration; raise ConfigError naming the bad variable."""
    env = os.environ if environ is None else environ
    work_dir = Path(env.get("WORKER_HOME") or _default_work_dir(env))
    state_url = env.get("STATE_URL") or f"sqlite:///{work_dir / 'state.db'}"

    storage_url = env.get("STORAGE_URL") or None
    if storage_url is not None and not storage_url.startswith("file:///"):
        raise ConfigError("STORAGE_URL", "file:///absolute/path, or unset for COS", storage_url)

    sign_expire = _int(env, "SIGN_EXPIRE_SEC", 600, 1, 1_000_000)
    if sign_expire > MAX_SIGN_EXPIRE_SECONDS:
        raise ConfigError("SIGN_EXPIRE_SEC", "at most 600 seconds", str(sign_expire))

    auth_mode = env.get("AUTH_MODE", "jwt")
    if auth_mode not in ("jwt", "gateway"):
        raise ConfigError("AUTH_MODE", "jwt or gateway", auth_mode)

    callback_secrets = tuple(env.get("CALLBACK_SHARED_SECRET", "").split())
    endpoints = _webhook_endpoints(env)
    secret_values = {
        *callback_secrets,
        *(s for endpoint in endpoints for s in endpoint.secrets),
        *(env[name] for name in ("AUTH_JWT_SECRET", "STS_SECRET_KEY") if env.get(name)),
    }

    prefix = env.get("COS_ALLOWED_PREFIX", "uploads/${userId}/")
    if "${userId}" not in prefix:
        raise ConfigError("COS_ALLOWED_PREFIX", "a prefix containing ${userId}", prefix)

    return Settings(
        work_dir=work_dir,
        state_url=state_url,
        storage_url=storage_url,
        cos_bucket=env.get("COS_BUCKET", "media-1250000000"),
        cos_region=env.get("COS_REGION", "ap-guangzhou"),
        allowed_prefix=prefix.rstrip("/") + "/",
        output_prefix=env.get("OUTPUT_PREFIX", "outputs/").rstrip("/") + "/",
        sign_expire_seconds=sign_expire,
        max_upload_bytes=_int(env, "MAX_UPLOAD_BYTES", 100 * 1024 * 1024, 1, 5 * 1024**3),
        auth_mode=auth_mode,
        auth_jwt_secret=env.get("AUTH_JWT_SECRET") or None,
        callback_secrets=callback_secrets,
        callback_tolerance_seconds=_int(env, "CALLBACK_TOLERANCE_SEC", 300, 1, 3600),
        callback_max_body_bytes=_int(env, "CALLBACK_MAX_BODY_BYTES", 64 * 1024, 1, 6 * 1024**2),
        webhook_endpoints=endpoints,
        webhook_allow_loopback=_bool(env, "WEBHOOK_ALLOW_LOOPBACK", False),
        webhook_timeout_seconds=_int(env, "WEBHOOK_TIMEOUT_MS", 5000, 100, 60_000) / 1000,
        ffmpeg_binary=env.get("FFMPEG_BINARY") or None,
        ffprobe_binary=env.get("FFPROBE_BINARY") or None,
        retry_base_ms=_int(env, "RETRY_BASE_MS", 1000, 0, 3_600_000),
        retry_max_delay_ms=_int(env, "RETRY_MAX_DELAY_MS", 300_000, 0, 86_400_000),
        retry_max_attempts=_int(env, "RETRY_MAX_ATTEMPTS", 5, 1, 100),
        log_level=env.get("LOG_LEVEL", "INFO").upper(),
        secrets=frozenset(s for s in secret_values if s),
        webhook_connect_timeout_seconds=_int(env, "WEBHOOK_CONNECT_TIMEOUT_MS", 3000, 100, 60_000) / 1000,
        webhook_max_payload_bytes=_int(env, "WEBHOOK_MAX_PAYLOAD_BYTES", 256 * 1024, 1024, 6 * 1024**2),
        webhook_breaker_failures=_int(env, "WEBHOOK_BREAKER_FAILURES", 5, 1, 1000),
        webhook_breaker_open_seconds=_int(env, "WEBHOOK_BREAKER_OPEN_SEC", 60, 1, 86_400),
        webhook_disable_after_seconds=_int(env, "WEBHOOK_DISABLE_AFTER_SEC", 72 * 3600, 60,
                                           30 * 86_400),
        webhook_allow_cidrs=_cidrs(env, "WEBHOOK_ALLOW_CIDRS"),
    )
