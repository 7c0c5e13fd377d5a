"""Answers kept for retries on PostgreSQL, as the replicas of `make cluster` share them."""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor

from bot.db.models import utcnow
from bot.services import chat_replies, conversations


def test_on_postgresql_the_first_answer_stands_and_only_the_last_ones_are_kept(postgres):
    conversations.ensure("pg-replies", "web", "zh-CN")
    # Two attempts of one message finish at once: one answer is kept, the other attempt is not an error.
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda n: chat_replies.remember("pg-replies", "m-together", "你好", {"n": n}), range(4)))
    kept = chat_replies.recall("pg-replies", "m-together", "你好")
    assert kept is not None and kept.reply["n"] in range(4)
    now = utcnow()
    for i in range(chat_replies.REPLIES_PER_CONVERSATION):
        chat_replies.remember("pg-replies", f"m-{i:08d}", "你好", {"n": i}, now=now + dt.timedelta(seconds=i + 1))
    assert chat_replies.recall("pg-replies", "m-together", "你好") is None, "the oldest is forgotten"
    assert chat_replies.recall("pg-replies", "m-00000000", "你好") == chat_replies.Remembered({"n": 0})
