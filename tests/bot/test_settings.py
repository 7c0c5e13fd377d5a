"""Settings are validated at start-up with messages that say how to fix them."""

from __future__ import annotations

import pytest

from bot.errors import ConfigurationError
from bot.settings import load_settings


def test_defaults_are_the_embedded_development_setup(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    settings = load_settings()
    assert settings.database_url.startswith("sqlite:///") and settings.database_url.endswith("var/bianmin.db")
    assert settings.gateway_port == 8000 and settings.rasa_url() == "http://127.0.0.1:5005"
    assert settings.telegram_bot_token is None and settings.sip_listen is None


def test_production_refuses_placeholder_secrets():
    with pytest.raises(ConfigurationError) as caught:
        load_settings(environment="production")
    assert "RASA_TOKEN" in caught.value.message and "secrets.token_urlsafe" in caught.value.message


def test_production_with_real_secrets_is_accepted():
    settings = load_settings(environment="production", rasa_token="t" * 32,
                             field_encryption_key="k" * 44)
    assert settings.environment == "production"


@pytest.mark.parametrize("name, value, hint", [
    ("database_url", "mysql://x", "DATABASE_URL"),
    ("gateway_port", "99999", "GATEWAY_PORT"),
    ("sip_listen", "5060", "SIP_LISTEN"),
    ("telegram_mode", "push", "TELEGRAM_MODE"),
])
def test_bad_values_name_the_variable(name, value, hint):
    with pytest.raises(ConfigurationError) as caught:
        load_settings(**{name: value})
    assert hint in caught.value.message


def test_yaml_deployment_file_is_read_and_environment_wins(tmp_path, monkeypatch):
    config = tmp_path / "deployment.yml"
    config.write_text("gateway_port: 8100\nrasa_workers: 3\n", encoding="utf-8")
    monkeypatch.setenv("BIANMIN_CONFIG", str(config))
    monkeypatch.setenv("GATEWAY_PORT", "8200")
    settings = load_settings()
    assert settings.rasa_workers == 3 and settings.gateway_port == 8200
