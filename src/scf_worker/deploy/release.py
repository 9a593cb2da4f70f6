"""Deploy, gradual release and rollback of one function on one alias.

``deploy`` creates or updates the code and configuration, waits until the
function is Active, publishes a version and points the alias at it: all of
the traffic, or ``weight`` percent with the rest left on the alias's current
version. ``promote`` moves an alias's traffic without new code; ``rollback``
re-points the alias at the version it served before.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from scf_worker.deploy.api import ApiCallError, ApiClient, DryRunClient
from scf_worker.deploy.errors import DeployError
from scf_worker.deploy.manifest import FunctionManifest

ACTIVE = "Active"
FAILED_STATES = ("CreateFailed", "UpdateFailed", "PublishFailed", "DeleteFailed")
WAIT_POLLS = 60
WAIT_SECONDS = 2.0
NO_ROUTING: dict[str, Any] = {"AdditionalVersionWeights": []}


@dataclass
class Release:
    """What a deploy, promote or rollback did (or, in a dry run, would do)."""

    function: str
    alias: str
    version: str | None = None
    previous_version: str | None = None
    weight: int = 100
    calls: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"function": self.function, "alias": self.alias, "version": self.version,
                "previousVersion": self.previous_version, "weight": self.weight, "calls": self.calls}


@dataclass
class Deployer:
    client: ApiClient
    namespace: str = "default"
    sleep: Callable[[float], None] = time.sleep
    poll_seconds: float = WAIT_SECONDS

    @property
    def dry_run(self) -> bool:
        return isinstance(self.client, DryRunClient)

    def _call(self, release: Release, action: str, params: dict[str, Any]) -> dict[str, Any]:
        release.calls.append(action)
        return self.client.call(action, {**params, "Namespace": self.namespace})

    def _get(self, release: Release, action: str, params: dict[str, Any]) -> dict[str, Any] | None:
        try:
            return self._call(release, action, params)
        except ApiCallError as exc:
            if exc.code and exc.code.startswith("ResourceNotFound"):
                return None
            raise

    def deploy(self, manifest: FunctionManifest, zip_bytes: bytes, variables: dict[str, str],
               alias: str, weight: int = 100) -> Release:
        if not 1 <= weight <= 100:
            raise DeployError(f"--weight {weight}: allowed 1-100 (percent of the alias's traffic)")
        release = Release(manifest.name, alias, weight=weight)
        name = manifest.name
        code = base64.b64encode(zip_bytes).decode()
        config = function_config(manifest, variables)

        if self._get(release, "GetFunction", {"FunctionName": name}) is None:
            self._call(release, "CreateFunction", {"FunctionName": name, "Code": {"ZipFile": code},
                                                   "Handler": manifest.handler, "Runtime": manifest.runtime,
                                                   **config, **_create_only(manifest)})
            self._wait_active(release, name)
        else:
            self._call(release, "UpdateFunctionCode", {"FunctionName": name, "Handler": manifest.handler,
                                                       "ZipFile": code})
            self._wait_active(release, name)
            self._call(release, "UpdateFunctionConfiguration", {"FunctionName": name, **config})
            self._wait_active(release, name)
        self._async_and_concurrency(release, manifest)

        published = self._call(release, "PublishVersion", {"FunctionName": name,
                                                           "Description": f"scf-worker deploy to {alias}"})
        release.version = str(published.get("FunctionVersion"))
        self._wait_active(release, name)
        self._point_alias(release, name, alias, release.version, weight)
        self._ensure_triggers(release, manifest, alias)
        return release

    def promote(self, function: str, alias: str, weight: int = 100) -> Release:
        """Give the alias's additional version ``weight`` percent; 100 makes it the main version."""
        release = Release(function, alias, weight=weight)
        current = self._get(release, "GetAlias", {"FunctionName": function, "Name": alias})
        if current is None:
            raise DeployError(f"alias {alias} of {function} does not exist; deploy first")
        extra = _additional(current)
        if extra is None:
            raise DeployError(f"alias {alias} has no version in gradual release to promote")
        release.previous_version = str(current.get("FunctionVersion"))
        release.version = extra
        self._update_alias(release, function, alias, release.previous_version, extra, weight)
        return release

    def rollback(self, function: str, alias: str, to_version: str | None = None) -> Release:
        """Re-point the alias: drop a gradual release, or go back to ``to_version`` / the one before."""
        release = Release(function, alias)
        current = self._get(release, "GetAlias", {"FunctionName": function, "Name": alias})
        if current is None:
            raise DeployError(f"alias {alias} of {function} does not exist")
        main = str(current.get("FunctionVersion"))
        release.previous_version = main
        if to_version is None and _additional(current) is not None:
            target = main
        else:
            target = to_version or self._version_before(release, function, main)
        release.version = target
        self._call(release, "UpdateAlias", {"FunctionName": function, "Name": alias,
                                            "FunctionVersion": target, "RoutingConfig": NO_ROUTING})
        return release

    def _version_before(self, release: Release, function: str, version: str) -> str:
        listing = self._call(release, "ListVersionByFunction", {"FunctionName": function})
        numbers = sorted(int(v["Version"]) for v in listing.get("Versions") or []
                         if str(v.get("Version", "")).isdigit())
        older = [n for n in numbers if version.isdigit() and n < int(version)]
        if not older:
            raise DeployError(f"{function} has no version before {version} to roll back to; pass --to")
        return str(older[-1])

    def _wait_active(self, release: Release, name: str) -> None:
        if self.dry_run:
            return
        for _ in range(WAIT_POLLS):
            info = self._call(release, "GetFunction", {"FunctionName": name})
            status = info.get("Status")
            if status == ACTIVE:
                return
            if status in FAILED_STATES:
                raise DeployError(f"{name} is {status}: {info.get('StatusDesc') or 'see the SCF console'}")
            self.sleep(self.poll_seconds)
        raise DeployError(f"{name} did not become Active after {WAIT_POLLS} checks")

    def _async_and_concurrency(self, release: Release, manifest: FunctionManifest) -> None:
        retry = manifest.raw.get("asyncRetry")
        if isinstance(retry, dict):
            self._call(release, "UpdateFunctionEventInvokeConfig", {
                "FunctionName": manifest.name,
                "AsyncTriggerConfig": {"RetryConfig": [{"RetryNum": retry["retryNum"]}],
                                       "MsgTTL": retry["msgTTL"]}})
        reserved = manifest.raw.get("reservedConcurrencyMem")
        if reserved:
            self._call(release, "PutReservedConcurrencyConfig", {"FunctionName": manifest.name,
                                                                 "ReservedConcurrencyMem": reserved})

    def _point_alias(self, release: Release, name: str, alias: str, version: str, weight: int) -> None:
        current = self._get(release, "GetAlias", {"FunctionName": name, "Name": alias})
        if current is None:
            # A new alias has no earlier version to share traffic with.
            release.weight = 100
            self._call(release, "CreateAlias", {"FunctionName": name, "Name": alias,
                                                "FunctionVersion": version})
            return
        release.previous_version = str(current.get("FunctionVersion"))
        self._update_alias(release, name, alias, release.previous_version, version, weight)

    def _update_alias(self, release: Release, name: str, alias: str, main: str, new: str,
                      weight: int) -> None:
        if weight >= 100 or main == new:
            params: dict[str, Any] = {"FunctionVersion": new, "RoutingConfig": NO_ROUTING}
        else:
            params = {"FunctionVersion": main, "RoutingConfig": {
                "AdditionalVersionWeights": [{"Version": new, "Weight": round(weight / 100, 2)}]}}
        self._call(release, "UpdateAlias", {"FunctionName": name, "Name": alias, **params})

    def _ensure_triggers(self, release: Release, manifest: FunctionManifest, alias: str) -> None:
        wanted = [t for t in manifest.triggers if t.type in ("timer", "cos")]
        if not wanted:
            return
        listing = self._get(release, "ListTriggers", {"FunctionName": manifest.name}) or {}
        existing = {(t.get("Type"), t.get("TriggerName")) for t in listing.get("Triggers") or []}
        for trigger in wanted:
            params = trigger_params(manifest, trigger.raw, alias)
            if (params["Type"], params["TriggerName"]) not in existing:
                self._call(release, "CreateTrigger", params)


def _additional(alias_info: dict[str, Any]) -> str | None:
    weights = (alias_info.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or []
    return str(weights[0]["Version"]) if weights else None


def function_config(manifest: FunctionManifest, variables: dict[str, str]) -> dict[str, Any]:
    """The configuration fields CreateFunction and UpdateFunctionConfiguration share."""
    config: dict[str, Any] = {
        "Description": manifest.raw.get("description", ""),
        "MemorySize": manifest.memory_mb,
        "Timeout": manifest.timeout_seconds,
        "Environment": {"Variables": [{"Key": k, "Value": v} for k, v in variables.items()]},
    }
    if manifest.layers:
        config["Layers"] = [{"LayerName": layer["name"], "LayerVersion": layer["version"]}
                            for layer in manifest.layers]
    if manifest.raw.get("role"):
        config["Role"] = manifest.raw["role"]
    return config


def _create_only(manifest: FunctionManifest) -> dict[str, Any]:
    # AsyncRunEnable can be set only when the function is created.
    return {"AsyncRunEnable": "TRUE"} if manifest.raw.get("asyncRunEnable") else {}


def trigger_params(manifest: FunctionManifest, trigger: dict[str, Any], alias: str) -> dict[str, Any]:
    """CreateTrigger parameters for a timer or COS trigger bound to ``alias``."""
    import json

    if trigger["type"] == "timer":
        params: dict[str, Any] = {"TriggerName": trigger["name"], "Type": "timer",
                                  "TriggerDesc": trigger["cronExpression"]}
        if trigger.get("message"):
            params["CustomArgument"] = trigger["message"]
    else:
        region = manifest.variables.get("COS_REGION", "ap-guangzhou")
        filters = trigger.get("filter") or {}
        params = {"TriggerName": f"{trigger['bucket']}.cos.{region}.myqcloud.com", "Type": "cos",
                  "TriggerDesc": json.dumps({"event": trigger["event"], "filter": {
                      "Prefix": filters.get("prefix", ""), "Suffix": filters.get("suffix", "")}})}
    return {"FunctionName": manifest.name, "Qualifier": alias, "Enable": "OPEN", **params}
