"""Inside Rasa's own environment: the private parts of Rasa that bot/rasa_plugins/rasa_private.py uses still
exist, take what we pass, and are still what Rasa itself calls, so an upgrade of Rasa fails here."""

from __future__ import annotations

import json


from tests.in_rasa import run_in_rasa

# Runs in the Rasa environment (Python 3.10) and prints what it found as one JSON object.
SCRIPT = r'''
import inspect
import json

from rasa.core.actions.action import RemoteAction
from rasa.core.processor import MessageProcessor

from bot.rasa_plugins import rasa_private

loop = MessageProcessor._run_prediction_loop
handle = inspect.getsource(MessageProcessor.handle_message)
steps = ["log_message", "run_action_extract_slots", "_run_prediction_loop", "run_anonymization_pipeline",
         "save_tracker"]
check = rasa_private.action_result_check()
logging = inspect.getsource(MessageProcessor.log_message)
handle_with_tracker = MessageProcessor._handle_message_with_tracker

def mine(self, result):
    return True

rasa_private.replace_action_result_check(mine)
print(json.dumps({
    "loop_is_async": inspect.iscoroutinefunction(loop),
    "loop_parameters": list(inspect.signature(loop).parameters),
    "handle_message_steps": sorted(steps, key=lambda step: handle.rfind(step + "(")),  # the last save_tracker
    "every_step_in_handle_message": all(step + "(" in handle for step in steps),
    "run_checks_answers": "self._validate_action_result(" in inspect.getsource(RemoteAction.run),
    "check_parameters": list(inspect.signature(check).parameters),
    "check_replaced": RemoteAction._validate_action_result is mine,
    "log_message_steps": sorted(["fetch_tracker_and_update_session", "_handle_message_with_tracker"],
                                key=lambda step: logging.find("self." + step + "(")),
    "log_message_has_both": all(logging.find("self." + step + "(") > 0
                                for step in ["fetch_tracker_and_update_session", "_handle_message_with_tracker"]),
    "handle_with_tracker_is_async": inspect.iscoroutinefunction(handle_with_tracker),
    "handle_with_tracker_parameters": list(inspect.signature(handle_with_tracker).parameters),
}))
'''


def test_the_private_parts_of_rasa_we_use_are_as_rasa_3_6_has_them():
    output = run_in_rasa(SCRIPT)
    found = json.loads(output.strip().splitlines()[-1])
    # The gateway channel's turn (bot/rasa_plugins/channel.py) repeats handle_message's steps in this order.
    assert found["handle_message_steps"] == ["log_message", "run_action_extract_slots", "_run_prediction_loop",
                                             "run_anonymization_pipeline", "save_tracker"]
    assert found["every_step_in_handle_message"]
    assert found["loop_is_async"] and found["loop_parameters"] == ["self", "output_channel", "tracker"]
    # The action-answer validator (bot/rasa_plugins/action_validation.py) replaces what RemoteAction.run calls.
    assert found["run_checks_answers"]
    assert found["check_parameters"] == ["self", "result"]
    assert found["check_replaced"]
    # Its first step is log_message's two steps, taken one by one to answer a message already handled.
    assert found["log_message_steps"] == ["fetch_tracker_and_update_session", "_handle_message_with_tracker"]
    assert found["log_message_has_both"] and found["handle_with_tracker_is_async"]
    assert found["handle_with_tracker_parameters"] == ["self", "message", "tracker"]


FAILURES_SCRIPT = r'''
import asyncio
import json

from rasa.core.tracker_store import FailSafeTrackerStore, InMemoryTrackerStore
from rasa.shared.core.domain import Domain

from bot.rasa_plugins import rasa_private, tracker_failures


class Away(InMemoryTrackerStore):
    async def retrieve(self, sender_id):
        raise ConnectionError("the database does not answer")

    async def save(self, tracker):
        raise ConnectionError("the database does not answer")


async def outcome(store):
    try:
        return repr(await store.retrieve("x"))
    except ConnectionError:
        return "raised"

store = FailSafeTrackerStore(Away(Domain.empty()))
before = asyncio.run(outcome(store))
tracker_failures.install()
print(json.dumps({"before": before, "after": asyncio.run(outcome(store)),
                  "wrapped": rasa_private.primary_tracker_store(store).__class__.__name__}))
'''


def test_a_tracker_store_that_does_not_answer_fails_the_turn_instead_of_starting_afresh():
    output = run_in_rasa(FAILURES_SCRIPT)
    found = json.loads(output.strip().splitlines()[-1])
    assert found == {"before": "None", "after": "raised", "wrapped": "Away"}
