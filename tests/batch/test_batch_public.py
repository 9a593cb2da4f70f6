"""The batch package exports exactly the names in ``__all__``."""

from __future__ import annotations

import types

import scf_worker.batch as batch


def test_all_matches_public_names() -> None:
    public = {name for name, value in vars(batch).items()
              if not name.startswith("_") and not isinstance(value, types.ModuleType)}
    assert public == set(batch.__all__)


def test_every_exported_name_resolves() -> None:
    for name in batch.__all__:
        assert getattr(batch, name) is not None, name
