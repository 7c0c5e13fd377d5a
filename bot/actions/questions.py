"""Actions that answer questions about services, handle what was not understood, and repeat."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot import texts
from bot.actions.feedback import take_as_comment
from bot.actions.handoff import hand_off
from bot.actions.context import catalogue, channel_of, send, service_hint, understand_latest
from bot.actions.offers import REQUEST_CALLBACK, START_APPLICATION, made
from bot.actions.status import ActionApplicationStatus
from bot.services import answers, insights
from bot.understanding.access import cannot_come

# A message this long that names no known service is probably about a service we do not have.
UNKNOWN_SERVICE_MIN_LENGTH = 6
NOT_UNDERSTOOD_INTENTS = {"nlu_fallback", "out_of_scope"}
# Questions that, from someone who cannot come ("去不了", "能代办吗"), ask about proxy handling and home visits.
ACCESS_INTENTS = {"ask_how_to_apply", "ask_eligibility", "ask_location_hours", "ask_materials"}


class ActionAnswerQuestion(Action):
    """Answers what/materials/where/fee/time/eligibility questions from the knowledge base."""

    def name(self) -> str:
        return "action_answer_question"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict]:
        understanding = understand_latest(tracker)
        current = catalogue()
        intent = understanding.intent if understanding.intent in answers.QUESTION_INTENTS else "ask_how_to_apply"
        message = tracker.latest_message or {}
        details = {e.get("value") for e in message.get("entities") or [] if e.get("entity") == "detail"}
        service_id = understanding.service or service_hint(tracker) or tracker.get_slot("service")
        if "access" in details or (intent in ACCESS_INTENTS and cannot_come(message.get("text") or "")):
            service = current.services.get(service_id) if not understanding.ambiguous else None
            send(dispatcher, answers.for_those_who_cannot_come(current, service))
            return [made(REQUEST_CALLBACK)] + ([SlotSet("service", service.id)] if service else [])
        if understanding.ambiguous:
            insights.record_clarification(tracker.sender_id, channel_of(tracker))
            send(dispatcher, [answers.which_service(list(understanding.candidates), current, intent)])
            return []
        if service_id not in current.services:
            text = (tracker.latest_message or {}).get("text") or ""
            faq = answers.faq_answer(current, text)
            if faq is not None:
                send(dispatcher, [faq[1]])
                return [SlotSet("service", faq[0])]
            if len(text) >= UNKNOWN_SERVICE_MIN_LENGTH:
                insights.record_unanswered(tracker.sender_id, channel_of(tracker), text, intent,
                                           understanding.intent_confidence, "unknown_service")
                dispatcher.utter_message(
                    text=texts.text("utter_service_not_in_catalogue", hotline=current.city.hotline),
                    buttons=texts.buttons("utter_service_not_in_catalogue"),
                )
            insights.record_clarification(tracker.sender_id, channel_of(tracker))
            send(dispatcher, [answers.which_service([], current, intent)])
            return []
        service = current.services[service_id]
        send(dispatcher, answers.answer(current, intent, service, details=bool(details)))
        events = [SlotSet("service", service_id)]
        if intent == "ask_how_to_apply" and service.apply_via_assistant:
            events.append(made(START_APPLICATION))  # the answer ends with "要我现在一步步帮您申请吗？"
        return events


class ActionNotUnderstood(Action):
    """Out-of-scope or not understood: a friendly redirect; the second time in a row, offers a person."""

    def name(self) -> str:
        return "action_not_understood"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict]:
        taken = take_as_comment(dispatcher, tracker)
        if taken is not None:
            return taken
        understanding = understand_latest(tracker)
        if understanding.public_intent == "check_status":
            # The numbers after "办到哪一步了" made the engine read an answer to a question; the words ask for a status.
            return await ActionApplicationStatus().run(dispatcher, tracker, domain)
        if understanding.service and understanding.public_intent != "out_of_scope":
            # The engine was unsure, but the message clearly names a service: answer about it.
            return await ActionAnswerQuestion().run(dispatcher, tracker, domain)
        text = (tracker.latest_message or {}).get("text") or ""
        faq = answers.faq_answer(catalogue(), text)
        if faq is not None:
            # A question a supervisor answered from the unanswered list: its answer, not a redirect.
            send(dispatcher, [faq[1]])
            return [SlotSet("service", faq[0])]
        reason = "out_of_scope" if understanding.intent == "out_of_scope" else "low_confidence"
        insights.record_unanswered(tracker.sender_id, channel_of(tracker), text, understanding.intent,
                                   understanding.intent_confidence, reason)
        if previous_turn_not_understood(tracker):
            # Twice in a row: a person takes over (or, with nobody on duty, an appointment or call-back).
            dispatcher.utter_message(response="utter_not_understood_twice")
            return hand_off(dispatcher, tracker, "not_understood")
        if reason == "out_of_scope":
            send(dispatcher, [answers.out_of_scope(catalogue())])
        else:
            dispatcher.utter_message(response="utter_not_understood")
        return []


def previous_turn_not_understood(tracker: Tracker) -> bool:
    """True when the person's message before the latest one was also not understood."""
    user_events = [e for e in tracker.events if e.get("event") == "user"]
    if len(user_events) < 2:
        return False
    previous = (user_events[-2].get("parse_data") or {}).get("intent") or {}
    return previous.get("name") in NOT_UNDERSTOOD_INTENTS


class ActionRepeat(Action):
    """Says again what the assistant said last ("再说一遍", "没听清", "说慢点")."""

    def name(self) -> str:
        return "action_repeat"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict]:
        last_turn = last_bot_turn(tracker.events)
        if not last_turn:
            dispatcher.utter_message(response="utter_nothing_to_repeat")
        for event in last_turn:
            data = event.get("data") or {}
            dispatcher.utter_message(text=event.get("text"), buttons=data.get("buttons") or None)
        return []


def last_bot_turn(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The bot messages of the turn before the latest user message."""
    user_positions = [i for i, e in enumerate(events) if e.get("event") == "user"]
    if len(user_positions) < 2:
        return []
    start, end = user_positions[-2], user_positions[-1]
    return [e for e in events[start:end] if e.get("event") == "bot" and e.get("text")]
