"""Every public endpoint of the gateway fuzzed from its OpenAPI schema against the real stack: no 5xx, still healthy.

Schemathesis generates requests from the schema (valid and invalid bodies, parameters, headers), as a resident
and as an admin, so the staff endpoints are explored past their login. The number of cases is bounded to keep
`make test` quick (FUZZ_EXAMPLES raises it for a deeper run).
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from bot.gateway.app import create_app
from bot.settings import REPO_ROOT, load_settings
from tests.fakes.rasa import FakeRasa

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "12"))
# The schema the running stack serves (the same code builds it); docs are on only to read it here.
SCHEMA = schemathesis.openapi.from_dict(
    create_app(load_settings(api_docs=True), rasa_transport=FakeRasa().transport()).openapi())


def admin_token(stack) -> str:
    """An admin account in the stack's database, and a token for it."""
    username = f"fuzz{uuid.uuid4().hex[:6]}"
    code = ("from bot.services import staff; "
            f"staff.create_or_update('{username}', 'fuzzing-passphrase-1', 'admin'); "
            f"print(staff.login('{username}', 'fuzzing-passphrase-1'))")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, env=stack.env, check=True,
                            capture_output=True, text=True)
    return result.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def token(stack) -> str:
    return admin_token(stack)


@pytest.mark.timeout(900)  # up to EXAMPLES cases of every operation, each a real turn where it reaches Rasa
@SCHEMA.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_no_request_gets_a_server_error(case, stack, token):
    for headers in ({}, {"Authorization": f"Bearer {token}"}):
        response = case.call(base_url=stack.base_url, headers=headers, timeout=30)
        assert response.status_code < 500 or response.status_code == 503, (
            f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:500]}")
        if response.status_code >= 400:
            assert "error" in response.json(), f"{case.method} {case.formatted_path}: not the JSON error shape"


def test_the_stack_is_healthy_after_the_fuzzing(stack):
    assert stack.health().status_code == 200
    reply = stack.chat(f"after-fuzz-{uuid.uuid4().hex[:8]}", "社保卡丢了要带什么")
    assert reply["messages"] and reply["messages"][0]["text"]
