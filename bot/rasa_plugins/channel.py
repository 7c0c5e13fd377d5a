"""The gateway's input channel inside the Rasa server: one round trip answers with the replies and the state.

Rasa loads this module through the credentials file (`bot.rasa_plugins.channel.GatewayInput`)
and runs it in its own Python 3.10 process, so it imports only Rasa and the standard
library. The REST channel answers with the replies alone, and a second request for
the tracker would load the whole conversation from the tracker store again; this
channel runs the same turn as `MessageProcessor.handle_message` (Rasa 3.6) and
reports the state of the tracker it has just saved. Loading it also makes Rasa check custom
actions' answers with one validator (`bot/rasa_plugins/action_validation.py`), fail a turn whose
tracker store does not answer instead of answering from an empty conversation
(`bot/rasa_plugins/tracker_failures.py`), and report the custom actions that fail during a turn
(`bot/rasa_plugins/action_failures.py`).

A turn is answered only once it is saved whole. A turn in which a custom action failed, or which
failed itself, is not saved, and nothing of it is shown: the answer is a 503 with no messages (the
gateway then gives the polite fallback), and the same message sent again runs the turn again from
where the conversation was before it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from rasa.shared.core.events import BotUttered, UserUttered
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.rasa_plugins import action_failures, action_validation, tracker_failures
from bot.rasa_plugins.rasa_private import handle_message_with_tracker, run_prediction_loop

log = logging.getLogger(__name__)
action_validation.install()
tracker_failures.install()
action_failures.install()
# Any text will do; it touches no conversation.
WARM_UP_TEXT = "你好"
# A message sent again comes soon after the first time: only the conversation's last few messages are looked at.
RECENT_MESSAGES = 20
# The metadata key of the digests of the person's text (bot/services/chat_replies.py `text_digests`).
TEXT_DIGESTS = "text_digests"
# The status of the refusal of a message id sent before with another text (bot/engine/client.py reads it).
MESSAGE_ID_REUSED_STATUS = 409


def tracker_state(tracker: Any) -> dict[str, Any]:
    """The active loop's name and all slot values, as the tracker endpoint reports them."""
    return {"active_loop": tracker.active_loop_name, "slots": tracker.current_slot_values()}


class ActionsFailed(Exception):
    """Custom actions failed during a turn: the turn is not saved, so that the same message runs it again."""

    def __init__(self, actions: list[str]) -> None:
        super().__init__(f"custom actions failed: {', '.join(actions)}")
        self.actions = actions


class MessageIdReused(Exception):
    """The message id is that of an earlier message with another text: answered 409, never with its answers."""


def text_digests(metadata: Any) -> list[str]:
    """The digests of the person's text the gateway sends with a client's message id (none otherwise)."""
    digests = metadata.get(TEXT_DIGESTS) if isinstance(metadata, dict) else None
    return [d for d in digests if isinstance(d, str)] if isinstance(digests, list) else []


def answers_to(tracker: Any, message_id: str | None, digests: Sequence[str] = ()) -> list[dict[str, Any]] | None:
    """What the assistant said after the message with this id, if the tracker has it among its recent messages.

    None when the message is not there, or nothing was said after it: then the turn is to be run.
    MessageIdReused when the message there has other digests than `digests` (the text's, under each field key
    the gateway holds): another text sent with the same id is refused, not answered with the first one's answers.
    """
    if not message_id:
        return None
    said: list[dict[str, Any]] = []
    seen = 0
    for event in reversed(tracker.events):
        if isinstance(event, BotUttered):
            said.append(event.message())
        elif isinstance(event, UserUttered):
            if event.message_id == message_id:
                kept = text_digests(event.metadata)
                if kept and digests and not set(kept) & set(digests):
                    raise MessageIdReused(message_id)
                # Nothing said (a failure Rasa kept to itself): nothing to give again; the turn runs again.
                return said[::-1] or None
            seen += 1
            if seen == RECENT_MESSAGES:
                return None
            said = []
    return None


class GatewayInput(InputChannel):
    """POST /webhooks/gateway/webhook with the REST channel's body → {"messages": [...], "state": {...}}."""

    @classmethod
    def name(cls) -> str:
        return "gateway"

    async def turn(self, request: Request, message: UserMessage) -> dict[str, Any] | None:
        """Handles the message like the agent does and returns the saved tracker's state (None without a model).

        A message this conversation has already handled (the same message id: a client's retry, or the gateway
        sending again after a Rasa server died) is answered with what was said then, and is not run again; the
        same id with another text raises MessageIdReused. The state reported is the conversation's as it is now.
        ActionsFailed, with nothing saved, when a custom action failed during the turn.
        """
        agent = request.app.ctx.agent
        if agent is None or not agent.is_ready():
            return None
        async with agent.lock_store.lock(message.sender_id):
            processor = agent.processor
            tracker = await processor.fetch_tracker_and_update_session(
                message.sender_id, message.output_channel, message.metadata)
            earlier = answers_to(tracker, message.message_id, text_digests(message.metadata))
            if earlier is not None:
                for reply in earlier:
                    await message.output_channel.send_response(message.sender_id, reply)
                return tracker_state(tracker)
            with action_failures.watching() as failed:
                await handle_message_with_tracker(processor, message, tracker)
                tracker = await processor.run_action_extract_slots(message.output_channel, tracker)
                await run_prediction_loop(processor, message.output_channel, tracker)
            if failed:
                # Rasa went on without the failed action's events, keeping those of the actions before it
                # (a form closed, its booking not made): saved, that half turn is what a resent message meets.
                raise ActionsFailed(failed)
            await processor.run_anonymization_pipeline(tracker)
            await processor.save_tracker(tracker)
            return tracker_state(tracker)

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        """The webhook route (the agent is read from the app at each request, so a model reload is seen)."""
        hook = Blueprint("gateway_webhook", __name__)

        @hook.listener("after_server_start")
        async def warm_up(app: Any, _loop: Any) -> None:
            # The classifier's first prediction sets up its TensorFlow graph: done here, as the server starts,
            # not in the first person's turn.
            agent = app.ctx.agent
            if agent is not None and agent.is_ready():
                await agent.parse_message(WARM_UP_TEXT)

        @hook.route("/", methods=["GET"])
        async def health(_request: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @hook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            body = request.json if isinstance(request.json, dict) else {}
            sender, text, message_id = body.get("sender"), body.get("message"), body.get("message_id")
            if not isinstance(sender, str) or not isinstance(text, str) or not isinstance(message_id, str | None):
                return response.json({"error": "sender, message and message_id must be strings"}, status=400)
            collector = CollectingOutputChannel()
            message = UserMessage(text, collector, sender, input_channel=self.name(), metadata=body.get("metadata"),
                                  message_id=message_id)
            try:
                state = await self.turn(request, message)
            except MessageIdReused:
                return response.json({"error": "message_id_reused"}, status=MESSAGE_ID_REUSED_STATUS)
            except asyncio.CancelledError:
                log.error("the turn of a gateway message was cancelled")
            except ActionsFailed as err:
                log.warning("the turn of a gateway message was not saved (%s): it runs again when sent again", err)
            except Exception:
                log.exception("the turn of a gateway message failed")
            else:
                return response.json({"messages": collector.messages, "state": state})
            # The replies collected so far belong to a turn that was not saved: shown, they would answer a
            # message the conversation does not hold (and a retry would be answered with them, not run).
            return response.json({"error": "the turn was not saved", "messages": []}, status=503)

        return hook
