"""The supervisor's SMS worker: sends the waiting notices of bot/services/sms_notices.py and takes in opt-outs.

Each round takes a short lease on the notices that are due, so two supervisors (or a round that overruns)
never send one twice; a notice is marked sent only once the SMSC took it (a crash in between is the one case
that repeats a text). A failed try waits with back-off; the last one leaves the notice `failed` for staff.
"""

from __future__ import annotations

import logging
import threading

from bot.notify.sms import SmppReceiver, SmsSender, SmsUnavailable
from bot.services import sms_notices
from bot.services.delivery import replica_name

log = logging.getLogger(__name__)


class SmsOutbox:
    """Sends due notices through `sender`; `rounds` counts finished passes (what tests wait on)."""

    def __init__(self, sender: SmsSender, owner: str | None = None):
        self.sender = sender
        self.owner = owner or replica_name()
        self.rounds = 0

    def send_round(self) -> int:
        """One pass over the due notices; returns how many the SMSC took."""
        sent = 0
        for notice in sms_notices.claim_due(self.owner):
            try:
                self.sender.send(notice.phone, notice.text)
            except SmsUnavailable as err:
                status = sms_notices.mark_failed(notice.id, self.owner, err.message)
                log.warning("SMS notice %s not sent (try %d, now %s): %s", notice.id, notice.attempts + 1, status,
                            err.message)
                continue
            sms_notices.mark_sent(notice.id, self.owner)
            sent += 1
        return sent

    def run(self, stopping: threading.Event, poll_seconds: float) -> None:
        """Rounds until `stopping` is set; a failed round (the database away) is logged and tried again."""
        while not stopping.is_set():
            try:
                self.send_round()
            except Exception:  # the next round tries again; the worker never stops on its own
                log.exception("an SMS round failed")
            self.rounds += 1
            if stopping.wait(poll_seconds):
                return

    def on_reply(self, phone: str, text: str) -> None:
        """A resident's text message: the opt-out word is recorded and confirmed once; anything else is ignored."""
        word = sms_notices.opt_out_word(text)
        if word is None or not sms_notices.opt_out(phone, word):
            return
        try:
            self.sender.send(phone, sms_notices.opted_out_text())
        except SmsUnavailable as err:
            log.warning("the opt-out confirmation was not sent: %s", err.message)

    def listen(self, receiver: SmppReceiver, stopping: threading.Event) -> None:
        """Takes in residents' replies until `stopping` is set."""
        receiver.listen(self.on_reply, stopping)
