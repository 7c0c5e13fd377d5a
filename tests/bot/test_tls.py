"""The process's one TLS context verifies servers as httpx's own would."""

from __future__ import annotations

import ssl

from bot import tls


def test_one_context_is_shared_and_it_verifies_certificates_and_host_names():
    context = tls.client_context()
    assert context is tls.client_context()
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.cert_store_stats()["x509_ca"] > 0  # the system's certificate authorities are loaded
