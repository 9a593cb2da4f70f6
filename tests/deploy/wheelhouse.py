"""An offline wheelhouse rebuilt from the distributions installed in this environment.

Packaging tests must not reach a package index, so they point ``--wheelhouse``
at wheels re-zipped from what pip already installed here, with the tags their
``WHEEL`` files recorded. Only the interpreter at hand is covered.
"""

from __future__ import annotations

import base64
import hashlib
import zipfile
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name


def closure(requirements: list[str]) -> list[metadata.Distribution]:
    """Installed distributions that ``requirements`` need, dependencies included."""
    seen: dict[str, metadata.Distribution] = {}
    pending = [Requirement(r) for r in requirements]
    while pending:
        requirement = pending.pop()
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        key = canonicalize_name(requirement.name)
        if key in seen:
            continue
        dist = metadata.distribution(requirement.name)
        seen[key] = dist
        pending.extend(Requirement(r) for r in dist.requires or [])
    return list(seen.values())


def _tag(dist: metadata.Distribution) -> str:
    wheel = dist.read_text("WHEEL") or ""
    tags = [line.split(":", 1)[1].strip() for line in wheel.splitlines() if line.startswith("Tag:")]
    parts = [sorted({t.split("-")[i] for t in tags}) for i in range(3)]
    return "-".join(".".join(p) for p in parts)


def _digest(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def rewheel(dist: metadata.Distribution, dest: Path) -> Path:
    name = canonicalize_name(dist.metadata["Name"]).replace("-", "_")
    path = dest / f"{name}-{dist.version}-{_tag(dist)}.whl"
    records = []
    record_name = None
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in dist.files or []:
            relative = str(file)
            if relative.startswith("..") or "__pycache__" in relative:
                continue
            if relative.endswith(".dist-info/RECORD"):
                record_name = relative
                continue
            if relative.split("/")[-1] in ("INSTALLER", "REQUESTED", "direct_url.json"):
                continue
            data = Path(str(file.locate())).read_bytes()
            archive.writestr(relative, data)
            records.append(f"{relative},{_digest(data)},{len(data)}")
        assert record_name is not None, f"{dist.metadata['Name']} has no RECORD"
        records.append(f"{record_name},,")
        archive.writestr(record_name, "\n".join(records) + "\n")
    return path


def build_wheelhouse(requirements: list[str], dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for dist in closure(requirements):
        rewheel(dist, dest)
    return dest
