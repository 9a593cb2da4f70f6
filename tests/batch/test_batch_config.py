"""IMPORT_* and RECONCILE_* settings: defaults, derived prefixes and errors naming the variable."""

from __future__ import annotations

import pytest

from scf_worker.batch import load_batch_settings
from scf_worker.runtime.config import load_settings
from scf_worker.runtime.errors import ConfigError

BASE = {"COS_BUCKET": "media-1250000000"}


def test_defaults() -> None:
    batch = load_batch_settings(load_settings(BASE), {})
    assert batch.manifest_prefix == "imports/manifests/"
    assert batch.target_prefix == "imports/"
    assert batch.max_source_bytes == 100 * 1024 * 1024
    assert batch.reconcile_prefix == "uploads/"
    assert batch.running_lease_seconds == 930
    assert batch.row_margin_ms == 150_000
    assert not batch.allow_loopback
    assert batch.admin_users == frozenset()


def test_reconcile_prefix_follows_upload_prefix() -> None:
    settings = load_settings({**BASE, "COS_ALLOWED_PREFIX": "media/in/${userId}/"})
    assert load_batch_settings(settings, {}).reconcile_prefix == "media/in/"
    assert load_batch_settings(settings, {"RECONCILE_PREFIX": "media"}).reconcile_prefix == "media/"


def test_admin_users_split_on_commas_and_spaces() -> None:
    batch = load_batch_settings(load_settings(BASE), {"IMPORT_ADMIN_USERS": "a, b c"})
    assert batch.admin_users == frozenset({"a", "b", "c"})


@pytest.mark.parametrize(("environ", "variable"), [
    ({"IMPORT_MAX_BYTES": "lots"}, "IMPORT_MAX_BYTES"),
    ({"IMPORT_CONCURRENCY": "0"}, "IMPORT_CONCURRENCY"),
    ({"IMPORT_ALLOW_LOOPBACK": "maybe"}, "IMPORT_ALLOW_LOOPBACK"),
    ({"IMPORT_MANIFEST_PREFIX": "a/../b"}, "IMPORT_MANIFEST_PREFIX"),
    ({"IMPORT_LEASE_SEC": "100"}, "IMPORT_LEASE_SEC"),
])
def test_bad_values_name_the_variable(environ: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_batch_settings(load_settings(BASE), environ)
    assert caught.value.variable == variable


def test_user_first_upload_prefix_needs_reconcile_prefix() -> None:
    settings = load_settings({**BASE, "COS_ALLOWED_PREFIX": "${userId}/uploads/"})
    with pytest.raises(ConfigError) as caught:
        load_batch_settings(settings, {})
    assert caught.value.variable == "RECONCILE_PREFIX"
