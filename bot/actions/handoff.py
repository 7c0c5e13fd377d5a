"""Actions that put a person through to staff, including urgent cases, and the call-back they may choose instead.

`hand_off` is also what a form calls after the second answer it could not
accept, so a person is never stuck in a loop with the assistant.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import ActiveLoop, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot import texts
from bot.actions.context import catalogue, channel_of
from bot.actions.forms.fields import Accepted, check_phone, is_yes
from bot.privacy import mask_phone
from bot.ratelimit import RateLimited
from bot.services import callbacks, handoff

# Forms of this module and its siblings that a handoff ends (application forms pause themselves by their own rules).
GUIDED_FORMS = ("appointment_form", "appointment_change_form", "callback_form", "feedback_form")
FAILURES = "form_failures"
# Set when a guided form ends without a result (handed to staff, nothing bookable): its submit step does nothing.
ENDED_EARLY = "form_ended_early"
HANDOFF_AFTER_FAILURES = 2


def latest_intent(tracker: Tracker) -> str | None:
    """The intent of the person's latest message."""
    return ((tracker.latest_message or {}).get("intent") or {}).get("name")


def entity(tracker: Tracker, name: str) -> str | None:
    """The value of an entity in the latest message (button payloads carry them), or None."""
    for item in (tracker.latest_message or {}).get("entities") or []:
        if item.get("entity") == name and item.get("value") not in (None, ""):
            return str(item["value"])
    return None


def hand_off(dispatcher: CollectingDispatcher, tracker: Tracker, reason: str) -> list[dict[str, Any]]:
    """Queues the person for staff and tells them their place and wait (or the alternatives when nobody can answer).

    `reason` is "requested", "emergency", "not_understood" or "validation". The
    returned events end any of the guided forms that was running.
    """
    if reason == "emergency":
        dispatcher.utter_message(text=texts.text("utter_emergency_numbers", **catalogue().city.emergency))
    context = {"service": tracker.get_slot("service"), "form": (tracker.active_loop or {}).get("name"),
               "requested_slot": tracker.get_slot("requested_slot")}
    try:
        place = handoff.request(tracker.sender_id, channel_of(tracker), tracker.get_slot("service"), reason,
                                context=context)
    except RateLimited as err:
        dispatcher.utter_message(text=err.message)
        return [SlotSet(FAILURES, 0)]
    dispatcher.utter_message(json_message=handoff.QUEUED_SIGNAL)
    if place.staffed:
        response = "utter_handoff_queued"
    elif place.busy:
        response = "utter_handoff_busy"
    else:
        response = "utter_handoff_unstaffed"
    dispatcher.utter_message(text=texts.text(response, position=place.position, minutes=place.wait_minutes),
                             buttons=texts.buttons(response))
    events: list[dict[str, Any]] = [SlotSet(FAILURES, 0)]
    if (tracker.active_loop or {}).get("name") in GUIDED_FORMS:
        events += [ActiveLoop(None), SlotSet("requested_slot", None)]
    return events


def reason_for(tracker: Tracker) -> str:
    """Why the person asked for staff: an emergency or their own request."""
    return "emergency" if latest_intent(tracker) == "emergency" else "requested"


class ActionRequestHandoff(Action):
    """Queues the conversation for a staff member and tells the person their place and wait."""

    def name(self) -> str:
        return "action_request_handoff"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict]:
        return hand_off(dispatcher, tracker, reason_for(tracker))


class HandsOffAfterTwoFailures(FormValidationAction):
    """A guided form that brings in a staff member after the second answer in a row it could not accept."""

    @abstractmethod
    def name(self) -> str:
        """Every form's validation action names itself (abstract, so the action server skips this base)."""

    async def get_validation_events(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                                    domain: dict[str, Any]) -> list[dict[str, Any]]:
        # The action that starts a form clears its slots (SlotSet None); those are not answers to check.
        answered = {name: value for name, value in tracker.slots_to_validate().items() if value is not None}
        tracker.slots_to_validate = lambda: answered
        return await super().get_validation_events(dispatcher, tracker, domain)

    def accepted(self, slot: str, value: Any) -> dict[str, Any]:
        """The slot's accepted value; the failure count starts again."""
        return {slot: value, FAILURES: 0}

    def rejected(self, slot: str, response: str, dispatcher: CollectingDispatcher, tracker: Tracker,
                 **values: Any) -> dict[str, Any]:
        """Explains the problem; on the second failure in a row hands the person to staff and ends the form."""
        failures = int(tracker.get_slot(FAILURES) or 0) + 1
        if failures < HANDOFF_AFTER_FAILURES:
            dispatcher.utter_message(text=texts.text(response, **values), buttons=texts.buttons(response))
            return {slot: None, FAILURES: failures}
        dispatcher.utter_message(response="utter_form_handed_off")
        hand_off(dispatcher, tracker, "validation")
        return {slot: None, FAILURES: 0, ENDED_EARLY: True, "requested_slot": None}

    async def next_requested_slot(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                                  domain: dict[str, Any]) -> dict[str, Any] | None:
        if tracker.slots.get(ENDED_EARLY):
            return SlotSet("requested_slot", None)
        return await super().next_requested_slot(dispatcher, tracker, domain)


def ended_early(tracker: Tracker) -> bool:
    """True when the form just ended without a result (the person was handed to staff, nothing to submit)."""
    return bool(tracker.get_slot(ENDED_EARLY))


class ActionStartCallback(Action):
    """Starts the call-back request: leaves the staff queue and reuses a phone number already given."""

    def name(self) -> str:
        return "action_start_callback"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict]:
        handoff.withdraw(tracker.sender_id, "callback")
        events: list[dict[str, Any]] = [SlotSet("callback_window", None), SlotSet(FAILURES, 0),
                                        SlotSet(ENDED_EARLY, None)]
        known = tracker.get_slot("phone") or tracker.get_slot("appointment_phone")
        answer = check_phone(known) if known else None
        events.append(SlotSet("callback_phone", answer.value if isinstance(answer, Accepted) else None))
        return events


class ValidateCallbackForm(HandsOffAfterTwoFailures):
    """Checks the call-back phone number and time window."""

    def name(self) -> str:
        return "validate_callback_form"

    def validate_callback_phone(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                domain: dict[str, Any]) -> dict[str, Any]:
        answer = check_phone(str(value))
        if isinstance(answer, Accepted):
            return self.accepted("callback_phone", answer.value)
        return self.rejected("callback_phone", "utter_callback_phone_invalid", dispatcher, tracker)

    def validate_callback_window(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                 domain: dict[str, Any]) -> dict[str, Any]:
        window = window_of(entity(tracker, "time_window") or str(value))
        if window is None:
            return self.rejected("callback_window", "utter_ask_callback_window", dispatcher, tracker)
        return self.accepted("callback_window", window)


def window_of(text: str) -> str | None:
    """morning / afternoon / any from a button value or words like 上午, 下午, 都行."""
    text = (text or "").strip().lower()
    if text in callbacks.TIME_WINDOWS:
        return text
    if "上午" in text or "早" in text:
        return "morning"
    if "下午" in text or "午后" in text:
        return "afternoon"
    if any(word in text for word in ("都", "随时", "任何", "什么时候", "不限")) or is_yes(text):
        return "any"
    return None


class ActionRequestCallback(Action):
    """Stores the call-back request as a task for staff and tells the person when to expect the call."""

    def name(self) -> str:
        return "action_request_callback"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict]:
        phone, window = tracker.get_slot("callback_phone"), tracker.get_slot("callback_window")
        if ended_early(tracker) or not phone or not window:
            return [SlotSet(ENDED_EARLY, None)]
        try:
            callbacks.request_callback(tracker.sender_id, channel_of(tracker), phone, window,
                                       tracker.get_slot("service"))
        except RateLimited as err:
            dispatcher.utter_message(text=err.message)
            return [SlotSet("callback_phone", None), SlotSet("callback_window", None)]
        dispatcher.utter_message(text=texts.text("utter_callback_booked", window=callbacks.window_name(window),
                                                 phone=mask_phone(phone), hotline=catalogue().city.hotline))
        # The number is kept encrypted with the task; the conversation need not hold it any longer.
        return [SlotSet("callback_phone", None), SlotSet("callback_window", None)]
