"""Inside Rasa's own environment: custom actions' answers are judged exactly as Rasa's per-call check judges them."""

from __future__ import annotations



from tests.in_rasa import run_in_rasa

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
    output = run_in_rasa(SCRIPT)
    verdicts = [line for line in output.splitlines() if line.startswith("[")]
    assert verdicts == [
        '["valid", "valid"]',
        '["valid", "valid"]',
        '["invalid", "invalid with hint"]',
        '["invalid", "invalid with hint"]',
        '["invalid", "invalid with hint"]',
        '["invalid", "invalid with hint"]',
    ]
