"""``scf-worker package``: the deployable zip of one function.

Layout of the zip, as SCF unpacks it to ``/var/user``:

* the files of ``scf/<name>/`` except ``config.json``, so ``index.py`` is at the root;
* the ``scf_worker`` package without its tooling (cli, deploy, devstack, demo);
* the dependencies of scf-worker and of the extras named in ``package.extras``,
  installed by pip for manylinux x86_64 and the target Python, wheels only;
* for a function that runs ffmpeg, either ``bin/ffmpeg`` (``"ffmpeg": "bundle"``)
  or nothing, the binary coming from the layers in config.json (``"layer"``).
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import scf_worker
from scf_worker.deploy import limits
from scf_worker.deploy.errors import PackageError
from scf_worker.deploy.manifest import CONFIG_FILE, FunctionManifest

# Tooling that never runs inside a function.
EXCLUDED_SUBPACKAGES = ("cli", "deploy", "devstack", "demo")
SKIPPED_NAMES = ("__pycache__", ".DS_Store")
# SCF's Python images are glibc 2.17 based; pip widens this tag to the older manylinux ones.
PLATFORM = "manylinux2014_x86_64"
# UpdateFunctionCodeRequest's docstring says 20 MB for ZipFile while Code.ZipFile says 50 MB.
ZIP_WARN_BYTES = 20 * 1024 * 1024
_EXTRA_MARKER = re.compile(r"""extra\s*==\s*["']([A-Za-z0-9_.-]+)["']""")

PipRunner = Callable[[Sequence[str]], "subprocess.CompletedProcess[str]"]


@dataclass
class PackageResult:
    function: str
    path: Path
    python_version: str
    zip_bytes: int
    unzipped_bytes: int
    files: int
    requirements: list[str]
    ffmpeg: str | None = None
    warnings: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, object]:
        return {"function": self.function, "path": str(self.path), "pythonVersion": self.python_version,
                "zipBytes": self.zip_bytes, "unzippedBytes": self.unzipped_bytes, "files": self.files,
                "zipLimitBytes": limits.ZIP_UPLOAD_MAX_BYTES,
                "unzippedLimitBytes": limits.UNZIPPED_MAX_BYTES,
                "requirements": self.requirements, "ffmpeg": self.ffmpeg, "warnings": self.warnings}


def requirements_for(extras: Sequence[str]) -> list[str]:
    """Return scf-worker's base requirements plus those of ``extras``, without markers."""
    from importlib import metadata

    try:
        declared = metadata.requires("scf-worker") or []
    except metadata.PackageNotFoundError:
        raise PackageError("scf-worker is not installed; run pip install -e . first") from None
    wanted = []
    for line in declared:
        spec, _, marker = line.partition(";")
        spec = spec.strip()
        if spec.lower().startswith("scf-worker"):
            continue
        match = _EXTRA_MARKER.search(marker)
        if (match is None and not marker.strip()) or (match is not None and match.group(1) in extras):
            if spec not in wanted:
                wanted.append(spec)
    return wanted


def _run_pip(args: Sequence[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, check=False)


def install_dependencies(requirements: Sequence[str], target: Path, python_version: str,
                         wheelhouse: Path | None = None, run: PipRunner = _run_pip) -> None:
    """pip-install wheels for manylinux x86_64 and ``python_version`` into ``target``."""
    if not requirements:
        return
    args = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
            "--no-compile", "--target", str(target), "--only-binary=:all:",
            "--implementation", "cp", "--python-version", python_version, "--platform", PLATFORM]
    if wheelhouse is not None:
        # Locally built wheels (say, for an sdist-only package) carry the plain linux tag.
        args += ["--platform", "linux_x86_64", "--no-index", "--find-links", str(wheelhouse)]
    completed = run([*args, *requirements])
    if completed.returncode != 0:
        tail = "\n".join((completed.stderr or completed.stdout or "").strip().splitlines()[-6:])
        raise PackageError(
            f"pip could not install {', '.join(requirements)} for Python {python_version} on"
            f" {PLATFORM}:\n{tail}\nA package that publishes no wheel needs one built for SCF in"
            " --wheelhouse (see docs/deploy.md).")
    for leftover in ("bin", "__pycache__"):
        shutil.rmtree(target / leftover, ignore_errors=True)


def _copy_tree(src: Path, dest: Path, skip_top: Sequence[str] = ()) -> None:
    for path in sorted(src.rglob("*")):
        relative = path.relative_to(src)
        if any(part in SKIPPED_NAMES for part in relative.parts) or path.suffix == ".pyc":
            continue
        if relative.parts[0] in skip_top:
            continue
        target = dest / relative
        if path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)


def stage_function(manifest: FunctionManifest, staging: Path) -> None:
    """Copy the function folder (index.py at the root) and the scf_worker package."""
    for path in sorted(manifest.folder.iterdir()):
        if path.name == CONFIG_FILE or path.name in SKIPPED_NAMES:
            continue
        if path.is_dir():
            _copy_tree(path, staging / path.name)
        else:
            shutil.copy2(path, staging / path.name)
    if not (staging / manifest.handler_file.name).is_file():
        raise PackageError(f"{manifest.handler_file} is missing; the handler is {manifest.handler}")
    package_dir = Path(scf_worker.__file__).parent
    _copy_tree(package_dir, staging / "scf_worker", skip_top=EXCLUDED_SUBPACKAGES)


def _stage_ffmpeg(manifest: FunctionManifest, staging: Path) -> str | None:
    mode = (manifest.raw.get("package") or {}).get("ffmpeg")
    if mode == "layer":
        names = ", ".join(f"{layer.get('name')}:{layer.get('version')}" for layer in manifest.layers)
        return f"layer {names} -> {manifest.variables.get('FFMPEG_BINARY', '/opt/ffmpeg')}"
    if mode != "bundle":
        return None
    from scf_worker.transcode.binaries import find_ffmpeg, find_ffprobe

    ffmpeg = find_ffmpeg(os.environ.get("FFMPEG_BINARY"))
    (staging / "bin").mkdir(exist_ok=True)
    shutil.copyfile(ffmpeg, staging / "bin" / "ffmpeg")
    ffprobe = find_ffprobe(os.environ.get("FFPROBE_BINARY"), ffmpeg)
    if ffprobe:
        shutil.copyfile(ffprobe, staging / "bin" / "ffprobe")
    return "bundled bin/ffmpeg" + (" and bin/ffprobe" if ffprobe else "")


def _walk(staging: Path) -> Iterator[Path]:
    for path in sorted(staging.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            yield path


def write_zip(staging: Path, output: Path) -> tuple[int, int]:
    """Zip ``staging`` with stable order and file modes; return (files, unzipped bytes)."""
    output.parent.mkdir(parents=True, exist_ok=True)
    files = unzipped = 0
    with zipfile.ZipFile(output, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        for path in _walk(staging):
            name = path.relative_to(staging).as_posix()
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            executable = name.startswith("bin/") or os.access(path, os.X_OK)
            mode = 0o755 if executable else 0o644
            info.external_attr = (stat.S_IFREG | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            with path.open("rb") as src, archive.open(info, "w") as dest:
                shutil.copyfileobj(src, dest, 1 << 20)
            files += 1
            unzipped += path.stat().st_size
    return files, unzipped


def build_package(manifest: FunctionManifest, output: Path, python_version: str | None = None,
                  wheelhouse: Path | None = None, run: PipRunner = _run_pip) -> PackageResult:
    """Build the zip; raise PackageError when it cannot be built or exceeds SCF's limits."""
    version = python_version or manifest.python_version
    if not version or not re.fullmatch(r"3\.\d+", version):
        raise PackageError(f"{manifest.config_path}: runtime {manifest.runtime!r} is not a Python 3 runtime;"
                           " pass --python-version X.Y")
    requirements = requirements_for(manifest.extras)
    with tempfile.TemporaryDirectory(prefix=f"scf-package-{manifest.name}-") as tmp:
        staging = Path(tmp) / "root"
        staging.mkdir()
        stage_function(manifest, staging)
        install_dependencies(requirements, staging, version, wheelhouse, run)
        ffmpeg = _stage_ffmpeg(manifest, staging)
        files, unzipped = write_zip(staging, output)
    result = PackageResult(manifest.name, output, version, output.stat().st_size, unzipped, files,
                           requirements, ffmpeg)
    _check_size(result)
    return result


def _check_size(result: PackageResult) -> None:
    if result.zip_bytes > limits.ZIP_UPLOAD_MAX_BYTES:
        raise PackageError(f"{result.path} is {_mb(result.zip_bytes)} zipped; SCF takes at most"
                           f" {_mb(limits.ZIP_UPLOAD_MAX_BYTES)} through the API. Move ffmpeg or large"
                           " dependencies into a layer.")
    if result.unzipped_bytes > limits.UNZIPPED_MAX_BYTES:
        raise PackageError(f"{result.path} unpacks to {_mb(result.unzipped_bytes)}; SCF allows"
                           f" {_mb(limits.UNZIPPED_MAX_BYTES)} for code and layers together.")
    if result.zip_bytes > ZIP_WARN_BYTES:
        result.warnings.append(f"zip is over {_mb(ZIP_WARN_BYTES)}: UpdateFunctionCode's documentation"
                               " gives 20 MB for ZipFile, CreateFunction 50 MB")


def _mb(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MB"
