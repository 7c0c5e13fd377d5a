"""Telling how a person's applications are going: "我的居住证办到哪一步了".

Asked with a reference and a phone, the applications found are read out; asked with an ID number and a
phone, only once a one-time code sent to that phone has proven the person holds it (knowing someone's
numbers lists nothing). With no numbers, the applications of this conversation are told, or the person
is asked to identify. ActionNotUnderstood (bot/actions/questions.py) hands a status question over to this action.
"""

from __future__ import annotations

import re
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot import texts
from bot.actions.context import catalogue, service_name, understand_latest
from bot.actions.forms import active_form, fields, verification
from bot.actions.forms.base import say
from bot.notify.sms import SmsUnavailable
from bot.services import applications, guessing, identity

LOOKUP_PENDING = "status_lookup_pending"
# The purpose of a code sent for a status question by ID number: the number's fingerprint follows.
STATUS_PURPOSE = "status:"
# At most this many applications are read out in one status answer (it may be read aloud on the phone).
MAX_STATUS_LINES = 3
# Numbers as people type them in a status question: digits with dashes inside.
_NUMBER_TOKEN = re.compile(r"[0-9Xx][0-9Xx\-－—]*[0-9Xx]")


def id_fingerprint(id_number: str | None) -> str | None:
    """The keyed fingerprint of an ID number typed in a lookup, for counting failures per person."""
    return identity.fingerprint(id_number) if id_number else None


def numbers_in(text: str) -> tuple[str | None, str | None, str | None]:
    """A reference, an ID number and a phone number written in a message (each None when absent)."""
    reference = applications.find_reference(text)
    id_number = phone = None
    for token in _NUMBER_TOKEN.findall(text or ""):
        digits = re.sub(r"[\-－—]", "", token)
        if len(digits) == 18 and isinstance(fields.check_id_number(digits), fields.Accepted):
            id_number = digits.upper()
        elif len(digits) == 11 and isinstance(fields.check_phone(digits), fields.Accepted):
            phone = digits
    return reference, id_number, phone


def status_lines(found: list[applications.Summary]) -> list[str]:
    """One sentence per application: its status in plain words and the staff's note."""
    lines = []
    for item in found[:MAX_STATUS_LINES]:
        name = service_name(item.service_id)
        if item.status == applications.DRAFT:
            lines.append(texts.text("utter_application_status_draft_line", name=name))
            continue
        note = texts.text("utter_application_status_note", note=item.note) if item.note else ""
        lines.append(texts.text("utter_application_status_line", name=name,
                                reference=applications.display_reference(item.reference or ""),
                                status=applications.status_text(item.status), note=note))
    return lines


class ActionApplicationStatus(Action):
    """"我的居住证办到哪一步了": the status of the person's applications; asks them to identify when unknown."""

    def name(self) -> str:
        return "action_application_status"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict]:
        text = (tracker.latest_message or {}).get("text") or ""
        service_id = understand_latest(tracker).service
        in_form = active_form(tracker) is not None
        reference, id_number, phone = numbers_in(text)
        if tracker.get_slot(LOOKUP_PENDING) and not reference:
            checked = verification.code_turn(dispatcher, tracker)
            if checked is not None:
                return self._after_code(dispatcher, checked, tracker)
        if (reference or id_number) and guessing.paused(guessing.keys(tracker.sender_id, id_fingerprint(id_number))):
            verification.say_paused(dispatcher)
            return [SlotSet(LOOKUP_PENDING, False)]
        if phone and id_number and not reference and not identity.proven_for(tracker.sender_id, id_number, phone):
            # Knowing someone's numbers lists nothing: the code goes to the phone, and its holder sees the list.
            return self._send_code(dispatcher, tracker, id_number, phone)
        if phone and (reference or id_number):
            found = applications.identify(tracker.sender_id, phone, reference=reference, id_number=id_number)
            if not found and guessing.count_failure(guessing.keys(tracker.sender_id, id_fingerprint(id_number))):
                verification.say_paused(dispatcher)
            elif not found:
                say(dispatcher, "utter_application_status_not_found", hotline=catalogue().city.hotline)
            for line in status_lines(found):
                dispatcher.utter_message(text=line)
            return [SlotSet(LOOKUP_PENDING, False)]

        found = applications.for_conversation(tracker.sender_id, service_id)
        if not found and service_id:
            found = applications.for_conversation(tracker.sender_id)
        if found:
            for line in status_lines(found):
                dispatcher.utter_message(text=line)
            return [SlotSet(LOOKUP_PENDING, False)]
        if in_form:
            say(dispatcher, "utter_application_status_none_in_form")
            return []
        if tracker.get_slot(LOOKUP_PENDING):
            say(dispatcher, "utter_application_status_not_found", hotline=catalogue().city.hotline)
            return [SlotSet(LOOKUP_PENDING, False)]
        say(dispatcher, "utter_application_status_identify")
        return [SlotSet(LOOKUP_PENDING, True)]

    @staticmethod
    def _send_code(dispatcher: CollectingDispatcher, tracker: Tracker, id_number: str, phone: str) -> list[dict]:
        try:
            sent = identity.send_code(tracker.sender_id, phone, STATUS_PURPOSE + identity.fingerprint(id_number),
                                      id_number=id_number)
        except identity.LookupsPaused:
            verification.say_paused(dispatcher)
            return [SlotSet(LOOKUP_PENDING, False)]
        except SmsUnavailable:
            say(dispatcher, "utter_application_status_no_sms", hotline=catalogue().city.hotline)
            return [SlotSet(LOOKUP_PENDING, False)]
        say(dispatcher, "utter_application_status_code_sent", tail=sent.phone_tail, minutes=identity.CODE_MINUTES)
        return [SlotSet(LOOKUP_PENDING, True)]

    @staticmethod
    def _after_code(dispatcher: CollectingDispatcher, checked: identity.CodeChecked, tracker: Tracker) -> list[dict]:
        purpose = checked.purpose or ""
        if not checked.proven:
            return [SlotSet(LOOKUP_PENDING, checked.tries_left > 0)]
        if purpose.startswith(STATUS_PURPOSE) and checked.phone_fingerprint:
            found = applications.proven_lookup(tracker.sender_id, purpose.removeprefix(STATUS_PURPOSE),
                                               checked.phone_fingerprint)
            if not found:
                say(dispatcher, "utter_application_status_not_found", hotline=catalogue().city.hotline)
            for line in status_lines(found):
                dispatcher.utter_message(text=line)
        return [SlotSet(LOOKUP_PENDING, False)]
