"""The names each capability package re-exports exist and are the module-level objects."""

from __future__ import annotations

import importlib

import pytest


@pytest.mark.parametrize("package", ["scf_worker.callbacks", "scf_worker.idempotency"])
def test_all_names_resolve(package: str) -> None:
    module = importlib.import_module(package)

    missing = [name for name in module.__all__ if not hasattr(module, name)]

    assert missing == []
    assert module.__all__ == sorted(module.__all__)


def test_import_loads_no_store_driver() -> None:
    import subprocess
    import sys

    probe = ("import sys, scf_worker.callbacks, scf_worker.idempotency, scf_worker.handlers.cos_callback;"
             "print(sorted(m for m in ('redis', 'pymysql', 'qcloud_cos') if m in sys.modules))")

    output = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)

    assert output.stdout.strip() == "[]"
