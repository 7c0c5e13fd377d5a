"""A status question the engine misread as an answer still gets the status."""

from __future__ import annotations

import asyncio
import uuid

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.questions import ActionNotUnderstood
from bot.services import applications, conversations

DETAILS = {"full_name": "张建国", "id_number": "110101199003071233", "phone": "13812345678",
           "address": "东城区幸福路12号3单元502", "arrival_date": "2023-05-01", "employer_or_school": "示例市宏达建筑公司"}


def test_numbers_after_how_far_has_it_got_read_as_an_answer_still_get_the_status():
    applicant, asker = f"s-{uuid.uuid4().hex[:10]}", f"s-{uuid.uuid4().hex[:10]}"
    for conversation_id in (applicant, asker):
        conversations.ensure(conversation_id, "web", "zh-CN")
    reference = applications.display_reference(applications.submit(applicant, "web", "residence_permit", DETAILS))
    text = f"我的居住证办到哪一步了 {reference} {DETAILS['phone']}"
    # What the engine made of it: the numbers look like an answer to a form's question.
    message = {"text": text, "intent": {"name": "inform", "confidence": 0.88},
               "entities": [{"entity": "service", "value": "residence_permit"}], "metadata": {"channel": "web"}}
    tracker = Tracker(asker, {}, message, [{"event": "user", "text": text, "parse_data": message}],
                      False, None, {}, "action_listen")
    dispatcher = CollectingDispatcher()
    asyncio.run(ActionNotUnderstood().run(dispatcher, tracker, {}))
    said = "\n".join(m.get("text") or "" for m in dispatcher.messages)
    assert reference in said, said
