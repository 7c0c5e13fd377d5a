"""One TLS context for the outgoing HTTP clients of a process (Rasa, the action server, Telegram, WeChat).

httpx builds a new context for every client it makes, even one that speaks plain HTTP to Rasa on loopback, and
building one reads the system's certificate bundle: about 25 ms of CPU, half of what building the gateway app
costs, and again for each of python-telegram-bot's two clients. A context is safe to share between clients and
threads once built, and this one is built as httpx would build it (SSL_CERT_FILE and SSL_CERT_DIR included).
"""

from __future__ import annotations

import ssl
from functools import lru_cache

import httpx


@lru_cache(maxsize=1)
def client_context() -> ssl.SSLContext:
    """The context that verifies servers' certificates, built on first use."""
    return httpx.create_ssl_context()
