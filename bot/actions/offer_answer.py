"""A yes or no outside a form: takes or declines what the assistant offered in its last turn.

This action starts what was offered (an application, a call-back). It lives apart from
bot/actions/offers.py, which the answers that make offers import, so that no action imports one that
imports it back (a contract of pyproject.toml keeps it so).
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.applications import ActionStartApplication
from bot.actions.handoff import ActionStartCallback
from bot.actions.offers import OFFER, REQUEST_CALLBACK, START_APPLICATION, offer_of_last_turn


class ActionAnswerOffer(Action):
    """A yes or no outside a form: takes or declines the offer just made, if there was one."""

    def name(self) -> str:
        return "action_answer_offer"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict]:
        offer = offer_of_last_turn(tracker.events)
        events: list[dict] = [SlotSet(OFFER, None)] if tracker.get_slot(OFFER) else []
        if offer is None:
            dispatcher.utter_message(response="utter_anything_else")
            return events
        if ((tracker.latest_message or {}).get("intent") or {}).get("name") == "deny":
            dispatcher.utter_message(response="utter_offer_declined")
            return events
        if offer == START_APPLICATION:
            return events + await ActionStartApplication().run(dispatcher, tracker, domain)
        if offer == REQUEST_CALLBACK:
            started = await ActionStartCallback().run(dispatcher, tracker, domain)
            return events + started + [FollowupAction("callback_form")]
        dispatcher.utter_message(response="utter_anything_else")
        return events
