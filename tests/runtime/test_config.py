import json
from pathlib import Path

import pytest

from scf_worker.runtime.config import RESERVED_PREFIXES, load_settings
from scf_worker.runtime.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_load():
    settings = load_settings({})
    assert settings.sign_expire_seconds == 600
    assert settings.allowed_prefix == "uploads/${userId}/"
    assert settings.state_url.startswith("sqlite:///")
    assert settings.appid == "1250000000"
    assert settings.bucket_short_name == "media"


@pytest.mark.parametrize("env, variable", [
    ({"SIGN_EXPIRE_SEC": "601"}, "SIGN_EXPIRE_SEC"),
    ({"SIGN_EXPIRE_SEC": "ten"}, "SIGN_EXPIRE_SEC"),
    ({"RETRY_MAX_ATTEMPTS": "0"}, "RETRY_MAX_ATTEMPTS"),
    ({"STORAGE_URL": "s3://bucket"}, "STORAGE_URL"),
    ({"AUTH_MODE": "none"}, "AUTH_MODE"),
    ({"WEBHOOK_ALLOW_LOOPBACK": "maybe"}, "WEBHOOK_ALLOW_LOOPBACK"),
    ({"WEBHOOK_ENDPOINTS": "not json"}, "WEBHOOK_ENDPOINTS"),
    ({"WEBHOOK_ENDPOINTS": '[{"url": "https://x", "secret": "plain"}]'}, "WEBHOOK_ENDPOINTS[0].secret"),
    ({"COS_ALLOWED_PREFIX": "uploads/"}, "COS_ALLOWED_PREFIX"),
    ({"CALLBACK_SHARED_SECRET": "whsec_c2hvcnQ="}, "CALLBACK_SHARED_SECRET"),
    ({"CALLBACK_SHARED_SECRET": "plain-secret"}, "CALLBACK_SHARED_SECRET"),
    ({"WEBHOOK_ENDPOINTS": '[{"url": "ftp://x", "secret": "whsec_x"}]'}, "WEBHOOK_ENDPOINTS[0].url"),
    ({"STATE_URL": "postgres://db/x"}, "STATE_URL"),
    ({"STATE_URL": "sqlite://relative.db"}, "STATE_URL"),
    ({"OUTPUT_PREFIX": "../../escape/"}, "OUTPUT_PREFIX"),
    ({"LOG_LEVEL": "bogus"}, "LOG_LEVEL"),
])
def test_invalid_values_name_the_variable(env, variable):
    with pytest.raises(ConfigError) as caught:
        load_settings(env)
    assert caught.value.variable.startswith(variable)
    assert variable in str(caught.value)


def test_short_webhook_secret_is_rejected_at_load():
    short = "whsec_" + "QUJD" * 2
    with pytest.raises(ConfigError) as caught:
        load_settings({"WEBHOOK_ENDPOINTS": json.dumps([{"url": "https://x", "secret": short}])})
    assert caught.value.variable.startswith("WEBHOOK_ENDPOINTS[0].secret")
    assert short not in str(caught.value)


def test_relative_sqlite_url_resolves_under_working_directory(tmp_path, monkeypatch):
    from scf_worker.state.sql import open_database

    monkeypatch.chdir(tmp_path)
    database = open_database("sqlite:///relative.db")
    assert database.path == tmp_path / "relative.db"


def test_secret_values_never_appear_in_config_errors():
    secret = "whsec_" + "A" * 10 + "not-base64-secret"
    env = {"WEBHOOK_ENDPOINTS": json.dumps([{"url": "https://x", "secret": [secret, 5]}])}
    with pytest.raises(ConfigError) as caught:
        load_settings(env)
    assert secret not in str(caught.value)


def test_bucket_without_appid_is_a_config_error():
    with pytest.raises(ConfigError) as caught:
        load_settings({"COS_BUCKET": "media"})
    assert caught.value.variable == "COS_BUCKET"


def test_prefix_always_ends_with_slash():
    assert load_settings({"COS_ALLOWED_PREFIX": "in/${userId}"}).allowed_prefix == "in/${userId}/"


def test_function_configs_define_no_reserved_variables():
    for config in sorted(ROOT.glob("scf/*/config.json")):
        variables = json.loads(config.read_text())["environment"]["variables"]
        for name in variables:
            assert not name.startswith(RESERVED_PREFIXES), f"{config}: {name}"


def test_secrets_are_collected_for_redaction():
    from scf_worker.webhooks.signing import generate_secret

    first, second = generate_secret(), generate_secret()
    env = {"AUTH_JWT_SECRET": "jwt-secret-value", "CALLBACK_SHARED_SECRET": f"{first} {second}"}
    settings = load_settings(env)
    assert {"jwt-secret-value", first, second} <= settings.secrets


def test_settings_repr_hides_secrets():
    env = {"AUTH_JWT_SECRET": "jwt-secret-value", "STATE_URL": "mysql://app:db-pass-123@127.0.0.1/x"}
    settings = load_settings(env)
    assert "jwt-secret-value" not in repr(settings)
    assert "db-pass-123" not in repr(settings)
    assert "db-pass-123" in settings.secrets
