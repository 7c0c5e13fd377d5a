"""Button payloads that carry entities reach the person intact, and Rasa logs no error filling them."""

from __future__ import annotations

import json
import subprocess

import pytest

from bot import texts
from bot.engine.build import RASA_ENV

pytestmark = pytest.mark.timeout(120)

# Runs Rasa's own response interpolation (the engine's Python) on each payload; prints what comes out.
INTERPOLATE = """
import json, logging, sys
import structlog
errors = []
structlog.configure(processors=[lambda _l, _m, event: errors.append(event) or ""])
from rasa.core.nlg.interpolator import interpolate_text
payloads = json.loads(sys.stdin.read())
print(json.dumps({"out": [interpolate_text(p, {"service": "id_card"}) for p in payloads], "errors": len(errors)}))
"""


def entity_payloads() -> dict[str, str]:
    """Every button payload of the domain that carries entities, by response name and title."""
    found = {}
    for name, variants in texts.load_responses().items():
        for variant in variants:
            for button in variant.get("buttons") or []:
                if "{" in button.get("payload", ""):
                    found[f"{name}/{button['title']}"] = button["payload"]
    return found


def test_rasa_sends_entity_payloads_as_written_without_an_interpolation_error():
    payloads = entity_payloads()
    assert payloads, "the domain has buttons whose payload carries entities"
    result = subprocess.run([str(RASA_ENV / "bin" / "python"), "-c", INTERPOLATE], input=json.dumps(list(payloads.values())),
                            capture_output=True, text=True, check=True, timeout=100)
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer["errors"] == 0
    sent = dict(zip(payloads, answer["out"]))
    for key, payload in sent.items():
        assert payload == texts.unescape_braces(payloads[key])
        json.loads(payload[payload.index("{"):])  # the entities are valid JSON, as the engine parses them


def test_actions_send_the_same_payloads_as_the_engine():
    payload = texts.buttons("utter_ask_callback_window")[0]["payload"]
    assert payload == '/inform{"time_window": "morning"}'
