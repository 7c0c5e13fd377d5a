"""Inside Rasa's own environment: custom actions' answers are judged exactly as Rasa's per-call check judges them."""

from __future__ import annotations

import os
import subprocess

import pytest

from bot.engine.build import RASA_ENV, REPO_ROOT

# Runs in the Rasa environment (Python 3.10): each answer is checked by Rasa's own way
# (jsonschema.validate) and by the validator the gateway channel installs; prints both verdicts.
SCRIPT = r'''
import json
import jsonschema
from rasa.core.actions.action import RemoteAction

stock = RemoteAction._validate_action_result
import bot.rasa_plugins.channel  # loading the channel installs the validator
assert RemoteAction._validate_action_result is not stock, "the validator was not installed"

answers = [
    {"events": [{"event": "slot", "name": "service", "value": "residence_permit"}], "responses": [{"text": "好的"}]},
    {"events": [{"event": "active_loop", "name": None}, {"event": "action", "name": "action_listen"}],
     "responses": []},
    {"events": [], "responses": "好的"},
    {"events": [{"event": "slot", "value": 1}], "responses": []},
    {"events": [{"event": "no_such_event"}], "responses": []},
    {"events": "none", "responses": []},
]
schema = RemoteAction.action_response_format_spec()
for answer in answers:
    try:
        jsonschema.validate(answer, schema)
        rasa_verdict = "valid"
    except jsonschema.ValidationError:
        rasa_verdict = "invalid"
    try:
        RemoteAction._validate_action_result(None, answer)
        ours = "valid"
    except jsonschema.ValidationError as err:
        ours = "invalid" + (" with hint" if "Action endpoint" in err.message else "")
    print(json.dumps([rasa_verdict, ours]))
'''


def test_answers_are_judged_as_rasa_judges_them():
    python = RASA_ENV / "bin" / "python"
    if not python.exists():
        pytest.skip("the Rasa environment is not set up (packaging/setup-environments.sh)")
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run([str(python), "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=180,
                            cwd=REPO_ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
    verdicts = [line for line in result.stdout.splitlines() if line.startswith("[")]
    assert verdicts == [
        '["valid", "valid"]',
        '["valid", "valid"]',
        '["invalid", "invalid with hint"]',
        '["invalid", "invalid with hint"]',
        '["invalid", "invalid with hint"]',
        '["invalid", "invalid with hint"]',
    ]
