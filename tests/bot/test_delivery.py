"""Pushed messages go out in order, once, from any replica, and survive a replica that dies holding the lease."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import uuid

from bot.db.models import utcnow
from bot.services import conversations, delivery
from bot.services.conversations import PushedMessage
from bot.services.delivery import Deferred, PushDelivery, Undeliverable


class Platform:
    """Records what was sent; can refuse or defer the next messages."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []
        self.defer_next = 0
        self.refuse: set[str] = set()

    async def send(self, conversation_id: str, message: PushedMessage) -> None:
        await asyncio.sleep(0.01)  # a platform takes a moment: replicas overlap
        if self.defer_next:
            self.defer_next -= 1
            raise Deferred(0.01, "busy")
        if message.text in self.refuse:
            raise Undeliverable("blocked")
        self.sent.append((conversation_id, message.text))


def conversation(prefix: str = "push") -> str:
    conversation_id = f"{prefix}:{uuid.uuid4().hex[:10]}"
    conversations.ensure(conversation_id, prefix, "zh-CN")
    return conversation_id


def test_two_replicas_send_each_message_once_and_in_order():
    prefix = f"p{uuid.uuid4().hex[:6]}"
    people = [conversation(prefix) for _ in range(4)]
    for person in people:
        for n in range(3):
            conversations.push(person, "assistant", f"{person} 第{n}条")
    platform = Platform()
    first, second = (PushDelivery(f"{prefix}:", platform.send, owner=name) for name in ("replica-a", "replica-b"))

    async def rounds() -> None:
        for _ in range(3):
            await asyncio.gather(first.deliver_round(), second.deliver_round())

    asyncio.run(rounds())
    assert sorted(platform.sent) == sorted((p, f"{p} 第{n}条") for p in people for n in range(3))
    for person in people:
        assert [t for c, t in platform.sent if c == person] == [f"{person} 第{n}条" for n in range(3)]


def test_a_busy_platform_delays_without_losing_and_a_refused_message_does_not_block_the_rest():
    prefix = f"q{uuid.uuid4().hex[:6]}"
    person = conversation(prefix)
    for text in ("一", "被拒", "三"):
        conversations.push(person, "assistant", text)
    platform = Platform()
    platform.defer_next, platform.refuse = 1, {"被拒"}
    replica = PushDelivery(f"{prefix}:", platform.send, owner="only")
    assert asyncio.run(replica.deliver_round()) == 0  # deferred: it waits its back-off
    assert delivery.claim(person, "only") is None, "no replica tries again before the wait is over"
    assert delivery.claim(person, "other", now=utcnow() + dt.timedelta(seconds=5)) == 0, "nor waits for ever"
    delivery.release(person, "other")
    _expire_backoff(person)
    asyncio.run(replica.deliver_round())
    assert [t for _, t in platform.sent] == ["一", "三"]


def test_a_replica_that_died_holding_a_lease_is_taken_over_after_it_lapses():
    prefix = f"r{uuid.uuid4().hex[:6]}"
    person = conversation(prefix)
    conversations.push(person, "staff", "您好")
    assert delivery.claim(person, "dead-replica") == 0
    assert delivery.claim(person, "live-replica") is None
    later = utcnow() + delivery.LEASE + dt.timedelta(seconds=1)
    assert delivery.claim(person, "live-replica", now=later) == 0


def test_only_the_lease_holder_moves_the_cursor():
    owner = "holder"
    person = conversation(f"s{uuid.uuid4().hex[:6]}")
    message = conversations.push(person, "assistant", "提醒")
    assert delivery.claim(person, owner) == 0
    delivery.mark_delivered(person, "intruder", message.id)
    assert delivery.claim(person, owner) == 0
    delivery.mark_delivered(person, owner, message.id)
    assert delivery.claim(person, owner) == message.id


def _expire_backoff(conversation_id: str) -> None:
    from sqlalchemy import update

    from bot.db.models import DeliveryCursor
    from bot.db.session import unit_of_work

    with unit_of_work() as session:
        session.execute(update(DeliveryCursor).where(DeliveryCursor.conversation_id == conversation_id)
                        .values(not_before=None))


def test_a_gateway_stopping_while_the_platform_takes_a_message_still_marks_it():
    prefix = f"t{uuid.uuid4().hex[:6]}"
    person = conversation(prefix)
    conversations.push(person, "assistant", "您的申请已受理。")
    taken: list[str] = []

    async def slow_platform(conversation_id: str, message: PushedMessage) -> None:
        started.set()
        await asyncio.sleep(0.3)
        taken.append(message.text)

    async def stop_mid_send() -> None:
        replica = PushDelivery(f"{prefix}:", slow_platform, owner="stopping")
        running = asyncio.create_task(replica.run())
        await started.wait()
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running

    started = asyncio.Event()
    asyncio.run(stop_mid_send())
    assert taken == ["您的申请已受理。"]
    assert delivery.conversations_waiting(f"{prefix}:") == [], "the next gateway must not send it again"
