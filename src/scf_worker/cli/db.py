"""``scf-worker db migrate|check``: create or check the state store's tables.

Functions do not run DDL against a shared MySQL database at cold start; they
only check the schema and name what is missing. Run ``db migrate`` once per
deployment (and after an upgrade) with a user that may create tables.
"""

from __future__ import annotations

import argparse
import sys

from scf_worker.cli.i18n import detect_lang, text


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("db", help="create or check the state store schema")
    actions = parser.add_subparsers(dest="db_action", required=True)
    for name, help_text in (("migrate", "create missing tables, columns and indexes"),
                            ("check", "list missing tables, columns and indexes; exit 1 if any")):
        action = actions.add_parser(name, help=help_text)
        action.add_argument("--url", action="append",
                            help="state store URL (repeatable); default: STATE_URL and IDEMPOTENCY_URL")
        action.add_argument("--lang", choices=("zh", "en"), help="output language (default: by locale)")
        action.set_defaults(run=run)


def _urls(args: argparse.Namespace) -> list[str]:
    if args.url:
        return list(args.url)
    from scf_worker.runtime.config import load_settings

    settings = load_settings()
    urls = [settings.state_url]
    if settings.idempotency_url and settings.idempotency_url != settings.state_url:
        urls.append(settings.idempotency_url)
    return urls


def _describe(url: str) -> str:
    """Name a store without its password."""
    from urllib.parse import urlparse

    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        return url
    return f"{parsed.scheme}://{parsed.hostname}:{parsed.port or ''}{parsed.path}"


def run(args: argparse.Namespace) -> int:
    from scf_worker.state.errors import StateError
    from scf_worker.state.redis import is_redis_url, open_redis, redis_errors
    from scf_worker.state.sql import open_database

    lang = detect_lang(args.lang)
    failures: tuple[type[BaseException], ...] = (StateError,)
    failed = False
    for url in _urls(args):
        target = _describe(url)
        try:
            if is_redis_url(url):
                open_redis(url).client.ping()
                print(text("db.redis", lang, target=target))
                continue
            database = open_database(url, migrate=False)
            try:
                changes = database.migrate() if args.db_action == "migrate" else database.check_schema()
            finally:
                database.close()
        except failures + redis_errors() as exc:
            print(text("db.failed", lang, target=target, error=exc), file=sys.stderr)
            failed = True
            continue
        if not changes:
            print(text("db.current", lang, target=target))
            continue
        key = "db.created" if args.db_action == "migrate" else "db.missing"
        for change in changes:
            print(text(key, lang, target=target, what=change))
        if args.db_action == "check":
            print(text("db.run_migrate", lang), file=sys.stderr)
            failed = True
    return 1 if failed else 0
