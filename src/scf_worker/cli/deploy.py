"""``scf-worker deploy FUNCTION --alias test``: release one function through the SCF API."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from scf_worker.cli.i18n import detect_lang, text


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("deploy", help="create or update a function and point an alias at it")
    parser.add_argument("function", help="folder name under scf/")
    parser.add_argument("--alias", required=True, help="alias to point, e.g. test")
    parser.add_argument("--weight", type=int, default=100,
                        help="percent of the alias's traffic for the new version (gradual release)")
    parser.add_argument("--promote", action="store_true",
                        help="no new code: give the version in gradual release --weight percent")
    parser.add_argument("--rollback", action="store_true", help="no new code: re-point the alias back")
    parser.add_argument("--to", dest="to_version", help="with --rollback: the version to point at")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the API calls instead of sending writes")
    parser.add_argument("--zip", type=Path, help="deploy this zip instead of packaging now")
    parser.add_argument("--python-version", help="target Python X.Y when packaging")
    parser.add_argument("--wheelhouse", type=Path, help="package from these wheels only")
    parser.add_argument("--secrets-file", type=Path, help="JSON object NAME: value for ${secret:NAME}")
    parser.add_argument("--kms-key-id", default=os.environ.get("SCF_WORKER_KMS_KEY_ID"),
                        help="KMS key that encrypts plaintext secrets (env SCF_WORKER_KMS_KEY_ID)")
    parser.add_argument("--region", help="region (default: the function's COS_REGION or ap-guangzhou)")
    parser.add_argument("--namespace", default="default")
    parser.add_argument("--endpoint", default=os.environ.get("SCF_WORKER_API_ENDPOINT"),
                        help="API host[:port] for the SDK, e.g. a loopback stand-in")
    parser.add_argument("--poll-seconds", type=float, default=2.0,
                        help="pause between status checks while SCF applies a change")
    parser.add_argument("--root", type=Path, help="project folder holding scf/")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--lang", choices=("zh", "en"))
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from scf_worker.deploy.errors import DeployToolError

    lang = detect_lang(args.lang)
    try:
        release, calls = _release(args)
    except DeployToolError as exc:
        print(f"{text('deploy.failed', lang)}: {exc}", file=sys.stderr)
        return 1
    if args.dry_run:
        for action, params in calls:
            print(json.dumps({"action": action, "params": redact_params(params)}, ensure_ascii=False))
        return 0
    if args.json:
        print(json.dumps(release.as_json(), ensure_ascii=False, indent=2))
    else:
        print(text("deploy.done", lang, function=release.function, alias=release.alias,
                   version=release.version, weight=release.weight, previous=release.previous_version))
    return 0


def _release(args: argparse.Namespace) -> tuple[Any, list[tuple[str, dict[str, Any]]]]:
    from scf_worker.deploy.api import Credentials, DryRunClient, RecordingClient, SdkClient
    from scf_worker.deploy.check import check_function
    from scf_worker.deploy.errors import DeployError, ManifestError
    from scf_worker.deploy.manifest import find_project_root, get_manifest
    from scf_worker.deploy.release import Deployer
    from scf_worker.deploy.secrets import load_secret_source, resolve_variables

    root = args.root or find_project_root()
    manifest = get_manifest(root, args.function)
    problems = check_function(manifest)
    if problems:
        raise ManifestError(problems)
    region = args.region or manifest.variables.get("COS_REGION", "ap-guangzhou")
    credentials = None if args.dry_run else Credentials.from_env()
    scf = DryRunClient() if credentials is None else RecordingClient(
        SdkClient("scf", region, credentials, args.endpoint))
    deployer = Deployer(scf, namespace=args.namespace, poll_seconds=args.poll_seconds)

    if args.rollback:
        release = deployer.rollback(manifest.name, args.alias, args.to_version)
    elif args.promote:
        release = deployer.promote(manifest.name, args.alias, args.weight)
    else:
        kms = None if credentials is None else SdkClient("kms", region, credentials, args.endpoint)
        variables = resolve_variables(manifest.variables, _secret_source(args, load_secret_source),
                                      kms, args.kms_key_id)
        zip_bytes = _zip_bytes(args, manifest, root)
        if args.weight != 100 and not 1 <= args.weight <= 99:
            raise DeployError(f"--weight {args.weight}: allowed 1-100")
        release = deployer.deploy(manifest, zip_bytes, variables, args.alias, args.weight)
    return release, scf.calls


def _secret_source(args: argparse.Namespace, load: Any) -> Any:
    if args.dry_run and args.secrets_file is None:
        # A dry run shows where each secret would go without needing its value.
        class Placeholder(dict):  # type: ignore[type-arg]
            def get(self, key: str, default: Any = None) -> str:
                return f"kms:v1:<{key}>"

        return Placeholder()
    return load(args.secrets_file)


def _zip_bytes(args: argparse.Namespace, manifest: Any, root: Path) -> bytes:
    from scf_worker.deploy.package import build_package

    path = args.zip
    if path is None:
        path = build_package(manifest, root / "dist" / f"{manifest.name}.zip", args.python_version,
                             args.wheelhouse).path
    return bytes(Path(path).read_bytes())


def redact_params(params: dict[str, Any]) -> dict[str, Any]:
    """Show a call without the zip bytes or any secret-looking variable value."""
    from scf_worker.deploy.check import looks_secret

    shown = json.loads(json.dumps(params))
    code = shown.get("Code") or {}
    for holder in (shown, code):
        if isinstance(holder.get("ZipFile"), str):
            holder["ZipFile"] = f"<base64 zip, {len(holder['ZipFile'])} characters>"
    for variable in (shown.get("Environment") or {}).get("Variables") or []:
        value = str(variable.get("Value", ""))
        if value.startswith("kms:v1:") and not value.startswith("kms:v1:<"):
            variable["Value"] = "kms:v1:<ciphertext>"
        elif looks_secret(str(variable.get("Key", ""))) and not value.startswith("kms:v1:"):
            variable["Value"] = "<redacted>"
    return dict(shown)
