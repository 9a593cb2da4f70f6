"""``scf-worker dev``: every function on loopback with the triggers of its config.json.

One process holds the API Gateway emulation, the COS watcher on the local
object store, the timers, the queue consumer (the local worker) and a webhook
receiver that verifies what the functions send. The functions share one
environment with local values: SQLite state and a folder object store under
the work directory, generated secrets, and the receiver as the webhook
endpoint. Secrets go to ``dev.json`` (mode 0600), never to the log.
"""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scf_worker.demo.receiver import WebhookReceiver
from scf_worker.deploy.manifest import FunctionManifest, discover
from scf_worker.devstack.functions import Handler, context_for, load_handler
from scf_worker.devstack.gateway import ApiGateway, Route
from scf_worker.devstack.timers import TimerRunner, TimerTrigger
from scf_worker.devstack.watcher import CosSubscription, StoreWatcher
from scf_worker.kms.refs import parse_ref
from scf_worker.observability.logging import get_logger
from scf_worker.webhooks.signing import generate_secret

log = get_logger(__name__)
# Production values that must not be used locally: remote stores, layer paths, endpoints.
NOT_COPIED = ("STATE_URL", "STORAGE_URL", "FFMPEG_BINARY", "FFPROBE_BINARY", "COS_ENDPOINT",
              "STS_SECRET_ID", "STS_SECRET_KEY", "STS_ENDPOINT", "KMS_ENDPOINT", "WEBHOOK_ENDPOINTS",
              "WEBHOOK_ALLOW_LOOPBACK")
DEV_USER = "dev-user"


class _LoggingReceiver(WebhookReceiver):
    def _record(self, headers: dict[str, str], body: bytes) -> int:
        status = super()._record(headers, body)
        last = self.received[-1]
        event = last.event or {}
        log.info("webhook_received", function="receiver", webhookId=last.webhook_id, verified=last.verified,
                 webhookEvent=event.get("event"), jobType=event.get("type"), jobId=event.get("jobId"))
        return status


def require_loopback(host: str) -> None:
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback:
        raise ValueError(f"--host {host}: the dev stack listens on loopback only (127.0.0.1 or ::1)")


@dataclass
class DevStack:
    root: Path
    workdir: Path
    host: str = "127.0.0.1"
    port: int = 0
    poll_seconds: float = 0.5
    timers: bool = True
    manifests: list[FunctionManifest] = field(default_factory=list)
    _saved_env: dict[str, str | None] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _parts: list[Any] = field(default_factory=list)

    def start(self) -> dict[str, Any]:
        """Start everything and return what ``dev.json`` holds."""
        require_loopback(self.host)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.manifests = discover(self.root)
        receiver_secret = generate_secret()
        self.receiver = _LoggingReceiver(receiver_secret, host=self.host)
        self.receiver.__enter__()
        info = self._configure(receiver_secret)
        handlers = {m.name: load_handler(m) for m in self.manifests}

        self.gateway = ApiGateway(self._routes(handlers), self.host, self.port, metrics=self._metrics)
        self.watcher = StoreWatcher(self.workdir / "cos", self._subscriptions(handlers),
                                    os.environ.get("COS_REGION", "ap-guangzhou"), self.poll_seconds)
        self.timer_runner = TimerRunner(self._timers(handlers) if self.timers else [])
        self.cos_endpoint = self._cos_endpoint()
        self.worker = threading.Thread(target=self._consume, name="queue-consumer", daemon=True)
        for part in (self.gateway, self.watcher, self.timer_runner, self.worker):
            part.start()
        info["gateway"] = self.gateway.url
        info["cosEndpoint"] = self.cos_endpoint.url
        self._write_info(info)
        log.info("dev_stack_ready", function="dev", gateway=self.gateway.url, receiver=self.receiver.url,
                 functions=",".join(handlers), info=str(self.workdir / "dev.json"))
        return info

    def stop(self) -> None:
        """Stop every part, wait for in-flight work, and restore the environment."""
        self._stop.set()
        self.gateway.stop()
        self.cos_endpoint.close()
        self.watcher.stop()
        self.timer_runner.stop()
        self.worker.join(timeout=60)
        self.receiver.__exit__(None, None, None)
        from scf_worker.app import reset_services

        reset_services()
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        log.info("dev_stack_stopped", function="dev")

    def wait(self) -> None:
        while not self._stop.wait(0.5):
            pass

    def request_stop(self) -> None:
        self._stop.set()

    # -- setup -------------------------------------------------------------------------------

    @staticmethod
    def _metrics() -> str:
        from scf_worker.app import get_services
        from scf_worker.observability.prometheus import exposition

        return exposition(get_services())

    def _cos_endpoint(self) -> Any:
        """Start the loopback COS endpoint that checks issued credentials and writes the local store."""
        from scf_worker.app import get_services
        from scf_worker.storage.local import LocalObjectStore
        from scf_worker.uploads.cos_endpoint import CosEndpoint
        from scf_worker.uploads.grants import SqlGrantStore

        services = get_services()
        buckets = {services.settings.cos_bucket: services.settings.cos_region}
        endpoint = CosEndpoint(LocalObjectStore(self.workdir / "cos"), SqlGrantStore(services.db),
                               buckets, host=self.host)
        return endpoint.start()

    def _configure(self, receiver_secret: str) -> dict[str, Any]:
        env: dict[str, str] = {}
        for manifest in self.manifests:
            for name, value in manifest.variables.items():
                if name not in NOT_COPIED and parse_ref(value) is None:
                    env.setdefault(name, value)
        jwt_secret = secrets.token_urlsafe(32)
        callback_secret = generate_secret()
        env.update({
            "WORKER_HOME": str(self.workdir),
            "STATE_URL": f"sqlite:///{self.workdir / 'state.db'}",
            "STORAGE_URL": f"file://{self.workdir / 'cos'}",
            "AUTH_MODE": "jwt",
            "AUTH_JWT_SECRET": jwt_secret,
            "CALLBACK_SHARED_SECRET": callback_secret,
            "WEBHOOK_ENDPOINTS": json.dumps([{"url": self.receiver.url, "secret": receiver_secret}]),
            "WEBHOOK_ALLOW_LOOPBACK": "true",
            "RETRY_BASE_MS": os.environ.get("RETRY_BASE_MS", "500"),
            # The dev token's user may start imports, so /batch/import works with it too.
            "IMPORT_ADMIN_USERS": DEV_USER,
            "IMPORT_ALLOW_LOOPBACK": "true",
        })
        env.setdefault("COS_BUCKET", "media-1250000000")
        self._saved_env = {name: os.environ.get(name) for name in env}
        os.environ.update(env)
        for name in ("FFMPEG_BINARY", "FFPROBE_BINARY"):
            if name not in self._saved_env:
                self._saved_env[name] = os.environ.get(name)
        from scf_worker.app import get_services, reset_services

        reset_services()
        get_services()
        return {
            "workdir": str(self.workdir), "bucket": env["COS_BUCKET"], "storeRoot": str(self.workdir / "cos"),
            "stateUrl": env["STATE_URL"], "receiver": self.receiver.url, "jwtSecret": jwt_secret,
            "callbackSecret": callback_secret, "receiverSecret": receiver_secret,
            "devToken": _dev_token(jwt_secret), "devUser": DEV_USER,
        }

    def _write_info(self, info: dict[str, Any]) -> None:
        path = self.workdir / "dev.json"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(info, handle, ensure_ascii=False, indent=2)

    def _invoker(self, manifest: FunctionManifest, handler: Handler) -> Any:
        def invoke(event: dict[str, Any]) -> Any:
            return handler(event, context_for(manifest))

        return invoke

    def _routes(self, handlers: dict[str, Handler]) -> list[Route]:
        return [Route(str(t.raw.get("method", "ANY")).upper(), str(t.raw.get("path")), m.name,
                      self._invoker(m, handlers[m.name]))
                for m in self.manifests for t in m.triggers_of("apigw")]

    def _subscriptions(self, handlers: dict[str, Handler]) -> list[CosSubscription]:
        subscriptions = []
        for m in self.manifests:
            for t in m.triggers_of("cos"):
                filters = t.raw.get("filter") or {}
                subscriptions.append(CosSubscription(
                    m.name, os.environ.get("COS_BUCKET", str(t.raw.get("bucket"))),
                    str(filters.get("prefix", "")), str(filters.get("suffix", "")),
                    self._invoker(m, handlers[m.name])))
        return subscriptions

    def _timers(self, handlers: dict[str, Handler]) -> list[TimerTrigger]:
        return [TimerTrigger(m.name, t.name, str(t.raw.get("cronExpression")), str(t.raw.get("message", "")),
                             self._invoker(m, handlers[m.name]))
                for m in self.manifests for t in m.triggers_of("timer")]

    def _consume(self) -> None:
        """The queue consumer: run due messages, then wait ``poll_seconds``."""
        from scf_worker.app import get_services
        from scf_worker.jobs.worker import run_until_idle

        while not self._stop.is_set():
            try:
                stats = run_until_idle(get_services(), max_wait_seconds=0)
                if stats.processed:
                    log.info("queue_drained", function="worker", processed=stats.processed, done=stats.done,
                             retried=stats.retried, dead=stats.dead)
            except Exception:
                log.exception("queue_consumer_failed", function="worker")
            self._stop.wait(self.poll_seconds)


def _dev_token(secret: str, lifetime_seconds: int = 12 * 3600) -> str:
    import jwt

    claims = {"sub": DEV_USER, "exp": int(time.time()) + lifetime_seconds}
    return jwt.encode(claims, secret, algorithm="HS256")
