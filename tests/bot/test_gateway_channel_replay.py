"""Inside Rasa's environment: the gateway channel finds a message it has handled already by its id, and what
the assistant said after it, so a retried message is answered again instead of being run twice; the same id
with another text (other digests) is refused."""

from __future__ import annotations

import json

import pytest

from tests.in_rasa import run_in_rasa

SCRIPT = r'''
import asyncio
import json

from rasa.core.channels.channel import CollectingOutputChannel
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.rasa_plugins.channel import RECENT_MESSAGES, MessageIdReused, answers_to, text_digests

tracker = DialogueStateTracker.from_events("c", [
    UserUttered("高龄津贴怎么申请", message_id="m-1"),
    BotUttered("先说材料。\n\n再说地点。", {"buttons": [{"title": "要带什么", "payload": "/ask"}]}),
    SlotSet("service", "senior_allowance"),
    BotUttered("还有别的吗？"),
    ActionExecuted("action_listen"),
    UserUttered("要带什么", message_id="m-2"),
    BotUttered("身份证。"),
], slots=Domain.empty().slots)
many = DialogueStateTracker.from_events("d", [UserUttered("一", message_id="old"), BotUttered("好")] + [
    event for i in range(RECENT_MESSAGES) for event in (UserUttered(str(i), message_id=f"n-{i}"), BotUttered(str(i)))])
failed = DialogueStateTracker.from_events("e", [UserUttered("要带什么", message_id="f-1"), ActionExecuted("action_x")])
# Kept as the tracker store keeps it: the events as JSON and back, with the digests the gateway sent.
digested = DialogueStateTracker.from_dict("g", [event.as_dict() for event in [
    UserUttered("要带什么", message_id="g-1", metadata={"channel": "web", "text_digests": ["aaaa", "bbbb"]}),
    BotUttered("身份证。"),
    UserUttered("要交钱吗", message_id="g-2", metadata={"text_digests": ["cccc"]}),
    ActionExecuted("action_x"),
]], slots=Domain.empty().slots)


def refused(tracker, message_id, digests):
    try:
        answers_to(tracker, message_id, digests)
    except MessageIdReused:
        return True
    return False


async def replayed(replies):
    collector = CollectingOutputChannel()
    for reply in replies:
        await collector.send_response("c", reply)
    return [{k: v for k, v in m.items() if k in ("text", "buttons")} for m in collector.messages]

print(json.dumps({
    "first": asyncio.run(replayed(answers_to(tracker, "m-1"))),
    "second": asyncio.run(replayed(answers_to(tracker, "m-2"))),
    "unknown": answers_to(tracker, "m-3"),
    "none": answers_to(tracker, None),
    "too_old": answers_to(many, "old"),
    "recent": asyncio.run(replayed(answers_to(many, "n-0"))),
    "failed": answers_to(failed, "f-1"),
    "same_text": asyncio.run(replayed(answers_to(digested, "g-1", ["xxxx", "bbbb"]))),
    "digests_kept": text_digests(digested.events[0].metadata),
    "another_text": refused(digested, "g-1", ["dddd"]),
    "another_text_of_a_failed_turn": refused(digested, "g-2", ["dddd"]),
    "same_text_of_a_failed_turn": answers_to(digested, "g-2", ["cccc"]),
    "no_digests_sent": asyncio.run(replayed(answers_to(digested, "g-1"))),
    "none_kept": asyncio.run(replayed(answers_to(tracker, "m-2", ["dddd"]))),
}, ensure_ascii=False))
'''


@pytest.fixture(scope="module")
def found() -> dict:
    """What the script found, run once for the module (Rasa's imports take many seconds)."""
    return json.loads(run_in_rasa(SCRIPT).strip().splitlines()[-1])


def test_a_handled_message_is_found_by_its_id_with_what_was_said_after_it(found):
    # As the collecting channel sent them the first time: a text without buttons split at blank lines.
    assert found["first"] == [{"text": "先说材料。\n\n再说地点。", "buttons": [{"title": "要带什么", "payload": "/ask"}]},
                              {"text": "还有别的吗？"}]
    assert found["second"] == [{"text": "身份证。"}]
    assert found["unknown"] is None and found["none"] is None
    assert found["too_old"] is None and found["recent"] == [{"text": "0"}]
    # A turn that said nothing (an action server away) is run again rather than answered with nothing.
    assert found["failed"] is None


def test_the_same_id_with_another_text_is_refused_even_when_its_turn_said_nothing(found):
    # The digests come back from the stored events; one in common (a key rotated in between) is the same text.
    assert found["digests_kept"] == ["aaaa", "bbbb"]
    assert found["same_text"] == [{"text": "身份证。"}]
    assert found["another_text"] is True and found["another_text_of_a_failed_turn"] is True
    assert found["same_text_of_a_failed_turn"] is None
    # Without digests on either side (no client id, or a message kept before digests were sent) the id decides.
    assert found["no_digests_sent"] == [{"text": "身份证。"}] and found["none_kept"] == [{"text": "身份证。"}]
