"""Message ids kept for retries on PostgreSQL, as the replicas of `make cluster` share them."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import select

from bot.db.models import HandoffMessage
from bot.db.session import unit_of_work
from bot.services import chat_replies, conversations, handoff


def test_on_postgresql_attempts_of_one_message_at_once_reach_staff_once(postgres):
    conversations.ensure("pg-replies", "web", "zh-CN")
    place = handoff.request("pg-replies", "web", None, "requested")
    handoff.accept(place.handoff_id, "li")
    # Four attempts of one message given to staff at once: one adds it, the others wait for it and add nothing.
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda _: handoff.add_person_message("pg-replies", "我的材料丢了", "m-together"), range(4)))
    with unit_of_work() as session:
        said = session.scalars(select(HandoffMessage.text).where(HandoffMessage.handoff_id == place.handoff_id)).all()
    assert said == ["我的材料丢了"]
    for i in range(chat_replies.REPLIES_PER_CONVERSATION):
        handoff.add_person_message("pg-replies", "还在吗", f"m-{i:08d}")
    handoff.add_person_message("pg-replies", "我的材料丢了", "m-together")  # forgotten: the oldest of 21
    with unit_of_work() as session:
        count = len(session.scalars(select(HandoffMessage.id).where(HandoffMessage.handoff_id == place.handoff_id)).all())
    assert count == chat_replies.REPLIES_PER_CONVERSATION + 2
