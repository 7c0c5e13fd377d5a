"""Starting, pausing and submitting an application.

The forms themselves (one question at a time, checks, corrections) are in
bot/actions/forms/; these actions run around them, chosen by the rules in
dialogues/data/rules/applications.yml. How an application is going is told
by bot/actions/status.py.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot import texts
from bot.actions.context import catalogue, channel_of, service_name, turn_of, understand_latest
from bot.actions.forms import FORMS, active_form
from bot.actions.forms.base import CONFIRM, DECLINED, FAILURES, REQUESTED, say
from bot.actions.questions import ActionAnswerQuestion
from bot.actions.sms import offer_sms
from bot.services import applications
from bot.services.answers import payload


def form_slots() -> list[str]:
    """Every slot any application form fills, plus the forms' bookkeeping."""
    names = {slot for form in FORMS.values() for slot in form.fields}
    return sorted(names | {CONFIRM, FAILURES, DECLINED})


def reset_events() -> list[dict]:
    """Empties the application slots, so one application's answers never leak into the next."""
    return [SlotSet(slot, None) for slot in form_slots()] + [SlotSet(REQUESTED, None)]


def form_values(tracker: Tracker, service_id: str) -> dict[str, Any]:
    """The answers of a form, by field."""
    return {slot: tracker.get_slot(slot) for slot in FORMS[service_id].fields}


class ActionStartApplication(Action):
    """"帮我办居住证": starts (or resumes) the form of that service; other services are explained."""

    def name(self) -> str:
        return "action_start_application"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict]:
        understanding = understand_latest(tracker)
        current = active_form(tracker)
        if understanding.ambiguous:
            candidates = [c for c in understanding.candidates if c in FORMS] or list(understanding.candidates)
            return self._which_service(dispatcher, candidates, current)
        service_id = understanding.service or current or tracker.get_slot("service")
        if service_id is None:
            return self._which_service(dispatcher, list(FORMS), current)
        if service_id not in FORMS:
            # Not something the assistant can take in: explain how it is done instead.
            answered = await ActionAnswerQuestion().run(dispatcher, tracker, domain)
            return answered + ([FollowupAction(current)] if current else [])
        if service_id == current:
            say(dispatcher, "utter_application_already_filling", name=service_name(service_id))
            return [FollowupAction(current)]

        events: list[dict] = []
        if current:
            say(dispatcher, "utter_application_switch", previous=service_name(current), name=service_name(service_id))
            events.append(ActiveLoop(None))
        events += reset_events()
        draft = applications.draft_for(tracker.sender_id, service_id)
        answers = {k: v for k, v in (draft.values if draft else {}).items()
                   if k in FORMS[service_id].fields and v is not None}
        elsewhere = None if answers else applications.resume_by_proven_phone(tracker.sender_id, service_id)
        if elsewhere is not None:
            # The caller's number or a contact Telegram vouches for is the phone on file of a draft left elsewhere.
            answers = {k: v for k, v in elsewhere.values.items() if k in FORMS[service_id].fields and v is not None}
        if answers:
            resumed = "utter_application_resumed_elsewhere" if elsewhere is not None else "utter_application_resume"
            say(dispatcher, resumed, name=service_name(service_id))
            events += [SlotSet(slot, value) for slot, value in answers.items()]
        else:
            say(dispatcher, "utter_application_start", name=service_name(service_id))
        return events + [SlotSet("service", service_id), FollowupAction(service_id)]

    @staticmethod
    def _which_service(dispatcher: CollectingDispatcher, candidates: list[str], current: str | None) -> list[dict]:
        buttons = [{"title": service_name(c), "payload": payload("start_application", service=c)} for c in candidates]
        dispatcher.utter_message(text=texts.text("utter_application_which_service"), buttons=buttons)
        return [FollowupAction(current)] if current else []


class ActionPauseApplication(Action):
    """"不办了" or asking for a person mid-form: the answers so far are kept as a draft to come back to."""

    def name(self) -> str:
        return "action_pause_application"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict]:
        service_id = active_form(tracker) or tracker.get_slot("service")
        if service_id not in FORMS:
            return []
        values = form_values(tracker, service_id)
        if any(v not in (None, "") for v in values.values()):
            applications.save_draft(tracker.sender_id, channel_of(tracker), service_id, values,
                                    tracker.get_slot("requested_slot"))
        intent = ((tracker.latest_message or {}).get("intent") or {}).get("name")
        response = "utter_application_paused" if intent == "stop" else "utter_application_paused_for_help"
        say(dispatcher, response, name=service_name(service_id))
        return []


class ActionSubmitApplication(Action):
    """Submits a confirmed application: the reference, what happens next, the originals to bring."""

    def name(self) -> str:
        return "action_submit_application"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict]:
        service_id = last_form(tracker)
        if service_id is None or tracker.get_slot(CONFIRM) is not True:
            say(dispatcher, "utter_application_not_complete")
            return []
        values = {k: (v if v != "" else None) for k, v in form_values(tracker, service_id).items()}
        reference = applications.submit(tracker.sender_id, channel_of(tracker), service_id, values,
                                        turn_key=turn_of(tracker))
        shown = applications.display_reference(reference)
        service = catalogue().services.get(service_id)
        days = service.processing_time.working_days if service else 0
        processing = texts.text("utter_application_processing_days", days=days) if days else ""
        say(dispatcher, "utter_application_submitted", reference=shown, processing=processing)
        originals = [m.name for m in (service.materials if service else []) if m.original and m.required]
        if FORMS[service_id].in_person_step and originals:
            say(dispatcher, "utter_application_bring_originals", items="、".join(originals))
        elif not FORMS[service_id].in_person_step:
            say(dispatcher, "utter_application_no_visit")
        offer_sms(dispatcher, tracker.sender_id)
        return reset_events() + [SlotSet("application_reference", shown)]


def last_form(tracker: Tracker) -> str | None:
    """The application form that was active last (it has just completed when this is asked)."""
    for event in reversed(tracker.events):
        if event.get("event") == "active_loop" and event.get("name") in FORMS:
            return event["name"]
    service_id = tracker.get_slot("service")
    return service_id if service_id in FORMS else None
