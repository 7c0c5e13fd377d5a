"""Delivers pushed messages (staff replies, reminders, status changes) to channels that send them out.

Each conversation has a cursor in the database: the id of the last outbox message its channel accepted.
A replica takes a short lease on a conversation before sending, so two gateways never send the same
message, and a message pushed while every gateway was down goes out when one is back. A message is
marked delivered only after the platform accepted it (at least once; a crash between the platform's
answer and the mark is the one case that repeats a message).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import socket
from collections.abc import Awaitable, Callable

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool

from bot.db.models import DeliveryCursor, OutboxMessage, utcnow
from bot.db.session import unit_of_work
from bot.services import conversations, sms_notices
from bot.services.conversations import PushedMessage

log = logging.getLogger(__name__)

LEASE = dt.timedelta(seconds=60)
POLL_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 300
# How long a stopping gateway lets a message the platform is taking finish and be marked.
FINISH_SECONDS = 10.0


class Deferred(Exception):
    """The platform is busy or down: try this conversation again after `wait` seconds."""

    def __init__(self, wait: float, reason: str = ""):
        super().__init__(reason or f"retry in {wait:.0f} s")
        self.wait = wait


class Undeliverable(Exception):
    """The platform will never take this message (the person blocked the account): skip it."""


def replica_name() -> str:
    """This process's name in leases: host and process id."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}"


def conversations_waiting(prefix: str, limit: int = 200) -> list[str]:
    """Conversations of one channel (ids starting with `prefix`) with messages beyond their cursor."""
    with unit_of_work() as session:
        query = (select(OutboxMessage.conversation_id)
                 .outerjoin(DeliveryCursor, DeliveryCursor.conversation_id == OutboxMessage.conversation_id)
                 .where(OutboxMessage.conversation_id.startswith(prefix),
                        OutboxMessage.id > func.coalesce(DeliveryCursor.delivered_id, 0))
                 .distinct().limit(limit))
        return list(session.scalars(query))


def claim(conversation_id: str, owner: str, now: dt.datetime | None = None) -> int | None:
    """Takes the conversation's lease; its cursor, or None when another replica holds it or it must wait."""
    now = now or utcnow()
    try:
        with unit_of_work() as session:
            if session.get(DeliveryCursor, conversation_id) is None:
                session.add(DeliveryCursor(conversation_id=conversation_id, delivered_id=0))
    except IntegrityError:
        pass  # another replica created it at the same moment
    with unit_of_work() as session:
        taken = session.execute(
            update(DeliveryCursor)
            .where(DeliveryCursor.conversation_id == conversation_id,
                   or_(DeliveryCursor.lease_owner.is_(None), DeliveryCursor.lease_owner == owner,
                       DeliveryCursor.lease_until < now),
                   or_(DeliveryCursor.not_before.is_(None), DeliveryCursor.not_before <= now))
            .values(lease_owner=owner, lease_until=now + LEASE))
        if taken.rowcount != 1:  # type: ignore[attr-defined]  # an UPDATE answers with a CursorResult
            return None
        return session.scalar(select(DeliveryCursor.delivered_id)
                              .where(DeliveryCursor.conversation_id == conversation_id))


def mark_delivered(conversation_id: str, owner: str, message_id: int) -> None:
    """Moves the cursor past a message the platform accepted (only while this replica holds the lease).

    The resident has it in their app now: a text telling of a staff reply (they asked for texts) is not needed.
    """
    with unit_of_work() as session:
        session.execute(update(DeliveryCursor).where(
            DeliveryCursor.conversation_id == conversation_id, DeliveryCursor.lease_owner == owner,
            DeliveryCursor.delivered_id < message_id,
        ).values(delivered_id=message_id, failures=0, not_before=None))
    sms_notices.read_up_to(conversation_id, message_id)


def defer(conversation_id: str, owner: str, wait: float, now: dt.datetime | None = None) -> None:
    """Lets the conversation wait (back-off) and gives up the lease."""
    now = now or utcnow()
    with unit_of_work() as session:
        session.execute(update(DeliveryCursor).where(
            DeliveryCursor.conversation_id == conversation_id, DeliveryCursor.lease_owner == owner,
        ).values(failures=DeliveryCursor.failures + 1, not_before=now + dt.timedelta(seconds=wait),
                 lease_owner=None, lease_until=None))


def release(conversation_id: str, owner: str) -> None:
    """Gives up the lease."""
    with unit_of_work() as session:
        session.execute(update(DeliveryCursor).where(
            and_(DeliveryCursor.conversation_id == conversation_id, DeliveryCursor.lease_owner == owner),
        ).values(lease_owner=None, lease_until=None))


Sender = Callable[[str, PushedMessage], Awaitable[None]]


class PushDelivery:
    """Runs until cancelled: sends each waiting conversation's messages in order through `send`.

    `send(conversation_id, message)` returns once the platform accepted the message, raises Deferred to
    try again later (with back-off), or Undeliverable to skip it.
    """

    def __init__(self, prefix: str, send: Sender, poll_seconds: float = POLL_SECONDS, owner: str | None = None):
        self.prefix = prefix
        self.send = send
        self.poll_seconds = poll_seconds
        self.owner = owner or replica_name()
        # Finished passes: what shows that a message was not sent again (the tests wait on it).
        self.rounds = 0

    async def run(self) -> None:
        """Delivery rounds until cancelled; a failed round is logged and the next one tries again."""
        while True:
            try:
                await self.deliver_round()
            except Exception:  # e.g. the database is away for a moment
                log.exception("push delivery round of %s failed", self.prefix)
            self.rounds += 1
            await asyncio.sleep(self.poll_seconds)

    async def deliver_round(self) -> int:
        """One pass over the channel's waiting conversations; returns how many messages went out."""
        sent = 0
        for conversation_id in await run_in_threadpool(conversations_waiting, self.prefix):
            cursor = await run_in_threadpool(claim, conversation_id, self.owner)
            if cursor is None:
                continue
            try:
                sent += await self._deliver(conversation_id, cursor)
            finally:
                await run_in_threadpool(release, conversation_id, self.owner)
        return sent

    async def _deliver(self, conversation_id: str, cursor: int) -> int:
        sent = 0
        for message in await run_in_threadpool(conversations.messages_after, conversation_id, cursor):
            # A gateway that stops while a platform takes a message still marks it, or the next one sends it again.
            attempt = asyncio.ensure_future(self._send_then_mark(conversation_id, message))
            try:
                outcome = await asyncio.shield(attempt)
            except asyncio.CancelledError:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(attempt, FINISH_SECONDS)
                raise
            if outcome == "deferred":
                return sent
            sent += outcome == "sent"
        return sent

    async def _send_then_mark(self, conversation_id: str, message: PushedMessage) -> str:
        """Sends one message and moves the cursor past it: "sent", "skipped" (undeliverable) or "deferred"."""
        outcome = "sent"
        try:
            await self.send(conversation_id, message)
        except Undeliverable as refused:
            log.error("pushed message %s to %s can never be delivered: %s", message.id, conversation_id, refused)
            outcome = "skipped"
        except Exception as err:  # noqa: BLE001 - Deferred, or anything unforeseen: try again after a wait
            failures = await run_in_threadpool(_failures, conversation_id)
            wait = min(MAX_BACKOFF_SECONDS, max(getattr(err, "wait", 0), 2 ** min(failures, 8)))
            log.warning("pushed message %s to %s deferred %.0f s: %r", message.id, conversation_id, wait, err)
            await run_in_threadpool(defer, conversation_id, self.owner, wait)
            return "deferred"
        await run_in_threadpool(mark_delivered, conversation_id, self.owner, message.id)
        return outcome


def _failures(conversation_id: str) -> int:
    with unit_of_work() as session:
        return session.scalar(select(DeliveryCursor.failures)
                              .where(DeliveryCursor.conversation_id == conversation_id)) or 0
