"""``scf-worker check``: every function's config.json against SCF's limits.

Each rule yields Problems naming the file, the field, the value and what is
allowed, so one run lists everything to fix.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from scf_worker.deploy import limits
from scf_worker.deploy.errors import ManifestError, Problem
from scf_worker.deploy.manifest import FunctionManifest, discover, function_folders, load_manifest
from scf_worker.functions import FUNCTIONS
from scf_worker.kms.refs import parse_ref
from scf_worker.runtime import cron
from scf_worker.runtime.config import load_settings
from scf_worker.runtime.errors import ConfigError

TRIGGER_TYPES = ("apigw", "cos", "timer", "cmq", "ckafka")
HTTP_METHODS = ("GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "ANY")
COS_EVENTS = ("cos:ObjectCreated:*", "cos:ObjectCreated:Put", "cos:ObjectCreated:Post",
              "cos:ObjectCreated:Copy", "cos:ObjectCreated:CompleteMultipartUpload",
              "cos:ObjectCreated:Append", "cos:ObjectRemove:*", "cos:ObjectRemove:Delete",
              "cos:ObjectRemove:DeleteMarkerCreated")
FFMPEG_MODES = ("layer", "bundle")
BUNDLED_FFMPEG = "/var/user/bin/ffmpeg"
# Variables whose value must come from a ${secret:...} reference, besides names that look secret.
SECRET_VARIABLES = ("WEBHOOK_ENDPOINTS",)
_SECRET_NAME_PARTS = ("SECRET", "TOKEN", "PASSWORD", "CREDENTIAL", "PRIVATE")
# A KMS ciphertext of a short secret; used to estimate the 4 KB budget before deploy.
SECRET_VALUE_ESTIMATE_BYTES = 256
_KEYS = ("name", "description", "handler", "runtime", "memorySize", "timeout", "asyncRunEnable",
         "reservedConcurrencyMem", "asyncRetry", "layers", "package", "environment", "triggers",
         # Documentation only (measured sizing per preset); deploy ignores it.
         "presetRecommendations")


def check_project(root: Path) -> list[Problem]:
    """Check every function under ``root/scf`` and the rules that span functions."""
    problems: list[Problem] = []
    manifests = []
    for folder in function_folders(root):
        try:
            manifests.append(load_manifest(folder))
        except ManifestError as exc:
            problems.extend(exc.problems)
    for manifest in manifests:
        problems.extend(check_function(manifest))
    problems.extend(_project_rules(manifests))
    return problems


def check_function(manifest: FunctionManifest) -> list[Problem]:
    return list(_function_rules(manifest))


def _problem(manifest: FunctionManifest, field: str, value: object, allowed: str) -> Problem:
    return Problem(str(manifest.config_path), field, value, allowed)


def _function_rules(m: FunctionManifest) -> Iterator[Problem]:
    raw = m.raw
    for key in raw:
        if key not in _KEYS:
            yield _problem(m, key, raw[key], f"only the keys {', '.join(_KEYS)}")
    if raw.get("name") != m.name:
        yield _problem(m, "name", raw.get("name"), f"the folder name {m.name!r}")
    if (allowed := limits.function_name(m.name)) is not None:
        yield _problem(m, "name", m.name, allowed)
    description = raw.get("description", "")
    if not isinstance(description, str) or len(description) > 1000:
        yield _problem(m, "description", description, "a string of at most 1000 characters")
    yield from _handler_rules(m)
    if (allowed := limits.runtime(raw.get("runtime"))) is not None:
        yield _problem(m, "runtime", raw.get("runtime"), allowed)
    if (allowed := limits.memory(raw.get("memorySize"))) is not None:
        yield _problem(m, "memorySize", raw.get("memorySize"), allowed)
    async_run = raw.get("asyncRunEnable", False)
    if not isinstance(async_run, bool):
        yield _problem(m, "asyncRunEnable", async_run, "true or false")
    if (allowed := limits.timeout(raw.get("timeout"), async_run is True)) is not None:
        yield _problem(m, "timeout", raw.get("timeout"), allowed)
    yield from _concurrency_rules(m)
    yield from _layer_rules(m)
    yield from _package_rules(m)
    yield from _environment_rules(m)
    yield from _trigger_rules(m)


def _handler_rules(m: FunctionManifest) -> Iterator[Problem]:
    handler = m.raw.get("handler")
    if (allowed := limits.handler(handler)) is not None:
        yield _problem(m, "handler", handler, allowed)
        return
    if not m.handler_file.is_file():
        yield _problem(m, "handler", handler,
                       f"a handler whose file {m.handler_file.name} exists in {m.folder}")
        return
    module = m.handler_module()
    if module is None:
        yield _problem(m, "handler", handler,
                       f"{m.handler_file.name} importing {m.handler.split('.', 1)[1]} from a module")
    elif importlib.util.find_spec(module) is None:
        yield _problem(m, "handler", module, "a module that exists in the scf_worker package")
    spec = FUNCTIONS.get(m.name)
    if spec is not None and module is not None and module != spec.module:
        yield _problem(m, "handler", module, f"{spec.module}, the module registered for {m.name}")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _concurrency_rules(m: FunctionManifest) -> Iterator[Problem]:
    raw = m.raw
    if "reservedConcurrencyMem" in raw:
        value = raw["reservedConcurrencyMem"]
        if not _is_int(value) or not 0 <= value <= limits.RESERVED_CONCURRENCY_TOTAL_MAX_MB:
            yield _problem(m, "reservedConcurrencyMem", value,
                           f"0-{limits.RESERVED_CONCURRENCY_TOTAL_MAX_MB} MB")
        elif value and _is_int(raw.get("memorySize")) and value < raw["memorySize"]:
            yield _problem(m, "reservedConcurrencyMem", value,
                           f"0, or at least memorySize ({raw['memorySize']} MB) for one instance")
    retry = raw.get("asyncRetry")
    if retry is None:
        return
    if not isinstance(retry, dict):
        yield _problem(m, "asyncRetry", retry, 'an object {"retryNum", "msgTTL"}')
        return
    if not _is_int(retry.get("retryNum")) or not 0 <= retry["retryNum"] <= limits.ASYNC_RETRY_MAX:
        yield _problem(m, "asyncRetry.retryNum", retry.get("retryNum"), f"0-{limits.ASYNC_RETRY_MAX}")
    low, high = limits.MSG_TTL_RANGE
    if not _is_int(retry.get("msgTTL")) or not low <= retry["msgTTL"] <= high:
        yield _problem(m, "asyncRetry.msgTTL", retry.get("msgTTL"), f"{low}-{high} seconds")


def _layer_rules(m: FunctionManifest) -> Iterator[Problem]:
    layers = m.raw.get("layers", [])
    if not isinstance(layers, list) or len(layers) > limits.MAX_LAYERS:
        yield _problem(m, "layers", layers, f"a list of at most {limits.MAX_LAYERS} layers")
        return
    for index, layer in enumerate(layers):
        if not isinstance(layer, dict) or not isinstance(layer.get("name"), str) or not layer["name"]:
            yield _problem(m, f"layers[{index}].name", layer, "a layer name")
        elif not _is_int(layer.get("version")) or layer["version"] < 1:
            yield _problem(m, f"layers[{index}].version", layer.get("version"), "a version number from 1")


def _known_extras() -> tuple[str, ...]:
    from importlib import metadata

    try:
        return tuple(metadata.metadata("scf-worker").get_all("Provides-Extra") or ())
    except metadata.PackageNotFoundError:
        return ()


def _package_rules(m: FunctionManifest) -> Iterator[Problem]:
    package = m.raw.get("package", {})
    if not isinstance(package, dict):
        yield _problem(m, "package", package, 'an object {"extras": [...], "ffmpeg": "layer"|"bundle"}')
        return
    known = _known_extras()
    extras = package.get("extras", [])
    if not isinstance(extras, list):
        yield _problem(m, "package.extras", extras, "a list of scf-worker extras")
        extras = []
    for index, extra in enumerate(extras):
        if known and extra not in known:
            yield _problem(m, f"package.extras[{index}]", extra, f"one of {', '.join(known)}")
    ffmpeg = package.get("ffmpeg")
    spec = FUNCTIONS.get(m.name)
    if ffmpeg is None and spec is not None and spec.needs_ffmpeg:
        yield _problem(m, "package.ffmpeg", None, f"{' or '.join(FFMPEG_MODES)}: {m.name} runs ffmpeg")
    elif ffmpeg is not None and ffmpeg not in FFMPEG_MODES:
        yield _problem(m, "package.ffmpeg", ffmpeg, " or ".join(FFMPEG_MODES))
    elif ffmpeg == "layer":
        binary = m.variables.get("FFMPEG_BINARY", "")
        if not m.layers:
            yield _problem(m, "layers", [],
                           "at least one layer that provides ffmpeg (package.ffmpeg is layer)")
        if not binary.startswith("/opt/"):
            yield _problem(m, "environment.variables.FFMPEG_BINARY", binary or None,
                           "a path under /opt/, where SCF unpacks layers")
    elif ffmpeg == "bundle" and m.variables.get("FFMPEG_BINARY") != BUNDLED_FFMPEG:
        yield _problem(m, "environment.variables.FFMPEG_BINARY", m.variables.get("FFMPEG_BINARY"),
                       f"{BUNDLED_FFMPEG}, where the bundled binary lands")


def looks_secret(name: str) -> bool:
    return name in SECRET_VARIABLES or any(part in name.upper() for part in _SECRET_NAME_PARTS)


def _url_has_password(value: str) -> bool:
    try:
        return "://" in value and urlsplit(value).password is not None
    except ValueError:
        return False


def _environment_rules(m: FunctionManifest) -> Iterator[Problem]:
    env = m.raw.get("environment", {})
    variables = env.get("variables", {}) if isinstance(env, dict) else None
    if not isinstance(variables, dict):
        yield _problem(m, "environment.variables", variables, "an object of NAME: string value")
        return
    total = 0
    plain: dict[str, str] = {}
    for name, value in variables.items():
        field = f"environment.variables.{name}"
        if (allowed := limits.env_name(name)) is not None:
            yield _problem(m, field, name, allowed)
        if not isinstance(value, str) or value == "":
            yield _problem(m, field, value, "a non-empty string (SCF rejects empty values)")
            continue
        try:
            ref = parse_ref(value)
        except ValueError as exc:
            yield _problem(m, field, value, str(exc))
            continue
        if ref is None and (looks_secret(name) or _url_has_password(value)):
            yield _problem(m, field, "(a literal value)", "a ${secret:NAME} reference: secrets are never"
                           " written in config.json")
        total += len(name.encode()) + (SECRET_VALUE_ESTIMATE_BYTES if ref else len(value.encode()))
        if ref is None:
            plain[name] = value
    if total > limits.ENV_TOTAL_MAX_BYTES:
        yield _problem(m, "environment.variables", f"about {total} bytes",
                       f"at most {limits.ENV_TOTAL_MAX_BYTES} bytes in all (each secret counted as"
                       f" {SECRET_VALUE_ESTIMATE_BYTES})")
    yield from _required_rules(m, variables)
    yield from _value_rules(m, plain)


def _required_rules(m: FunctionManifest, variables: dict[str, Any]) -> Iterator[Problem]:
    spec = FUNCTIONS.get(m.name)
    if spec is None:
        return
    for name in spec.required_env:
        if name == "AUTH_JWT_SECRET" and variables.get("AUTH_MODE") == "gateway":
            continue
        if name not in variables:
            yield _problem(m, f"environment.variables.{name}", None,
                           f"a value: {m.name} cannot run without it")


def _value_rules(m: FunctionManifest, plain: dict[str, str]) -> Iterator[Problem]:
    """Parse the literal values with the function's own settings parser."""
    try:
        load_settings({"WORKER_HOME": "/tmp/scf-worker-check", **plain})  # noqa: S108
    except ConfigError as exc:
        yield _problem(m, f"environment.variables.{exc.variable.split('[')[0]}",
                       plain.get(exc.variable.split("[")[0]), exc.expected)


def _trigger_rules(m: FunctionManifest) -> Iterator[Problem]:
    triggers = m.raw.get("triggers", [])
    if not isinstance(triggers, list):
        yield _problem(m, "triggers", triggers, "a list of trigger objects")
        return
    seen: set[tuple[str, str]] = set()
    for index, trigger in enumerate(triggers):
        where = f"triggers[{index}]"
        if not isinstance(trigger, dict):
            yield _problem(m, where, trigger, "an object with type and name")
            continue
        kind, name = trigger.get("type"), trigger.get("name")
        if kind not in TRIGGER_TYPES:
            yield _problem(m, f"{where}.type", kind, ", ".join(TRIGGER_TYPES))
            continue
        if (allowed := limits.trigger_name(name)) is not None:
            yield _problem(m, f"{where}.name", name, allowed)
        elif (kind, str(name)) in seen:
            yield _problem(m, f"{where}.name", name, f"a name no other {kind} trigger of {m.name} uses")
        seen.add((str(kind), str(name)))
        yield from _TRIGGER_RULES.get(str(kind), _no_rules)(m, where, trigger)


def _no_rules(m: FunctionManifest, where: str, trigger: dict[str, Any]) -> Iterator[Problem]:
    return iter(())


def _apigw_rules(m: FunctionManifest, where: str, trigger: dict[str, Any]) -> Iterator[Problem]:
    if trigger.get("method") not in HTTP_METHODS:
        yield _problem(m, f"{where}.method", trigger.get("method"), ", ".join(HTTP_METHODS))
    path = trigger.get("path")
    if not isinstance(path, str) or not path.startswith("/") or " " in path:
        yield _problem(m, f"{where}.path", path, "a path starting with /, without spaces")
    if trigger.get("integratedResponse", True) is not True:
        yield _problem(m, f"{where}.integratedResponse", trigger.get("integratedResponse"),
                       "true: the functions return integrated responses")


def _cos_rules(m: FunctionManifest, where: str, trigger: dict[str, Any]) -> Iterator[Problem]:
    bucket = trigger.get("bucket")
    if not isinstance(bucket, str) or "-" not in bucket or not bucket.rsplit("-", 1)[1].isdigit():
        yield _problem(m, f"{where}.bucket", bucket, "<name>-<APPID>, e.g. media-1250000000")
    elif m.variables.get("COS_BUCKET") not in (None, bucket):
        yield _problem(m, f"{where}.bucket", bucket, f"COS_BUCKET ({m.variables['COS_BUCKET']})")
    if trigger.get("event") not in COS_EVENTS:
        yield _problem(m, f"{where}.event", trigger.get("event"), ", ".join(COS_EVENTS))
    filters = trigger.get("filter", {})
    if not isinstance(filters, dict) or not all(
        isinstance(filters.get(k, ""), str) for k in ("prefix", "suffix")
    ):
        yield _problem(m, f"{where}.filter", filters, '{"prefix": string, "suffix": string}')


def _timer_rules(m: FunctionManifest, where: str, trigger: dict[str, Any]) -> Iterator[Problem]:
    expression = trigger.get("cronExpression")
    if not isinstance(expression, str):
        yield _problem(m, f"{where}.cronExpression", expression,
                       "seven fields: second minute hour day month week year")
    else:
        try:
            cron.parse(expression)
        except cron.CronError as exc:
            yield _problem(m, f"{where}.cronExpression", expression, f"{exc.field}: {exc.allowed}")
    message = trigger.get("message", "")
    if not isinstance(message, str) or len(message.encode()) > 4096:
        yield _problem(m, f"{where}.message", message, "a string of at most 4 KB")


def _queue_rules(m: FunctionManifest, where: str, trigger: dict[str, Any]) -> Iterator[Problem]:
    key = "queue" if trigger.get("type") == "cmq" else "topic"
    if not isinstance(trigger.get(key), str) or not trigger[key]:
        yield _problem(m, f"{where}.{key}", trigger.get(key), f"the {key} name")


_TRIGGER_RULES = {"apigw": _apigw_rules, "cos": _cos_rules, "timer": _timer_rules,
                  "cmq": _queue_rules, "ckafka": _queue_rules}


def _project_rules(manifests: list[FunctionManifest]) -> Iterator[Problem]:
    routes: dict[tuple[str, str], str] = {}
    for m in manifests:
        for index, trigger in enumerate(m.raw.get("triggers") or []):
            if not isinstance(trigger, dict) or trigger.get("type") != "apigw":
                continue
            route = (str(trigger.get("method")), str(trigger.get("path")))
            if route in routes and routes[route] != m.name:
                yield _problem(m, f"triggers[{index}].path", route[1],
                               f"a route not already served by {routes[route]}")
            routes.setdefault(route, m.name)
    total = sum(m.raw.get("reservedConcurrencyMem") or 0 for m in manifests
                if _is_int(m.raw.get("reservedConcurrencyMem")))
    if total > limits.RESERVED_CONCURRENCY_TOTAL_MAX_MB:
        yield Problem("scf/*/config.json", "reservedConcurrencyMem (sum)", total,
                      f"at most {limits.RESERVED_CONCURRENCY_TOTAL_MAX_MB} MB over all functions")


def discover_checked(root: Path) -> list[FunctionManifest]:
    """Load every function and raise ManifestError when any check fails."""
    problems = check_project(root)
    if problems:
        raise ManifestError(problems)
    return discover(root)
