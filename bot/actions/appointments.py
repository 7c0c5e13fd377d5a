"""Booking a visit to a service centre, and cancelling or moving it by its code and the booking phone's last 4 digits.

The person picks everything from buttons (district, then one of the next free
slots of the nearest centre that handles the service); typed answers work too,
and a name or phone given earlier in the conversation is offered back.
"""

from __future__ import annotations

import re
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot import texts
from bot.actions.context import catalogue, channel_of, turn_of, understand_latest
from bot.actions.forms.verification import say_paused
from bot.actions.forms.fields import Accepted, check_full_name, check_phone, is_yes
from bot.actions.sms import offer_sms
from bot.actions.handoff import (ENDED_EARLY, FAILURES, HandsOffAfterTwoFailures, ended_early, entity,
                                 latest_intent)
from bot.errors import Conflict, InvalidRequest, NotFound
from bot.privacy import mask_name, mask_phone
from bot.ratelimit import RateLimited
from bot.services import appointments, feedback, guessing, handoff
from bot.services.answers import payload

POPULAR_SERVICES = ("social_security_card", "residence_permit", "id_card", "senior_card", "medical_reimbursement",
                    "housing_fund_withdrawal")
BOOKING_SLOTS = ("appointment_slot", "appointment_options", "appointment_name", "appointment_phone")
CHANGE_SLOTS = ("appointment_code", "appointment_phone_tail", "appointment_change", "appointment_new_slot",
                "appointment_options")
PHONE_TAIL = re.compile(r"(?<!\d)(\d{4})(?!\d)")
# Digits as a caller says them (the phone line hears words, not keys): 五六七八, 幺三两零.
SPOKEN_DIGITS = str.maketrans("零〇一幺二两三四五六七八九", "0011223456789")
ORDINALS = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8}


def _people_known(conversation_id: str, field: str) -> str | None:
    """A detail the person gave in an application on any channel (None when nothing is known)."""
    try:
        from bot.services import people
    except ImportError:  # pragma: no cover - the people service is optional for booking
        return None
    known = people.known_for(conversation_id)
    return known.get(field) if known else None


def known_name(tracker: Tracker) -> str | None:
    """A name already given in this conversation (an application's, or a profile's)."""
    return tracker.get_slot("full_name") or _people_known(tracker.sender_id, "full_name")


def known_phone(tracker: Tracker) -> str | None:
    """A mobile number already given in this conversation."""
    for value in (tracker.get_slot("phone"), tracker.get_slot("callback_phone"),
                  _people_known(tracker.sender_id, "phone")):
        answer = check_phone(value) if value else None
        if isinstance(answer, Accepted):
            return answer.value
    return None


def slot_buttons(options: list[appointments.SlotOption]) -> list[dict[str, str]]:
    """One button per slot, titled in plain words, e.g. 明天（11月23日 星期一）上午 9:00-9:30."""
    today = appointments.local_now().date()
    return [{"title": appointments.slot_label(o.start, o.end, today),
             "payload": payload("inform", appointment_slot=o.key)} for o in options]


def chosen_slot(value: Any, tracker: Tracker) -> tuple[str, Any] | None:
    """The slot a person picked: a button's key, or "第二个" / "2" among the slots offered last."""
    text = str(entity(tracker, "appointment_slot") or value or "").strip()
    parsed = appointments.parse_slot_key(text)
    if parsed:
        return parsed
    options = tracker.get_slot("appointment_options") or []
    match = re.search(r"\d+", text)
    index = int(match.group()) if match else next((n for ch, n in ORDINALS.items() if ch in text), None)
    if index and 1 <= index <= len(options):
        return appointments.parse_slot_key(options[index - 1])
    return None


def back_to_form(form: str) -> list[dict[str, Any]]:
    """The form active again, asking its next question, without taking this turn's message as an answer again.

    A form started anew (a follow-up alone) first fills its slots from the person's latest message: a time
    picked from the buttons ("/inform{"appointment_slot": ...}") would be taken again, the booking tried again
    on the time just found full, and so on until Rasa stops the turn. Active already, the form asks instead.
    """
    return [ActiveLoop(form), FollowupAction(form)]


def _end_form() -> list[dict[str, Any]]:
    return [SlotSet(ENDED_EARLY, True), ActiveLoop(None), SlotSet("requested_slot", None)]


class ActionStartAppointment(Action):
    """Starts a booking: leaves the staff queue (the person chose a visit instead) and clears the last booking's answers."""

    def name(self) -> str:
        return "action_start_appointment"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict]:
        handoff.withdraw(tracker.sender_id, "appointment")
        events = [SlotSet(name, None) for name in BOOKING_SLOTS]
        events += [SlotSet(FAILURES, 0), SlotSet(ENDED_EARLY, None)]
        district = appointments.match_district(entity(tracker, "district") or "")
        if district:
            events.append(SlotSet("appointment_district", district))
        return events


class ActionAskAppointmentFormService(Action):
    """Asks which service the visit is for, with the most asked ones as buttons."""

    def name(self) -> str:
        return "action_ask_appointment_form_service"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict]:
        services = catalogue().services
        buttons = [{"title": services[s].short_name, "payload": payload("inform", service=s)}
                   for s in POPULAR_SERVICES if s in services]
        dispatcher.utter_message(text=texts.text("utter_ask_appointment_service"), buttons=buttons)
        return []


class ActionAskAppointmentDistrict(Action):
    """Asks the person's district, one button per district that has a centre."""

    def name(self) -> str:
        return "action_ask_appointment_district"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict]:
        buttons = [{"title": d, "payload": payload("inform", district=d)} for d in appointments.districts()]
        dispatcher.utter_message(text=texts.text("utter_ask_appointment_district"), buttons=buttons)
        return []


class ActionAskAppointmentSlot(Action):
    """Offers the next free slots of the nearest centre that handles the service."""

    def name(self) -> str:
        return "action_ask_appointment_slot"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict]:
        service_id = tracker.get_slot("service")
        service = catalogue().services.get(service_id)
        centre, options = appointments.nearest_with_free_slots(service_id, tracker.get_slot("appointment_district"))
        if centre is None or service is None:
            response = "utter_appointment_no_slots"
            dispatcher.utter_message(
                text=texts.text(response, service=service.short_name if service else "",
                                hotline=catalogue().city.hotline),
                buttons=texts.buttons(response))
            return _end_form()
        dispatcher.utter_message(
            text=texts.text("utter_appointment_offer_slots", service=service.short_name, centre=centre.name,
                            address=centre.address),
            buttons=slot_buttons(options))
        return [SlotSet("appointment_options", [o.key for o in options])]


class ActionAskAppointmentName(Action):
    """Asks whose appointment it is, offering a name given earlier."""

    def name(self) -> str:
        return "action_ask_appointment_name"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict]:
        name = known_name(tracker)
        if name:
            dispatcher.utter_message(
                text=texts.text("utter_appointment_use_known_name", name=mask_name(name)),
                buttons=[{"title": texts.text("utter_button_yes"), "payload": "/affirm"}])
        else:
            dispatcher.utter_message(response="utter_ask_appointment_name")
        return []


class ActionAskAppointmentPhone(Action):
    """Asks a mobile number, offering one given earlier."""

    def name(self) -> str:
        return "action_ask_appointment_phone"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict]:
        phone = known_phone(tracker)
        if phone:
            dispatcher.utter_message(
                text=texts.text("utter_appointment_use_known_phone", phone=mask_phone(phone)),
                buttons=[{"title": texts.text("utter_button_yes"), "payload": "/affirm"}])
        else:
            dispatcher.utter_message(response="utter_ask_appointment_phone")
        return []


def _said_yes(value: Any, tracker: Tracker) -> bool:
    return latest_intent(tracker) == "affirm" or is_yes(str(value))


class ValidateAppointmentForm(HandsOffAfterTwoFailures):
    """Checks the service, district, chosen slot, name and phone of a booking."""

    def name(self) -> str:
        return "validate_appointment_form"

    async def required_slots(self, domain_slots: list[str], dispatcher: CollectingDispatcher, tracker: Tracker,
                             domain: dict[str, Any]) -> list[str]:
        # A caller on a keypad cannot type a name: the booking goes on the phone number, the name is
        # written down at the desk (staff find the booking by its code or the number).
        if channel_of(tracker) == "phone" and not known_name(tracker):
            return [slot for slot in domain_slots if slot != "appointment_name"]
        return domain_slots

    async def extract_service(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                              domain: dict[str, Any]) -> dict[str, Any]:
        # Asked for the service, people type its everyday name; the knowledge-base matcher knows those.
        if tracker.get_slot("requested_slot") != "service" or tracker.get_slot("service"):
            return {}
        understanding = understand_latest(tracker)
        return {"service": understanding.service} if understanding.service else {}

    def validate_service(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                         domain: dict[str, Any]) -> dict[str, Any]:
        if value in catalogue().services and appointments.centres_for(value):
            return self.accepted("service", value)
        return self.rejected("service", "utter_appointment_service_unknown", dispatcher, tracker)

    def validate_appointment_district(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                      domain: dict[str, Any]) -> dict[str, Any]:
        district = appointments.match_district(entity(tracker, "district") or str(value))
        if district:
            return self.accepted("appointment_district", district)
        return self.rejected("appointment_district", "utter_appointment_district_unknown", dispatcher, tracker)

    def validate_appointment_slot(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                  domain: dict[str, Any]) -> dict[str, Any]:
        chosen = chosen_slot(value, tracker)
        centre = catalogue().centres.get(chosen[0]) if chosen else None
        if chosen is None or centre is None or tracker.get_slot("service") not in centre.services:
            return self.rejected("appointment_slot", "utter_appointment_slot_unknown", dispatcher, tracker)
        return self.accepted("appointment_slot", appointments.slot_key(*chosen))

    def validate_appointment_name(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                  domain: dict[str, Any]) -> dict[str, Any]:
        known = known_name(tracker)
        if known and _said_yes(value, tracker):
            return self.accepted("appointment_name", known)
        answer = check_full_name(str(value))
        if isinstance(answer, Accepted):
            return self.accepted("appointment_name", answer.value)
        return self.rejected("appointment_name", "utter_appointment_name_invalid", dispatcher, tracker)

    def validate_appointment_phone(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                   domain: dict[str, Any]) -> dict[str, Any]:
        known = known_phone(tracker)
        if known and _said_yes(value, tracker):
            return self.accepted("appointment_phone", known)
        answer = check_phone(str(value))
        if isinstance(answer, Accepted):
            return self.accepted("appointment_phone", answer.value)
        return self.rejected("appointment_phone", "utter_appointment_phone_invalid", dispatcher, tracker)


class ActionBookAppointment(Action):
    """Books the chosen slot and gives the code, the materials to bring and the green channel for older people."""

    def name(self) -> str:
        return "action_book_appointment"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict]:
        chosen = appointments.parse_slot_key(tracker.get_slot("appointment_slot") or "")
        service_id, name, phone = (tracker.get_slot(s) for s in ("service", "appointment_name", "appointment_phone"))
        name_needed = channel_of(tracker) != "phone"
        if ended_early(tracker) or not (chosen and service_id and phone and (name or not name_needed)):
            return [SlotSet(ENDED_EARLY, None)]
        try:
            booked = appointments.book(tracker.sender_id, channel_of(tracker), service_id, chosen[0], chosen[1],
                                       name or "", phone, turn_key=turn_of(tracker))
        except RateLimited as err:
            dispatcher.utter_message(text=err.message)
            return [SlotSet("appointment_slot", None), SlotSet(ENDED_EARLY, None)]
        except (Conflict, InvalidRequest):
            # Someone took the last seat meanwhile: offer the slots again, keeping everything else.
            dispatcher.utter_message(response="utter_appointment_slot_taken")
            return [SlotSet("appointment_slot", None), *back_to_form("appointment_form")]
        current = catalogue()
        centre, service = current.centres[booked.centre_id], current.services[service_id]
        dispatcher.utter_message(text=texts.text(
            "utter_appointment_booked", when=appointments.slot_label(booked.start, booked.end), centre=centre.name,
            address=centre.address, reference=booked.reference))
        dispatcher.utter_message(text=texts.text("utter_appointment_bring", service=service.short_name,
                                                 materials=service.materials_summary))
        if centre.green_channel and centre.green_channel_note:
            dispatcher.utter_message(text=texts.text("utter_appointment_green_channel",
                                                     note=centre.green_channel_note))
        offer_sms(dispatcher, tracker.sender_id)
        question, buttons = feedback.rating_question(tracker.sender_id, f"appointment:{booked.reference}")
        dispatcher.utter_message(text=question, buttons=buttons)
        # The name and phone are kept encrypted with the booking; the conversation need not hold them.
        return [SlotSet("appointment_reference", booked.reference)] + [SlotSet(s, None) for s in BOOKING_SLOTS]


class ActionStartAppointmentChange(Action):
    """Starts cancelling or moving an appointment, using a code in the message or this conversation's booking."""

    def name(self) -> str:
        return "action_start_appointment_change"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict]:
        events = [SlotSet(name, None) for name in CHANGE_SLOTS]
        events += [SlotSet(FAILURES, 0), SlotSet(ENDED_EARLY, None)]
        if (tracker.active_loop or {}).get("name") == "appointment_form":
            events += [ActiveLoop(None), SlotSet("requested_slot", None)]
        text = (tracker.latest_message or {}).get("text") or ""
        code = appointments.find_reference(entity(tracker, "appointment_code") or text)
        if code is None:
            mine = tracker.get_slot("appointment_reference")
            latest = appointments.latest_for_conversation(tracker.sender_id)
            code = mine if mine and appointments.find(mine) else (latest.reference if latest else None)
        if code:
            events.append(SlotSet("appointment_code", code))
        change = entity(tracker, "appointment_change")
        if change in ("cancel", "reschedule"):
            events.append(SlotSet("appointment_change", change))
        return events


class ActionAskAppointmentChange(Action):
    """Shows the appointment and asks whether to cancel it or move it."""

    def name(self) -> str:
        return "action_ask_appointment_change"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict]:
        found = _held(tracker)
        if found is None:
            dispatcher.utter_message(response="utter_appointment_not_matched")
            return _end_form()
        response = "utter_ask_appointment_change"
        dispatcher.utter_message(
            text=texts.text(response, when=appointments.slot_label(found.start, found.end), centre=found.centre_name,
                            service=found.service_name, reference=found.reference),
            buttons=texts.buttons(response))
        return []


class ActionAskAppointmentNewSlot(Action):
    """Offers the next free slots of the appointment's centre."""

    def name(self) -> str:
        return "action_ask_appointment_new_slot"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict]:
        found = _held(tracker)
        options = appointments.free_slots(found.centre_id) if found else []
        if found is None or not options:
            response = "utter_appointment_no_slots"
            dispatcher.utter_message(text=texts.text(response, service=found.service_name if found else "",
                                                     hotline=catalogue().city.hotline),
                                     buttons=texts.buttons(response))
            return _end_form()
        dispatcher.utter_message(text=texts.text("utter_ask_appointment_new_slot", centre=found.centre_name),
                                 buttons=slot_buttons(options))
        return [SlotSet("appointment_options", [o.key for o in options])]


def _held(tracker: Tracker) -> appointments.AppointmentView | None:
    """The appointment of the code in the conversation, if the digits given match its booking phone."""
    return appointments.held_by(tracker.get_slot("appointment_code") or "",
                                tracker.get_slot("appointment_phone_tail") or "")


def _change_keys(tracker: Tracker) -> list[str]:
    """The guessing counters of a change: the conversation's (shared with identity lookups) and the code's."""
    return guessing.keys(tracker.sender_id) + [f"appointment:{tracker.get_slot('appointment_code') or ''}"]


class ValidateAppointmentChangeForm(HandsOffAfterTwoFailures):
    """Checks the code and the booking phone's last 4 digits, the choice (cancel or move) and, for a move, the slot."""

    def name(self) -> str:
        return "validate_appointment_change_form"

    async def required_slots(self, domain_slots: list[str], dispatcher: CollectingDispatcher, tracker: Tracker,
                             domain: dict[str, Any]) -> list[str]:
        needed = ["appointment_code", "appointment_phone_tail", "appointment_change"]
        return needed + ["appointment_new_slot"] if tracker.slots.get("appointment_change") == "reschedule" else needed

    def validate_appointment_code(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                  domain: dict[str, Any]) -> dict[str, Any]:
        # Only the shape is checked here: whether the code exists is told to nobody before the digits match.
        code = appointments.find_reference(str(value))
        if code is None:
            return self.rejected("appointment_code", "utter_appointment_code_unknown", dispatcher, tracker)
        # A new code needs its own digits.
        return {**self.accepted("appointment_code", code), "appointment_phone_tail": None}

    def validate_appointment_phone_tail(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                        domain: dict[str, Any]) -> dict[str, Any]:
        counters = _change_keys(tracker)
        if guessing.paused(counters):
            say_paused(dispatcher)
            return {"appointment_phone_tail": None, "appointment_code": None, ENDED_EARLY: True,
                    "requested_slot": None}
        digits = PHONE_TAIL.findall(re.sub(r"\s+", "", str(value).translate(SPOKEN_DIGITS)))
        found = appointments.held_by(tracker.get_slot("appointment_code") or "", digits[-1] if digits else "")
        if found is not None:
            return self.accepted("appointment_phone_tail", digits[-1])
        # Unknown code, wrong digits, cancelled or already done: one answer, one counted failure.
        if guessing.count_failure(counters):
            say_paused(dispatcher)
            return {"appointment_phone_tail": None, "appointment_code": None, ENDED_EARLY: True,
                    "requested_slot": None}
        return {**self.rejected("appointment_phone_tail", "utter_appointment_not_matched", dispatcher, tracker),
                "appointment_code": None}

    def validate_appointment_change(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                    domain: dict[str, Any]) -> dict[str, Any]:
        text = str(entity(tracker, "appointment_change") or value)
        if text in ("cancel", "reschedule"):
            return self.accepted("appointment_change", text)
        if "取消" in text or "不去" in text or latest_intent(tracker) == "cancel_appointment":
            return self.accepted("appointment_change", "cancel")
        if any(word in text for word in ("改", "换", "调", "推迟", "提前")):
            return self.accepted("appointment_change", "reschedule")
        return self.rejected("appointment_change", "utter_appointment_change_unknown", dispatcher, tracker)

    def validate_appointment_new_slot(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                      domain: dict[str, Any]) -> dict[str, Any]:
        chosen = chosen_slot(value, tracker)
        found = _held(tracker)
        if not chosen or not found or chosen[0] != found.centre_id:
            return self.rejected("appointment_new_slot", "utter_appointment_slot_unknown", dispatcher, tracker)
        return self.accepted("appointment_new_slot", appointments.slot_key(*chosen))


class ActionChangeAppointment(Action):
    """Cancels the appointment or moves it to the chosen slot."""

    def name(self) -> str:
        return "action_change_appointment"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict]:
        code, change = tracker.get_slot("appointment_code"), tracker.get_slot("appointment_change")
        reset = [SlotSet(name, None) for name in CHANGE_SLOTS] + [SlotSet(ENDED_EARLY, None)]
        if ended_early(tracker) or not code or change not in ("cancel", "reschedule"):
            return reset
        if _held(tracker) is None:
            # The code changed after its digits were checked, or the appointment meanwhile: the same one answer.
            dispatcher.utter_message(response="utter_appointment_not_matched")
            return reset
        try:
            if change == "cancel":
                cancelled = appointments.cancel(code)
                dispatcher.utter_message(text=texts.text("utter_appointment_cancelled", reference=cancelled.reference))
                mine = tracker.get_slot("appointment_reference")
                return reset + ([SlotSet("appointment_reference", None)] if mine == code else [])
            chosen = appointments.parse_slot_key(tracker.get_slot("appointment_new_slot") or "")
            if chosen is None:
                return reset
            moved = appointments.reschedule(code, chosen[1])
        except NotFound:
            dispatcher.utter_message(response="utter_appointment_not_matched")
            return reset
        except (Conflict, InvalidRequest) as err:
            if err.code in ("slot_full", "not_a_slot"):
                dispatcher.utter_message(response="utter_appointment_slot_taken")
                return [SlotSet("appointment_new_slot", None), FollowupAction("appointment_change_form")]
            dispatcher.utter_message(response="utter_appointment_not_matched")
            return reset
        dispatcher.utter_message(text=texts.text("utter_appointment_rescheduled",
                                                 when=appointments.slot_label(moved.start, moved.end),
                                                 centre=moved.centre_name, reference=moved.reference))
        return reset
