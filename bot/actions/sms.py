"""Text messages on request: the offer after a booking or an application, and the resident's "短信提醒我"."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot import texts
from bot.actions.forms import verification
from bot.services import identity, sms_notices

REPLIES = {
    "on": "utter_sms_opt_in_done",
    "already_on": "utter_sms_opt_in_already",
    "by_channel": "utter_sms_opt_in_by_channel",
    "no_phone": "utter_sms_opt_in_no_phone",
    "opted_out": "utter_sms_opt_in_opted_out",
    "code_sent": "utter_sms_opt_in_code_sent",
    "no_sms": "utter_sms_opt_in_no_sms",
}


def offer_sms(dispatcher: CollectingDispatcher, conversation_id: str) -> None:
    """Offers texts when the conversation left a mobile number and nothing texts it yet (a web or Telegram user)."""
    phone = sms_notices.offer_to(conversation_id)
    if phone is not None:
        dispatcher.utter_message(text=texts.text("utter_sms_offer", phone=phone),
                                 buttons=texts.buttons("utter_sms_offer"))


class ActionSmsOptIn(Action):
    """Opts the conversation in to texts and says so, with the opt-out word; or sends a code to confirm the
    number first; or says why it cannot. The gateway hands it the code typed back (bot/conversation.py)."""

    def name(self) -> str:
        return "action_sms_opt_in"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict]:
        code = ((tracker.latest_message or {}).get("metadata") or {}).get(sms_notices.CODE_METADATA)
        if code:
            checked = verification.code_turn(dispatcher, tracker, str(code))
            if checked is None or not checked.proven:
                return []  # a wrong, late or paused code: code_turn said so
        result = sms_notices.opt_in(tracker.sender_id)
        if result.outcome == "paused":
            verification.say_paused(dispatcher)
            return []
        dispatcher.utter_message(text=texts.text(REPLIES[result.outcome], phone=result.phone or "",
                                                 hotline=sms_notices.hotline(), minutes=identity.CODE_MINUTES))
        return []
