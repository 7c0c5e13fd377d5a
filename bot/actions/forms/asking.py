"""The questions of the common fields and the read-back before submitting.

A form asks for `full_name`, `id_number`, `phone` and `address` through these
actions rather than fixed responses, so that what the person told us before is
offered back ("还用尾号5678的手机号吗？") instead of asked again.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot import texts
from bot.actions.forms import FORMS, fields
from bot.actions.forms.base import CONFIRM, REQUESTED, label, latest_intent, offered_value, say


def question_for(form: str | None, slot: str) -> str:
    """The form's own wording of a common question when it has one (e.g. 老人的姓名), else the shared one."""
    own = f"utter_question_{form}_{slot}"
    return own if own in texts.load_responses() else f"utter_question_{slot}"


class AskCommonField(Action, ABC):
    """Asks for a common field, or offers the value the person gave before."""

    @property
    @abstractmethod
    def slot(self) -> str:
        """The field asked for."""

    def name(self) -> str:
        return f"action_ask_{self.slot}"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict]:
        form = (tracker.active_loop or {}).get("name")
        known = offered_value(self.slot, tracker)
        if known:
            say(dispatcher, f"utter_offer_{self.slot}", tail=known[-4:], full_name=known, address=known)
        else:
            say(dispatcher, question_for(form, self.slot))
        return []


class AskFullName(AskCommonField):
    """Asks for the name."""

    slot = "full_name"


class AskIdNumber(AskCommonField):
    """Asks for the ID number."""

    slot = "id_number"


class AskPhone(AskCommonField):
    """Asks for the mobile number."""

    slot = "phone"


class AskAddress(AskCommonField):
    """Asks for the address."""

    slot = "address"


class AskConfirmation(Action):
    """Reads the answers back (ID number and phone masked) and asks to confirm; after "要修改", which field."""

    def name(self) -> str:
        return f"action_ask_{CONFIRM}"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict]:
        form = FORMS.get((tracker.active_loop or {}).get("name") or "")
        if form is None:
            return []
        intent, _ = latest_intent(tracker)
        text = (tracker.latest_message or {}).get("text") or ""
        if tracker.get_slot(REQUESTED) == CONFIRM and (intent == "deny" or fields.is_no(text)):
            form.offer_fields(dispatcher)
            return []
        lines = [texts.text("utter_application_summary_line", label=label(slot),
                            value=fields.display(slot, tracker.get_slot(slot))) for slot in form.fields]
        say(dispatcher, "utter_application_summary", lines="\n".join(lines))
        return []
