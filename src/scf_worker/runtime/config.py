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
from urllib.parse import unquote, urlparse, urlsplit

from scf_worker.jobs.model import EVENT_NAMES
from scf_worker.runtime.errors import ConfigError

RESERVED_PREFIXES = ("SCF_", "QCLOUD_", "TENCENTCLOUD_")
MAX_SIGN_EXPIRE_SECONDS = 600
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9-]*-(\d{5,})$")
_QUEUE_PREFIX_RE = re.compile(r"^[A-Za-z0-9._-]{1,100}$")


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
    # May carry a database password, so it stays out of repr and is registered for redaction.
    state_url: str = field(repr=False)
    storage_url: str | None
    cos_bucket: str
    cos_region: str
    allowed_prefix: str
    output_prefix: str
    sign_expire_seconds: int
    max_upload_bytes: int
    auth_mode: str
    auth_jwt_secret: str | None = field(repr=False)
    callback_secrets: tuple[str, ...] = field(repr=False)
    callback_tolerance_seconds: int
    callback_max_body_bytes: int
    webhook_endpoints: tuple[WebhookEndpoint, ...] = field(repr=False)
    webhook_allow_loopback: bool
    webhook_timeout_seconds: float
    ffmpeg_binary: str | None
    ffprobe_binary: str | None
    retry_base_ms: int
    retry_max_delay_ms: int
    retry_max_attempts: int
    log_level: str
    log_debug_sample_rate: float = 0.0
    log_events: bool = False
    secrets: frozenset[str] = field(default_factory=frozenset, repr=False)
    # Retries, queues and dead letters.
    retry_jitter: bool = True
    queue_url: str | None = field(default=None, repr=False)
    queue_prefix: str = "scf-worker"
    dlq_replay_budget: int = 100
    dlq_replay_rate: float = 10.0
    # Idempotency claims and the callback checks (cos-callback).
    idempotency_url: str | None = None
    idempotency_expiry_seconds: int = 7 * 24 * 3600
    idempotency_lease_margin_seconds: int = 30
    idempotency_wait_ms: int = 5000
    state_auto_migrate: bool = True
    callback_legacy_signature: bool = False
    callback_quarantine_prefix: str = "quarantine/"
    webhook_connect_timeout_seconds: float = 3.0
    webhook_max_payload_bytes: int = 256 * 1024
    webhook_breaker_failures: int = 5
    webhook_breaker_open_seconds: int = 60
    webhook_disable_after_seconds: int = 72 * 3600
    webhook_allow_cidrs: tuple[str, ...] = ()
    # Delivery attempts older than this are deleted on webhook-forward's timer; 0 keeps them.
    webhook_deliveries_retention_days: int = 30

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


def env_int(environ: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    """Read an integer variable within [low, high]; raise ConfigError naming it otherwise."""
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(name, f"an integer from {low} to {high}", raw) from None
    if not low <= value <= high:
        raise ConfigError(name, f"an integer from {low} to {high}", raw)
    return value


def env_float(environ: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    """Read a number variable within [low, high]; raise ConfigError naming it otherwise."""
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(name, f"a number from {low:g} to {high:g}", raw) from None
    if not low <= value <= high:
        raise ConfigError(name, f"a number from {low:g} to {high:g}", raw)
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


WEBHOOK_ENDPOINT_KEYS = ("url", "secret", "events")


def webhook_url_problem(url: str) -> str | None:
    """Return what a webhook URL must be when ``url`` is not that, or None when it is."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "a well-formed URL: a valid host and a port from 1 to 65535"
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return "an absolute https:// URL (http:// only to loopback in local runs)"
    if port == 0:
        return "a well-formed URL: a valid host and a port from 1 to 65535"
    if parts.fragment or url.endswith("#"):
        return "a URL without a #fragment (fragments are never sent)"
    return None


def webhook_url_identity(url: str) -> tuple[str, str, int, str, str]:
    """Return what makes two spellings of a webhook URL the same target (for a valid URL)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or (443 if scheme == "https" else 80)
    return scheme, (parts.hostname or "").rstrip("."), port, parts.path or "/", parts.query


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
    seen_urls: set[tuple[str, str, int, str, str]] = set()
    for index, item in enumerate(items):
        where = f"WEBHOOK_ENDPOINTS[{index}]"
        if not isinstance(item, dict) or not isinstance(item.get("url"), str):
            raise ConfigError(where, 'an object with a string "url"')
        unknown = sorted(set(item) - set(WEBHOOK_ENDPOINT_KEYS))
        if unknown:
            # A misspelt "events" would otherwise send every event to this endpoint.
            raise ConfigError(f"{where}.{unknown[0]}", 'no keys other than "url", "secret" and "events"')
        problem = webhook_url_problem(item["url"])
        if problem is not None:
            raise ConfigError(f"{where}.url", problem)
        identity = webhook_url_identity(item["url"])
        if identity in seen_urls:
            raise ConfigError(f"{where}.url", "a URL whose target is not already listed")
        seen_urls.add(identity)
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
        endpoints.append(WebhookEndpoint(item["url"], tuple(secrets), tuple(events)))
    return tuple(endpoints)


def _url_passwords(*urls: str) -> list[str]:
    from urllib.parse import unquote, urlparse

    passwords = []
    for url in urls:
        try:
            password = urlparse(url).password
        except ValueError:
            continue
        if password:
            passwords += [password, unquote(password)]
    return passwords


def _log_level(environ: Mapping[str, str]) -> str:
    level = environ.get("LOG_LEVEL", "INFO").strip().upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError("LOG_LEVEL", "DEBUG, INFO, WARNING or ERROR", level)
    return level


def _check_state_url(url: str) -> str:
    expected = ("sqlite:///relative.db, sqlite:////absolute/path.db, mysql://user:password@host:3306/db"
                " or redis://host:6379/0")
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme not in ("sqlite", "mysql", "mariadb", "redis", "rediss"):
        raise ConfigError("STATE_URL", expected, url.split("@")[-1])
    if scheme == "sqlite" and (not url.startswith("sqlite:///") or len(url) <= len("sqlite:///")):
        raise ConfigError("STATE_URL", expected, url)
    return url


def _check_callback_secrets(secrets: tuple[str, ...]) -> None:
    """Decode each callback secret now, so a malformed or short one fails at cold start."""
    _check_secrets("CALLBACK_SHARED_SECRET", list(secrets))


def _check_webhook_secrets(where: str, secrets: list[str]) -> None:
    """Decode each secret the way the signer will, so a bad one fails at cold start."""
    _check_secrets(where, secrets)


def _check_secrets(variable: str, secrets: list[str]) -> None:
    from scf_worker.webhooks.errors import InvalidSecret
    from scf_worker.webhooks.signing import decode_secret

    for index, secret in enumerate(secrets):
        try:
            decode_secret(secret)
        except InvalidSecret as exc:
            # The message names the problem, never the value.
            raise ConfigError(f"{variable}[{index}]", str(exc)) from None


def _url(environ: Mapping[str, str], name: str, schemes: tuple[str, ...]) -> str | None:
    raw = environ.get(name, "").strip()
    if not raw:
        return None
    if raw.split("://", 1)[0] not in schemes:
        # The value may carry a password, so only its scheme is shown.
        raise ConfigError(name, f"a URL starting with {' or '.join(s + '://' for s in schemes)}")
    return raw


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
    state_url = _check_state_url(env.get("STATE_URL") or f"sqlite:///{work_dir / 'state.db'}")

    storage_url = env.get("STORAGE_URL") or None
    if storage_url is not None and not storage_url.startswith("file:///"):
        raise ConfigError("STORAGE_URL", "file:///absolute/path, or unset for COS", storage_url)

    sign_expire = env_int(env, "SIGN_EXPIRE_SEC", 600, 1, 1_000_000)
    if sign_expire > MAX_SIGN_EXPIRE_SECONDS:
        raise ConfigError("SIGN_EXPIRE_SEC", "at most 600 seconds", str(sign_expire))

    auth_mode = env.get("AUTH_MODE", "jwt")
    if auth_mode not in ("jwt", "gateway"):
        raise ConfigError("AUTH_MODE", "jwt or gateway", auth_mode)

    callback_secrets = tuple(env.get("CALLBACK_SHARED_SECRET", "").split())
    _check_callback_secrets(callback_secrets)
    quarantine_prefix = env.get("CALLBACK_QUARANTINE_PREFIX", "quarantine/").strip("/") + "/"
    if quarantine_prefix == "/" or ".." in quarantine_prefix.split("/"):
        raise ConfigError("CALLBACK_QUARANTINE_PREFIX", "a key prefix such as quarantine/",
                          quarantine_prefix)
    endpoints = _webhook_endpoints(env)
    secret_values = {
        *callback_secrets,
        *(s for endpoint in endpoints for s in endpoint.secrets),
        *(env[name] for name in ("AUTH_JWT_SECRET", "STS_SECRET_KEY") if env.get(name)),
        *_url_passwords(state_url, env.get("IDEMPOTENCY_URL", ""), env.get("QUEUE_URL", "")),
    }

    queue_url = env.get("QUEUE_URL") or None
    if queue_url is not None:
        queue_parts = urlparse(queue_url)
        if queue_parts.scheme not in ("amqp", "amqps") or not queue_parts.hostname:
            raise ConfigError("QUEUE_URL", "amqp://user:password@host:5672/vhost, or unset for the"
                              " state store's queue table", queue_parts.scheme + "://…")
        if queue_parts.password:
            secret_values.add(unquote(queue_parts.password))
    queue_prefix = env.get("QUEUE_PREFIX") or "scf-worker"
    if not _QUEUE_PREFIX_RE.match(queue_prefix):
        raise ConfigError("QUEUE_PREFIX", "letters, digits, '.', '_' or '-' (at most 100)", queue_prefix)

    prefix = env.get("COS_ALLOWED_PREFIX", "uploads/${userId}/")
    if "${userId}" not in prefix:
        raise ConfigError("COS_ALLOWED_PREFIX", "a prefix containing ${userId}", prefix)

    bucket = env.get("COS_BUCKET", "media-1250000000")
    if _BUCKET_RE.match(bucket) is None:
        raise ConfigError("COS_BUCKET", "<name>-<APPID>, e.g. media-1250000000", bucket)
    output_prefix = env.get("OUTPUT_PREFIX", "outputs/").strip("/") + "/"
    if output_prefix == "/" or any(part in (".", "..", "") for part in output_prefix[:-1].split("/")):
        raise ConfigError("OUTPUT_PREFIX", "a relative key prefix without . or .. segments", output_prefix)

    return Settings(
        work_dir=work_dir,
        state_url=state_url,
        storage_url=storage_url,
        cos_bucket=bucket,
        cos_region=env.get("COS_REGION", "ap-guangzhou"),
        allowed_prefix=prefix.rstrip("/") + "/",
        output_prefix=output_prefix,
        sign_expire_seconds=sign_expire,
        max_upload_bytes=env_int(env, "MAX_UPLOAD_BYTES", 100 * 1024 * 1024, 1, 5 * 1024**3),
        auth_mode=auth_mode,
        auth_jwt_secret=env.get("AUTH_JWT_SECRET") or None,
        callback_secrets=callback_secrets,
        callback_tolerance_seconds=env_int(env, "CALLBACK_TOLERANCE_SEC", 300, 1, 3600),
        callback_max_body_bytes=env_int(env, "CALLBACK_MAX_BODY_BYTES", 64 * 1024, 1, 6 * 1024**2),
        webhook_endpoints=endpoints,
        webhook_allow_loopback=_bool(env, "WEBHOOK_ALLOW_LOOPBACK", False),
        webhook_timeout_seconds=env_int(env, "WEBHOOK_TIMEOUT_MS", 5000, 100, 60_000) / 1000,
        ffmpeg_binary=env.get("FFMPEG_BINARY") or None,
        ffprobe_binary=env.get("FFPROBE_BINARY") or None,
        retry_base_ms=env_int(env, "RETRY_BASE_MS", 1000, 0, 3_600_000),
        retry_max_delay_ms=env_int(env, "RETRY_MAX_DELAY_MS", 300_000, 0, 86_400_000),
        retry_max_attempts=env_int(env, "RETRY_MAX_ATTEMPTS", 5, 1, 100),
        log_level=_log_level(env),
        log_debug_sample_rate=env_int(env, "LOG_DEBUG_SAMPLE_PERCENT", 0, 0, 100) / 100,
        log_events=_bool(env, "LOG_EVENTS", False),
        secrets=frozenset(s for s in secret_values if s),
        retry_jitter=_bool(env, "RETRY_JITTER", True),
        queue_url=queue_url,
        queue_prefix=queue_prefix,
        dlq_replay_budget=env_int(env, "DLQ_REPLAY_BUDGET", 100, 1, 100_000),
        dlq_replay_rate=env_int(env, "DLQ_REPLAY_RATE", 10, 1, 10_000),
        idempotency_url=_url(env, "IDEMPOTENCY_URL", ("sqlite", "mysql", "mariadb", "redis", "rediss")),
        idempotency_expiry_seconds=env_int(env, "IDEMPOTENCY_EXPIRY_SEC", 7 * 24 * 3600, 60, 366 * 86_400),
        idempotency_lease_margin_seconds=env_int(env, "IDEMPOTENCY_LEASE_MARGIN_SEC", 30, 1, 3600),
        idempotency_wait_ms=env_int(env, "IDEMPOTENCY_WAIT_MS", 5000, 0, 60_000),
        # SQLite is the embedded default and may create its tables; a shared server
        # database is migrated by `scf-worker db migrate` and only checked at cold start.
        state_auto_migrate=_bool(env, "STATE_AUTO_MIGRATE", state_url.startswith("sqlite:")),
        callback_legacy_signature=_bool(env, "CALLBACK_LEGACY_SIGNATURE", False),
        callback_quarantine_prefix=quarantine_prefix,
        webhook_connect_timeout_seconds=env_int(env, "WEBHOOK_CONNECT_TIMEOUT_MS", 3000, 100, 60_000) / 1000,
        webhook_max_payload_bytes=env_int(env, "WEBHOOK_MAX_PAYLOAD_BYTES", 256 * 1024, 1024, 6 * 1024**2),
        webhook_breaker_failures=env_int(env, "WEBHOOK_BREAKER_FAILURES", 5, 1, 1000),
        webhook_breaker_open_seconds=env_int(env, "WEBHOOK_BREAKER_OPEN_SEC", 60, 1, 86_400),
        webhook_disable_after_seconds=env_int(env, "WEBHOOK_DISABLE_AFTER_SEC", 72 * 3600, 60,
                                           30 * 86_400),
        webhook_allow_cidrs=_cidrs(env, "WEBHOOK_ALLOW_CIDRS"),
        webhook_deliveries_retention_days=env_int(env, "WEBHOOK_DELIVERIES_RETENTION_DAYS", 30, 0, 3650),
    )
