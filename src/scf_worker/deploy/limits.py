"""SCF limits as small pure checks; each returns None or the text of what is allowed.

Sources: the SCF quota page (583/11637), ``CreateFunctionRequest`` in the
official SDK, the environment-variable page (583/32748) and the timer trigger
page (583/9708). See docs/deploy.md for the table.
"""

from __future__ import annotations

import re

MEMORY_ALLOWED = "64, or 128-3072 in steps of 128 (MB)"
TIMEOUT_MAX_SECONDS = 900
ASYNC_RUN_TIMEOUT_MAX_SECONDS = 86_400
# Runtimes CreateFunctionRequest accepts; scf-worker itself needs 3.10+.
SCF_PYTHON_RUNTIMES = ("Python2.7", "Python3.6", "Python3.7", "Python3.9", "Python3.10")
SUPPORTED_RUNTIMES = ("Python3.10",)
RESERVED_ENV_PREFIXES = ("SCF_", "QCLOUD_", "TENCENTCLOUD_")
ENV_TOTAL_MAX_BYTES = 4096
ZIP_UPLOAD_MAX_BYTES = 50 * 1024 * 1024  # Code.ZipFile through the API
UNZIPPED_MAX_BYTES = 500 * 1024 * 1024  # code and layers of one version
MAX_LAYERS = 5
# NOTE: the bounds below are per-namespace values from GetAccount (RetryNumLimit,
# MinMsgTTL, MaxMsgTTL) that no public page states; these are the defaults we
# saw (two retries, six hours), so a namespace raised by ticket may allow more.
ASYNC_RETRY_MAX = 2
MSG_TTL_RANGE = (60, 21_600)
# The sum of reserved concurrency may be at most the account quota minus 12,800 MB;
# 128,000 MB is the largest default quota (Guangzhou, Shanghai, Beijing, Chengdu, Hong Kong).
RESERVED_CONCURRENCY_TOTAL_MAX_MB = 128_000 - 12_800

_FUNCTION_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,58}[A-Za-z0-9]$")
_ENV_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{1,63}$")
_TRIGGER_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,59}$")
_HANDLER = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*[A-Za-z0-9]\.[A-Za-z][A-Za-z0-9_]*$")


def memory(value: object) -> str | None:
    ok = isinstance(value, int) and not isinstance(value, bool) and (
        value == 64 or (128 <= value <= 3072 and value % 128 == 0))
    return None if ok else MEMORY_ALLOWED


def timeout(value: object, async_run: bool) -> str | None:
    high = ASYNC_RUN_TIMEOUT_MAX_SECONDS if async_run else TIMEOUT_MAX_SECONDS
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= high:
        return None
    if async_run:
        return f"1-{high} seconds with asyncRunEnable"
    return f"1-{high} seconds (up to {ASYNC_RUN_TIMEOUT_MAX_SECONDS} with asyncRunEnable: true)"


def runtime(value: object) -> str | None:
    if value in SUPPORTED_RUNTIMES:
        return None
    return (f"{' or '.join(SUPPORTED_RUNTIMES)} (SCF offers {', '.join(SCF_PYTHON_RUNTIMES)};"
            " scf-worker needs Python 3.10, the newest SCF runs)")


def function_name(value: object) -> str | None:
    if isinstance(value, str) and _FUNCTION_NAME.match(value):
        return None
    return "2-60 letters, digits, - and _, starting with a letter and ending with a letter or digit"


def handler(value: object) -> str | None:
    if isinstance(value, str) and _HANDLER.match(value):
        return None
    return "file.function, e.g. index.main_handler"


def env_name(name: str) -> str | None:
    if name.upper().startswith(RESERVED_ENV_PREFIXES):
        return f"a name outside the reserved prefixes {', '.join(RESERVED_ENV_PREFIXES)}"
    if not _ENV_NAME.match(name):
        return "2-64 letters, digits and _, starting with a letter"
    return None


def trigger_name(value: object) -> str | None:
    if isinstance(value, str) and _TRIGGER_NAME.match(value):
        return None
    return "1-60 letters, digits, - and _, starting with a letter"
