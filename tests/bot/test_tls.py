"""The process's one TLS context verifies servers as httpx's own would."""

from __future__ import annotations

import ssl

from bot import tls
from bot.gateway.app import create_app
from bot.settings import load_settings
from channels.wechat.api import WeChatApi


def test_one_context_is_shared_and_it_verifies_certificates_and_host_names():
    context = tls.client_context()
    assert context is tls.client_context()
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.cert_store_stats()["x509_ca"] > 0  # the system's certificate authorities are loaded


def test_building_the_gateway_and_the_wechat_client_makes_no_context_of_their_own(monkeypatch):
    tls.client_context()
    made = []
    real = ssl.create_default_context
    monkeypatch.setattr(ssl, "create_default_context", lambda *args, **kwargs: made.append(args) or real(*args, **kwargs))
    create_app(load_settings())
    WeChatApi(load_settings(wechat_token="token123", wechat_app_id="app", wechat_app_secret="secret"))
    assert made == []
