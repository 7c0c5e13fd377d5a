"""Inside Rasa's environment: every failed call to the action server during a turn is reported to the turn, however
Rasa itself deals with it (a failed action, a form that fails, a slot mapping whose failure Rasa only logs), and a
form validator's rejection is not a failure."""

from __future__ import annotations

import json

from tests.in_rasa import run_in_rasa

SCRIPT = r'''
import asyncio
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from rasa.core.actions.action import ActionExecutionRejection, ActionExtractSlots, RemoteAction
from rasa.core.actions.forms import FormAction
from rasa.core.channels.channel import CollectingOutputChannel
from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, ActiveLoop, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig

from bot.rasa_plugins import action_failures


class ActionServer(BaseHTTPRequestHandler):
    """Answers by the action's name: done, rejected (400), broken (500), or dies with the call in hand."""

    def do_POST(self):
        name = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["next_action"]
        if name == "action_dies":
            self.connection.shutdown(socket.SHUT_RDWR)  # no answer at all, as a process killed would give
            self.close_connection = True
            return
        status, body = {"action_rejects": (400, {"action_name": name, "error": "not now"}),
                        "action_fill_other": (500, {}), "validate_some_form": (500, {}),
                        "action_broken": (500, {})}.get(name, (200, {"events": [], "responses": []}))
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), ActionServer)
threading.Thread(target=server.serve_forever, daemon=True).start()
endpoint = EndpointConfig(f"http://127.0.0.1:{server.server_address[1]}/webhook")
with socket.socket() as probe:
    probe.bind(("127.0.0.1", 0))
    closed = EndpointConfig(f"http://127.0.0.1:{probe.getsockname()[1]}/webhook")  # nothing listens there

domain = Domain.from_yaml("""
version: "3.1"
slots:
  name:
    type: text
    mappings:
      - type: from_text
        conditions:
          - active_loop: some_form
  other:
    type: text
    mappings:
      - type: custom
        action: action_fill_other
forms:
  some_form:
    required_slots: [name]
actions: [action_done, action_rejects, action_broken, action_dies, action_away, action_fill_other, validate_some_form]
""")
tracker = DialogueStateTracker.from_events("c", [
    ActionExecuted("action_listen"), ActiveLoop("some_form"), SlotSet("requested_slot", "name"),
    ActionExecuted("action_listen"), UserUttered("张三", {"name": "inform", "confidence": 1.0}),
    SlotSet("name", "张三")], slots=domain.slots)
nlg = TemplatedNaturalLanguageGenerator(domain.responses)
action_failures.install()


async def outcome(action):
    try:
        await action.run(CollectingOutputChannel(), nlg, tracker, domain)
    except ActionExecutionRejection:
        return "rejected"
    except Exception:
        return "raised"
    return "done"


async def main():
    found = {}
    with action_failures.watching() as failed:
        for name in ("action_done", "action_rejects", "action_broken", "action_dies"):
            found[name] = await outcome(RemoteAction(name, endpoint))
        found["action_away"] = await outcome(RemoteAction("action_away", closed))
        found["some_form"] = await outcome(FormAction("some_form", endpoint))
        found["action_extract_slots"] = await outcome(ActionExtractSlots(endpoint))
        # Calls from a task the turn starts are the turn's too.
        found["in_a_task"] = await asyncio.create_task(outcome(RemoteAction("action_broken", endpoint)))
    found["failed"] = failed
    # Outside a watched turn a failure is Rasa's alone.
    found["unwatched"] = await outcome(RemoteAction("action_broken", endpoint))
    return found

print(json.dumps(asyncio.run(main())))
'''


def test_each_failed_call_to_the_action_server_is_reported_to_the_turn():
    found = json.loads(run_in_rasa(SCRIPT).strip().splitlines()[-1])
    assert {name: found[name] for name in ("action_done", "action_rejects", "action_broken", "action_dies",
                                           "action_away", "some_form", "action_extract_slots", "in_a_task")} == {
        "action_done": "done", "action_rejects": "rejected", "action_broken": "raised", "action_dies": "raised",
        "action_away": "raised", "some_form": "raised",
        # Rasa logs a failed custom slot mapping and goes on without it: the turn still hears of it.
        "action_extract_slots": "done", "in_a_task": "raised"}
    assert found["failed"] == ["action_broken", "action_dies", "action_away", "validate_some_form",
                               "action_fill_other", "action_broken"]
    assert found["unwatched"] == "raised"
