"""Ratings (政务服务好差评) after a staff conversation or a finished task, and complaints about the service."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot import texts
from bot.actions.context import channel_of
from bot.actions.forms.fields import is_no
from bot.actions.handoff import HandsOffAfterTwoFailures, entity, latest_intent
from bot.services import feedback

# Answers to "what went wrong?" that mean "nothing to add".
NO_COMMENT_INTENTS = {"skip", "deny", "stop"}
NO_COMMENT_MAX_LENGTH = 5


class ActionRecordRating(Action):
    """Stores the rating from a rating button; a low one goes on to ask for a comment."""

    def name(self) -> str:
        return "action_record_rating"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict]:
        level_text, subject = entity(tracker, "rating"), entity(tracker, "rated")
        if not (level_text and level_text.isdigit() and int(level_text) in feedback.LEVELS):
            dispatcher.utter_message(response="utter_rating_not_understood")
            return [SlotSet("rating_low", False)]
        try:
            result = feedback.rate(tracker.sender_id, channel_of(tracker), subject or "", int(level_text))
        except feedback.RatingRefused:
            # Not this conversation's to rate, or rated already: the same short answer either way.
            dispatcher.utter_message(response="utter_rating_not_understood")
            return [SlotSet("rating_low", False)]
        low = result.level <= feedback.FOLLOW_UP_AT_OR_BELOW
        if not low:
            dispatcher.utter_message(response="utter_rating_thanks")
        return [SlotSet("rating_low", low), SlotSet("rating_id", float(result.rating_id)),
                SlotSet("feedback_comment", None)]


class ValidateFeedbackForm(HandsOffAfterTwoFailures):
    """Takes the optional comment; "不用了" means none."""

    def name(self) -> str:
        return "validate_feedback_form"

    def validate_feedback_comment(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                  domain: dict[str, Any]) -> dict[str, Any]:
        text = str(value or "").strip()
        # Only a short answer can mean "nothing to add": a sentence is a comment whatever the engine read in it.
        declined = latest_intent(tracker) in NO_COMMENT_INTENTS and len(text) <= NO_COMMENT_MAX_LENGTH
        if declined or is_no(text) or text.startswith("/"):
            return self.accepted("feedback_comment", "")
        return self.accepted("feedback_comment", text)


def take_as_comment(dispatcher: CollectingDispatcher, tracker: Tracker) -> list[dict] | None:
    """While the rating asks "what went wrong?", any answer is the comment, whatever the engine read in it.

    A complaint ("等了好久才有人回") or an unclear sentence would otherwise be taken by another rule
    and the comment lost; the actions of those rules call this first. None when no comment is asked.
    """
    if (tracker.active_loop or {}).get("name") != "feedback_form":
        return None
    comment, rating_id = (tracker.latest_message or {}).get("text") or "", tracker.get_slot("rating_id")
    if comment and rating_id:
        feedback.add_comment(int(rating_id), comment)
    dispatcher.utter_message(response="utter_feedback_comment_saved")
    return [ActiveLoop(None), SlotSet("requested_slot", None), SlotSet("feedback_comment", None),
            SlotSet("rating_low", None), SlotSet("rating_id", None)]


class ActionSaveFeedbackComment(Action):
    """Adds the comment to the rating and its follow-up task."""

    def name(self) -> str:
        return "action_save_feedback_comment"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict]:
        comment, rating_id = tracker.get_slot("feedback_comment") or "", tracker.get_slot("rating_id")
        if comment and rating_id:
            feedback.add_comment(int(rating_id), comment)
            dispatcher.utter_message(response="utter_feedback_comment_saved")
        else:
            dispatcher.utter_message(response="utter_feedback_comment_skipped")
        return [SlotSet("feedback_comment", None), SlotSet("rating_low", None), SlotSet("rating_id", None)]


class ActionRecordComplaint(Action):
    """Records a complaint about the service for a supervisor and offers a person right away."""

    def name(self) -> str:
        return "action_record_complaint"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict]:
        taken = take_as_comment(dispatcher, tracker)
        if taken is not None:
            return taken
        text = (tracker.latest_message or {}).get("text") or ""
        feedback.record_complaint(tracker.sender_id, channel_of(tracker), text, tracker.get_slot("service"))
        dispatcher.utter_message(text=texts.text("utter_complain_ack"), buttons=texts.buttons("utter_complain_ack"))
        return []
