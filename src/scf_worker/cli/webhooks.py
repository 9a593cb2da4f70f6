"""``scf-worker webhooks``: list, test, inspect, enable and disable webhook endpoints.

Endpoints come from ``WEBHOOK_ENDPOINTS`` and from the ``webhook_endpoints``
table, which ``add`` and ``remove`` manage. No command prints a secret: a
generated secret is written to the file named by ``--secret-file`` (mode 0600).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scf_worker.cli.i18n import MESSAGES, detect_lang, text

if TYPE_CHECKING:
    from scf_worker.app import Services
    from scf_worker.webhooks.endpoints import Endpoint

MESSAGES.update({
    "webhooks.none": {"zh": "没有配置 Webhook 端点", "en": "No webhook endpoints are configured"},
    "webhooks.header": {"zh": "端点", "en": "Endpoints"},
    "webhooks.not_found": {"zh": "找不到端点 {ref};用 `scf-worker webhooks list` 查看",
                           "en": "No endpoint {ref}; run `scf-worker webhooks list` to see them"},
    "webhooks.enabled": {"zh": "已启用 {id},失败计数已清零", "en": "Enabled {id}; failure count reset"},
    "webhooks.disabled": {"zh": "已停用 {id}", "en": "Disabled {id}"},
    "webhooks.already_disabled": {"zh": "{id} 已是停用状态", "en": "{id} was already disabled"},
    "webhooks.saved": {"zh": "已保存端点 {id}({url})", "en": "Saved endpoint {id} ({url})"},
    "webhooks.secret_written": {"zh": "新密钥已写入 {path}(权限 0600),请配置到接收方",
                                "en": "New secret written to {path} (mode 0600); configure it at the"
                                      " receiver"},
    "webhooks.secret_missing": {"zh": "密钥文件 {path} 不存在;加 --generate 生成一个",
                                "en": "Secret file {path} does not exist; add --generate to create one"},
    "webhooks.removed": {"zh": "已删除端点 {id}", "en": "Removed endpoint {id}"},
    "webhooks.remove_env": {"zh": "{id} 来自 WEBHOOK_ENDPOINTS,请在环境变量中删除",
                            "en": "{id} comes from WEBHOOK_ENDPOINTS; remove it there"},
    "webhooks.test_result": {"zh": "测试事件 {outcome}:HTTP {status},耗时 {latency} ms",
                             "en": "Test event {outcome}: HTTP {status}, {latency} ms"},
    "webhooks.no_deliveries": {"zh": "没有投递记录", "en": "No deliveries recorded"},
})


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("webhooks", help="manage webhook endpoints and inspect deliveries")
    parser.add_argument("--lang", choices=("zh", "en"), help="output language (default: by locale)")
    commands = parser.add_subparsers(dest="webhooks_command", required=True)

    listing = commands.add_parser("list", help="list endpoints with their health")
    listing.add_argument("--json", action="store_true", help="print a JSON array")
    listing.set_defaults(run=run_list)

    test = commands.add_parser("test", help="send a signed SCF_WEBHOOK_TEST event to one endpoint")
    test.add_argument("endpoint", help="endpoint id (ep_...) or URL")
    test.add_argument("--json", action="store_true", help="print the attempt as JSON")
    test.set_defaults(run=run_test)

    deliveries = commands.add_parser("deliveries", help="show recent delivery attempts, newest first")
    deliveries.add_argument("--endpoint", help="only this endpoint (id or URL)")
    deliveries.add_argument("--webhook-id", help="only attempts with this webhook-id")
    deliveries.add_argument("--limit", type=int, default=20, help="number of attempts (default 20)")
    deliveries.add_argument("--json", action="store_true", help="print a JSON array")
    deliveries.set_defaults(run=run_deliveries)

    enable = commands.add_parser("enable", help="enable an endpoint and reset its circuit breaker")
    enable.add_argument("endpoint", help="endpoint id (ep_...) or URL")
    enable.set_defaults(run=run_enable)

    disable = commands.add_parser("disable", help="stop delivering to an endpoint")
    disable.add_argument("endpoint", help="endpoint id (ep_...) or URL")
    disable.add_argument("--reason", default="manual", help="reason shown by `list` (default: manual)")
    disable.set_defaults(run=run_disable)

    # No abbreviations: "--secret whsec_..." must not be taken for --secret-file.
    add = commands.add_parser("add", help="store an endpoint in the state database", allow_abbrev=False)
    add.add_argument("url", help="https:// URL of the receiver")
    add.add_argument("--secret-file", type=Path, action="append", required=True,
                     help="file holding one whsec_ secret; repeat during a rotation")
    add.add_argument("--generate", action="store_true",
                     help="create a missing secret file with a new secret (mode 0600)")
    add.add_argument("--events", nargs="+", default=[], help="SCF_JOB_* names to send (default: all)")
    add.set_defaults(run=run_add)

    remove = commands.add_parser("remove", help="delete an endpoint stored with `add`")
    remove.add_argument("endpoint", help="endpoint id (ep_...) or URL")
    remove.set_defaults(run=run_remove)


def _services() -> Services:
    from scf_worker.app import get_services

    return get_services()


def _find(services: Services, reference: str, lang: str) -> Endpoint | None:
    from scf_worker.webhooks.endpoints import EndpointStore
    from scf_worker.webhooks.errors import EndpointNotFound

    try:
        return EndpointStore(services.db, services.clock).find(services.settings, reference)
    except EndpointNotFound:
        print(text("webhooks.not_found", lang, ref=reference), file=sys.stderr)
        return None


def run_list(args: argparse.Namespace) -> int:
    from scf_worker.webhooks.endpoints import EndpointStore
    from scf_worker.webhooks.health import HealthPolicy, HealthStore

    services = _services()
    lang = detect_lang(args.lang)
    endpoints = EndpointStore(services.db, services.clock).configured(services.settings)
    states = HealthStore(services.db, HealthPolicy(), services.clock).states(e.id for e in endpoints)
    now = services.clock()
    rows: list[dict[str, Any]] = [{
        "id": endpoint.id, "url": endpoint.display_url, "source": endpoint.source,
        "events": list(endpoint.events) or ["*"], "secrets": len(endpoint.secrets),
        "status": states[endpoint.id].status, "reason": states[endpoint.id].disabled_reason,
        "circuit": states[endpoint.id].circuit(now),
        "consecutiveFailures": states[endpoint.id].consecutive_failures,
        "failingSince": _iso(states[endpoint.id].failing_since),
        "lastSuccessAt": _iso(states[endpoint.id].last_success_at),
    } for endpoint in endpoints]
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    if not rows:
        print(text("webhooks.none", lang))
        return 0
    print(f"{text('webhooks.header', lang)}:")
    for row in rows:
        reason = f" ({row['reason']})" if row["reason"] else ""
        print(f"  {row['id']}  {row['status']}{reason}  circuit={row['circuit']}"
              f"  failures={row['consecutiveFailures']}  source={row['source']}"
              f"  secrets={row['secrets']}  events={','.join(row['events'])}")
        print(f"      {row['url']}")
    return 0


def run_test(args: argparse.Namespace) -> int:
    from scf_worker.app import reset_services
    from scf_worker.handlers.webhook_forward import forwarder_for

    services = _services()
    lang = detect_lang(args.lang)
    endpoint = _find(services, args.endpoint, lang)
    if endpoint is None:
        return 2
    try:
        attempt = forwarder_for(services).send_test(endpoint)
    finally:
        reset_services()
    if args.json:
        print(json.dumps({"webhookId": attempt.webhook_id, "outcome": attempt.outcome,
                          "status": attempt.status, "code": attempt.code,
                          "latencyMs": attempt.latency_ms, "responseHead": attempt.response_head,
                          "detail": attempt.detail}, ensure_ascii=False, indent=2))
    else:
        print(text("webhooks.test_result", lang, outcome=attempt.outcome, status=attempt.status or "-",
                   latency=attempt.latency_ms if attempt.latency_ms is not None else "-"))
        if attempt.detail:
            print(f"  {attempt.detail}")
        if attempt.response_head:
            # One line is enough to recognise the receiver's response; --json prints all of it.
            print(f"  {' '.join(attempt.response_head.split())[:200]}")
    return 0 if attempt.delivered else 1


def run_deliveries(args: argparse.Namespace) -> int:
    from scf_worker.webhooks.deliveries import DeliveryLog

    services = _services()
    lang = detect_lang(args.lang)
    endpoint_id = None
    if args.endpoint:
        endpoint = _find(services, args.endpoint, lang)
        if endpoint is None:
            return 2
        endpoint_id = endpoint.id
    rows = DeliveryLog(services.db).recent(endpoint_id, args.webhook_id, max(1, args.limit))
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    if not rows:
        print(text("webhooks.no_deliveries", lang))
        return 0
    for row in rows:
        status = row["status"] if row["status"] is not None else "-"
        latency = f"{row['latency_ms']} ms" if row["latency_ms"] is not None else "-"
        print(f"{_iso(row['attempted_at'])}  {row['endpoint_id']}  {row['webhook_id']}"
              f"  #{row['attempt']}  {row['outcome']:<17} {status!s:>4}  {latency:>8}"
              f"  {row['event']}  {row['code'] or ''}"
              + (f"  {row['detail']}" if row.get("detail") else ""))
    return 0


def run_enable(args: argparse.Namespace) -> int:
    from scf_worker.webhooks.health import HealthPolicy, HealthStore

    services = _services()
    lang = detect_lang(args.lang)
    endpoint = _find(services, args.endpoint, lang)
    if endpoint is None:
        return 2
    HealthStore(services.db, HealthPolicy(), services.clock).enable(endpoint.id)
    print(text("webhooks.enabled", lang, id=endpoint.id))
    return 0


def run_disable(args: argparse.Namespace) -> int:
    from scf_worker.webhooks.health import HealthPolicy, HealthStore

    services = _services()
    lang = detect_lang(args.lang)
    endpoint = _find(services, args.endpoint, lang)
    if endpoint is None:
        return 2
    changed = HealthStore(services.db, HealthPolicy(), services.clock).disable(endpoint.id, args.reason)
    print(text("webhooks.disabled" if changed else "webhooks.already_disabled", lang, id=endpoint.id))
    return 0


def run_add(args: argparse.Namespace) -> int:
    from scf_worker.jobs.model import EVENT_NAMES
    from scf_worker.webhooks.endpoints import EndpointStore
    from scf_worker.webhooks.errors import InvalidEndpoint, InvalidSecret

    services = _services()
    lang = detect_lang(args.lang)
    unknown = [name for name in args.events if name not in EVENT_NAMES]
    if unknown:
        print(f"unknown event names: {', '.join(unknown)}; expected {', '.join(EVENT_NAMES)}",
              file=sys.stderr)
        return 2
    secrets = []
    for path in args.secret_file:
        secret = _read_or_create_secret(path, args.generate, lang)
        if secret is None:
            return 2
        secrets.append(secret)
    try:
        endpoint = EndpointStore(services.db, services.clock).save(args.url, secrets, args.events)
    except InvalidSecret as exc:
        print(f"invalid secret: {exc}", file=sys.stderr)
        return 2
    except InvalidEndpoint as exc:
        print(f"invalid endpoint URL: {exc}", file=sys.stderr)
        return 2
    print(text("webhooks.saved", lang, id=endpoint.id, url=endpoint.display_url))
    return 0


def run_remove(args: argparse.Namespace) -> int:
    from scf_worker.webhooks.endpoints import SOURCE_ENV, EndpointStore

    services = _services()
    lang = detect_lang(args.lang)
    endpoint = _find(services, args.endpoint, lang)
    if endpoint is None:
        return 2
    if endpoint.source == SOURCE_ENV:
        print(text("webhooks.remove_env", lang, id=endpoint.id), file=sys.stderr)
        return 2
    EndpointStore(services.db, services.clock).delete(endpoint.id)
    print(text("webhooks.removed", lang, id=endpoint.id))
    return 0


def _read_or_create_secret(path: Path, generate: bool, lang: str) -> str | None:
    from scf_worker.webhooks.signing import generate_secret

    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    if str(path).startswith("whsec_"):
        # Never echo it: the value given is the secret itself, not a file name.
        print("--secret-file takes the path of a file holding the secret, not the secret itself",
              file=sys.stderr)
        return None
    if not generate:
        print(text("webhooks.secret_missing", lang, path=path), file=sys.stderr)
        return None
    secret = generate_secret()
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(secret + "\n")
    print(text("webhooks.secret_written", lang, path=path))
    return secret


def _iso(epoch_seconds: Any) -> str | None:
    if epoch_seconds is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(float(epoch_seconds)))
