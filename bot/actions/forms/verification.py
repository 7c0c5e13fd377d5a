"""Proving who one is in the middle of a form: the one-time code that lets a draft from elsewhere be resumed.

Typing an ID number and a phone that match a draft started in another
conversation only tells the person that the draft exists; the draft moves here
once they type the code sent to that phone (bot/services/identity.py).
"""

from __future__ import annotations

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot import texts
from bot.actions.context import catalogue
from bot.notify.sms import SmsUnavailable
from bot.services import guessing, identity
from bot.services.identity import CodeChecked

RESUME = "resume:"


def say(dispatcher: CollectingDispatcher, response: str, **values: object) -> None:
    """Utters a domain response with its buttons, values filled in."""
    variants = texts.load_responses().get(response) or [{}]
    dispatcher.utter_message(text=texts.text(response, **values), buttons=variants[0].get("buttons") or [])


def say_paused(dispatcher: CollectingDispatcher) -> None:
    """The polite refusal after too many failures, with a person and an appointment offered."""
    say(dispatcher, "utter_identity_lookups_paused", minutes=guessing.PAUSE_MINUTES)


def offer_resume(dispatcher: CollectingDispatcher, tracker: Tracker, service_id: str, name: str, phone: str,
                 id_number: str | None = None) -> None:
    """Says a draft exists elsewhere and sends a code to its phone (or says how else to continue); nothing more."""
    try:
        sent = identity.send_code(tracker.sender_id, phone, RESUME + service_id, id_number=id_number)
    except identity.LookupsPaused:
        say_paused(dispatcher)
        return
    except SmsUnavailable:
        say(dispatcher, "utter_application_exists_elsewhere_no_sms", name=name, hotline=catalogue().city.hotline)
        return
    say(dispatcher, "utter_application_exists_elsewhere_code_sent", name=name, tail=sent.phone_tail,
        minutes=identity.CODE_MINUTES)


def code_turn(dispatcher: CollectingDispatcher, tracker: Tracker, text: str | None = None) -> CodeChecked | None:
    """When the message (or `text`, the code the gateway took from it) is the code this conversation waits for:
    checks it and says how it went; else None."""
    text = (((tracker.latest_message or {}).get("text") or "") if text is None else text).strip()
    if not identity.looks_like_code(text) or identity.code_pending(tracker.sender_id) is None:
        return None
    checked = identity.check_code(tracker.sender_id, text)
    if checked.paused:
        say_paused(dispatcher)
    elif checked.proven:
        say(dispatcher, "utter_identity_confirmed")
    elif checked.tries_left > 0:
        say(dispatcher, "utter_identity_code_wrong", tries=checked.tries_left)
    else:
        say(dispatcher, "utter_identity_code_used_up")
    return checked


def proven_another_way(tracker: Tracker, service_id: str, id_number: str | None, phone: str | None) -> bool:
    """While a resume code is pending: whether the phone was proven meanwhile another way (a Telegram contact)."""
    if not (id_number and phone) or identity.code_pending(tracker.sender_id) != RESUME + service_id:
        return False
    if not identity.proven_for(tracker.sender_id, id_number, phone):
        return False
    identity.forget_code(tracker.sender_id)
    return True
