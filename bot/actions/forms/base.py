"""What every application form shares: checking an answer, explaining a wrong one, and the person's controls.

Each form is a Rasa form named by its service id; its `validate_<service id>`
action is a subclass of `ApplicationForm`. Answers arrive as free text (the
slot mappings are `from_text`), so here a message may also turn out to be a
control: "上一步" clears the previous field, "改一下电话" clears that field
(or takes the new value if it is in the same message), "跳过" leaves an
optional field empty. After each turn the answers so far are kept as a draft,
and once ID number and phone are known a draft started on another channel is
picked up.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import FormValidationAction

from bot import texts
from bot.actions.context import catalogue, channel_of, service_name
from bot.actions.forms import fields
from bot.actions.forms.fields import Accepted, Answer, Rejected, is_no, is_yes
from bot.actions.forms import verification
from bot.services import applications, identity, people

COMMON_FIELDS = ("full_name", "id_number", "phone", "address")
CONFIRM = "application_confirmed"
FAILURES = "application_failures"
DECLINED = "application_declined"
REQUESTED = "requested_slot"
# After this many wrong answers to one field, a person or an appointment is offered.
HELP_AFTER_FAILURES = 2
# The engine's reading of a control ("上一步", "跳过") is trusted from this confidence on.
CONTROL_CONFIDENCE = 0.5

GO_BACK_WORDS = {"上一步", "返回", "返回上一步", "回到上一步", "退回", "后退", "上一个", "上一题", "back"}
SKIP_WORDS = {"跳过", "跳过这个", "跳过这一项", "略过", "不填", "没有", "没有的", "无", "暂无", "skip", "pass", "/skip"}
REPEAT_WORDS = {"再说一遍", "没听清", "重复一遍", "再说一次", "什么", "啥", "没听懂"}
# Words that name a field in a correction ("电话错了"), when the engine did not tag the field.
FIELD_WORDS = (
    ("id_number", ("身份证",)),
    ("phone", ("电话", "手机", "号码")),
    ("full_name", ("名字", "姓名")),
    ("address", ("地址", "住址", "住的地方")),
    ("arrival_date", ("来的", "到达", "日期")),
    ("employer_or_school", ("单位", "学校", "公司")),
    ("employer", ("单位", "老板", "公司")),
    ("work_site", ("工地", "干活的地方")),
    ("months_unpaid", ("几个月", "月数")),
    ("amount_owed", ("金额", "多少钱", "欠的钱")),
    ("loss_date", ("丢",)),
    ("insured_city", ("参保",)),
    ("destination_city", ("就医城市", "去哪")),
    ("transfer_reason", ("类型", "原因")),
    ("start_date", ("开始",)),
)
# A correction that carries the new value: "把电话改成13812345678".
_NEW_VALUE = re.compile(r"(?:改成|改为|换成|应该是|是)(.+)$")


def say(dispatcher: CollectingDispatcher, response: str, **values: Any) -> None:
    """Sends a domain response with its buttons, placeholders filled."""
    dispatcher.utter_message(text=texts.text(response, **values), buttons=texts.buttons(response) or None)


def label(slot: str) -> str:
    """The field's name as people read it ("手机号")."""
    return texts.text(f"utter_field_{slot}")


def latest_intent(tracker: Tracker) -> tuple[str | None, float]:
    """The engine's intent of the latest message and its confidence."""
    intent = (tracker.latest_message or {}).get("intent") or {}
    return intent.get("name"), float(intent.get("confidence") or 0.0)


def offered_value(slot: str, tracker: Tracker) -> str | None:
    """The remembered value the assistant offers for a common field, unless the person declined it."""
    if slot not in COMMON_FIELDS or slot in (tracker.get_slot(DECLINED) or []):
        return None
    known = people.known_for(tracker.sender_id)
    return known.get(slot) if known else None


class ApplicationForm(FormValidationAction, ABC):
    """Validation of one application form; subclasses name it and add their own fields and checks."""

    # The form's fields in the order they are asked (the domain's required_slots without the confirmation).
    fields: ClassVar[tuple[str, ...]] = COMMON_FIELDS
    # Fields a person may skip ("跳过").
    optional: ClassVar[frozenset[str]] = frozenset()
    # Fields whose check is strict enough to take an answer the engine mistook for a question ("三千五").
    strict: ClassVar[frozenset[str]] = frozenset({"id_number", "phone"})
    # Whether the person still has to go somewhere in person (then the originals to bring are listed).
    in_person_step: ClassVar[bool] = True

    @abstractmethod
    def name(self) -> str:
        """validate_<service id>."""

    @property
    def service_id(self) -> str:
        """The service (and form) this validation belongs to."""
        return self.form_name()

    def eligibility(self) -> dict[str, Any]:
        """The catalogue's machine-checkable eligibility rules of this service."""
        service = catalogue().services.get(self.service_id)
        return dict(service.eligibility.checks) if service else {}

    def service_name(self) -> str:
        """The service's short name, e.g. 居住证."""
        return service_name(self.service_id)

    # ---- checks of the common fields (subclasses add check_<slot> for their own) -----------------

    def check_full_name(self, text: str) -> Answer:
        """A name as on the ID card."""
        return fields.check_full_name(text)

    def check_id_number(self, text: str) -> Answer:
        """A valid ID number; where the catalogue sets a minimum age, the age it shows must reach it."""
        answer = fields.check_id_number(text)
        min_age = self.eligibility().get("min_age")
        if isinstance(answer, Accepted) and isinstance(min_age, int):
            age = fields.age_on(answer.value)
            if age < min_age:
                return Rejected("utter_not_eligible_min_age", {"name": self.service_name(), "min_age": min_age,
                                                               "age": age})
        return answer

    def check_phone(self, text: str) -> Answer:
        """An 11-digit mobile number."""
        return fields.check_phone(text)

    def check_address(self, text: str) -> Answer:
        """An address down to the house number."""
        return fields.check_address(text)

    def checker(self, slot: str) -> Callable[[str], Answer]:
        """The check of one field."""
        return getattr(self, f"check_{slot}")

    # ---- rasa-sdk entry points ---------------------------------------------------------------------

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict]:
        """Checks this turn's answers, then keeps the draft (and picks up one from another channel)."""
        checked = verification.code_turn(dispatcher, tracker)
        if checked is not None:
            return self._after_code(dispatcher, tracker, checked)
        events = await super().run(dispatcher, tracker, domain)
        changed = {e["name"] for e in events if e.get("event") == "slot"}
        values = {slot: tracker.slots.get(slot) for slot in self.fields}
        if values.get("id_number") and values.get("phone") and (
                changed & {"id_number", "phone"}
                or verification.proven_another_way(tracker, self.service_id, values["id_number"], values["phone"])):
            events += self._pick_up_elsewhere(dispatcher, tracker, values)
        if changed & set(self.fields) and any(v not in (None, "") for v in values.values()):
            asking = [e.get("value") for e in events if e.get("event") == "slot" and e.get("name") == REQUESTED]
            applications.save_draft(tracker.sender_id, channel_of(tracker), self.service_id, values,
                                    (asking or [tracker.get_slot(REQUESTED)])[-1])
        return events

    async def get_extraction_events(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                                    domain: dict[str, Any]) -> list[dict]:
        """Takes a clearly valid answer the engine mistook for a question or a request (e.g. "三千五" as a fee)."""
        requested = tracker.get_slot(REQUESTED)
        if requested not in self.strict or requested in tracker.slots_to_validate():
            return []
        text = ((tracker.latest_message or {}).get("text") or "").strip()
        if not text or text.startswith("/") or not self._answered_just_now(tracker):
            return []
        if isinstance(self.checker(requested)(text), Accepted):
            return [SlotSet(requested, text)]
        return []

    # One validate_<slot> per field, as rasa-sdk expects; they all go through `validate_field`.

    def validate_full_name(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                           domain: dict[str, Any]) -> dict[str, Any]:
        """Checks the name."""
        return self.validate_field("full_name", value, dispatcher, tracker)

    def validate_id_number(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                           domain: dict[str, Any]) -> dict[str, Any]:
        """Checks the ID number (and the age, where the service has a minimum)."""
        return self.validate_field("id_number", value, dispatcher, tracker)

    def validate_phone(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                       domain: dict[str, Any]) -> dict[str, Any]:
        """Checks the mobile number."""
        return self.validate_field("phone", value, dispatcher, tracker)

    def validate_address(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                         domain: dict[str, Any]) -> dict[str, Any]:
        """Checks the address."""
        return self.validate_field("address", value, dispatcher, tracker)

    def validate_application_confirmed(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                       domain: dict[str, Any]) -> dict[str, Any]:
        """"确认" submits; "要修改" or "改一下电话" goes back to a field; anything else asks again."""
        if value is None or value is True:
            return {CONFIRM: value}
        if not self._fresh(CONFIRM, value, tracker):
            return {CONFIRM: None}
        text = str(value)
        control = self._control(CONFIRM, text, dispatcher, tracker)
        if control is not None:
            return control
        intent, confidence = latest_intent(tracker)
        if is_yes(text) or (intent == "affirm" and confidence >= CONTROL_CONFIDENCE):
            return {CONFIRM: True}
        if is_no(text) or (intent == "deny" and confidence >= CONTROL_CONFIDENCE):
            # The question asked next lists the fields to pick from.
            return {CONFIRM: None}
        target = self._field_named(text, tracker)
        if target:
            return self._correct(target, CONFIRM, text, dispatcher, tracker)
        say(dispatcher, "utter_application_confirm_please")
        return {CONFIRM: None}

    # ---- the shared flow of one answer -------------------------------------------------------------

    def validate_field(self, slot: str, value: Any, dispatcher: CollectingDispatcher,
                       tracker: Tracker) -> dict[str, Any]:
        """Checks one answer: a control, an accepted offer, a valid value, or a wrong answer explained."""
        if value is None:
            return {slot: None}
        text = str(value).strip()
        if not self._fresh(slot, value, tracker):
            # A value from a draft or another channel: kept if it still passes, dropped quietly if not.
            if value == "" and slot in self.optional:
                return {slot: ""}
            answer = self.checker(slot)(text)
            return {slot: answer.value if isinstance(answer, Accepted) else None}
        control = self._control(slot, text, dispatcher, tracker)
        if control is not None:
            return control
        known = offered_value(slot, tracker)
        if known is not None:
            intent, confidence = latest_intent(tracker)
            if is_yes(text) or (intent == "affirm" and confidence >= CONTROL_CONFIDENCE):
                answer = self.checker(slot)(known)
                if isinstance(answer, Accepted):
                    return self._accepted(slot, answer.value, tracker)
                return {**self._rejected(slot, answer, dispatcher, tracker), DECLINED: self._declined(tracker, slot)}
            if is_no(text) or (intent == "deny" and confidence >= CONTROL_CONFIDENCE):
                return {slot: None, DECLINED: self._declined(tracker, slot)}
        answer = self.checker(slot)(text)
        if isinstance(answer, Accepted):
            return self._accepted(slot, answer.value, tracker)
        return self._rejected(slot, answer, dispatcher, tracker)

    def _accepted(self, slot: str, value: Any, tracker: Tracker) -> dict[str, Any]:
        failures = dict(tracker.get_slot(FAILURES) or {})
        failures.pop(slot, None)
        return {slot: value, FAILURES: failures}

    def _rejected(self, slot: str, answer: Rejected, dispatcher: CollectingDispatcher,
                  tracker: Tracker) -> dict[str, Any]:
        failures = dict(tracker.get_slot(FAILURES) or {})
        failures[slot] = int(failures.get(slot, 0)) + 1
        say(dispatcher, answer.response, **answer.values)
        if failures[slot] >= HELP_AFTER_FAILURES:
            # Never loop: after the second wrong answer a person or an appointment is one tap away.
            say(dispatcher, "utter_application_need_help")
        return {slot: None, FAILURES: failures}

    @staticmethod
    def _declined(tracker: Tracker, slot: str) -> list[str]:
        return sorted({*(tracker.get_slot(DECLINED) or []), slot})

    def _fresh(self, slot: str, value: Any, tracker: Tracker) -> bool:
        """True when the value is what the person just typed in answer to this field."""
        text = (tracker.latest_message or {}).get("text")
        return tracker.get_slot(REQUESTED) == slot and text is not None and str(value).strip() == text.strip()

    def _answered_just_now(self, tracker: Tracker) -> bool:
        """True when nothing but the form has run since the person's latest message (no interruption)."""
        for event in reversed(tracker.events):
            if event.get("event") == "user":
                return True
            if event.get("event") == "action" and event.get("name") not in (
                    self.form_name(), "action_listen", "action_extract_slots", None):
                return False
        return False

    # ---- controls: back, correct, skip, repeat ------------------------------------------------------

    def _control(self, slot: str, text: str, dispatcher: CollectingDispatcher,
                 tracker: Tracker) -> dict[str, Any] | None:
        intent, confidence = latest_intent(tracker)
        sure = confidence >= CONTROL_CONFIDENCE
        said = fields.bare(text)
        if (intent == "correct_field" and sure) or (intent == "go_back" and sure and self._tagged_field(tracker)):
            target = self._field_named(text, tracker)
            if target is None:
                return self._which_field(slot, dispatcher)
            return self._correct(target, slot, text, dispatcher, tracker)
        if (intent == "go_back" and sure) or said in GO_BACK_WORDS:
            return self._go_back(slot, dispatcher, tracker)
        if (intent == "skip" and sure and said not in fields.YES_WORDS) or said in SKIP_WORDS:
            return self._skip(slot, dispatcher)
        if (intent == "repeat" and sure) or said in REPEAT_WORDS:
            return {slot: None}
        return None

    def _tagged_field(self, tracker: Tracker) -> str | None:
        for entity in (tracker.latest_message or {}).get("entities") or []:
            if entity.get("entity") == "field":
                value = str(entity.get("value") or "")
                if value in self.fields:
                    return value
                # The engine knows "employer"; the residence permit asks for employer_or_school.
                similar = [f for f in self.fields if f.startswith(value) or value.startswith(f)]
                if similar:
                    return similar[0]
        return None

    def _field_named(self, text: str, tracker: Tracker) -> str | None:
        """The field a correction is about: tagged by the engine, or named by a word in the text."""
        tagged = self._tagged_field(tracker)
        if tagged:
            return tagged
        for slot, words in FIELD_WORDS:
            if slot in self.fields and any(w in text for w in words):
                return slot
        return None

    def _which_field(self, slot: str, dispatcher: CollectingDispatcher) -> dict[str, Any]:
        self.offer_fields(dispatcher)
        return {slot: None}

    def offer_fields(self, dispatcher: CollectingDispatcher) -> None:
        """Asks which field to change, one button per field."""
        buttons = [{"title": label(f), "payload": f'/correct_field{{"field": "{f}"}}'} for f in self.fields]
        dispatcher.utter_message(text=texts.text("utter_application_which_field"), buttons=buttons)

    def _correct(self, target: str, slot: str, text: str, dispatcher: CollectingDispatcher,
                 tracker: Tracker) -> dict[str, Any]:
        order = [*self.fields, CONFIRM]
        if order.index(target) > order.index(slot):
            say(dispatcher, "utter_application_field_not_yet", label=label(target))
            return {slot: None}
        new_value = _NEW_VALUE.search(text)
        if new_value and target != slot:
            answer = self.checker(target)(new_value.group(1).strip())
            if isinstance(answer, Accepted):
                return {target: answer.value, slot: None, CONFIRM: None}
        say(dispatcher, "utter_application_correct", label=label(target))
        return {target: None, slot: None, CONFIRM: None, DECLINED: self._declined(tracker, target)}

    def _go_back(self, slot: str, dispatcher: CollectingDispatcher, tracker: Tracker) -> dict[str, Any]:
        order = [*self.fields, CONFIRM]
        earlier = [f for f in order[: order.index(slot)] if tracker.get_slot(f) is not None]
        if not earlier:
            say(dispatcher, "utter_application_nothing_before")
            return {slot: None}
        say(dispatcher, "utter_application_go_back")
        return {earlier[-1]: None, slot: None}

    def _skip(self, slot: str, dispatcher: CollectingDispatcher) -> dict[str, Any]:
        if slot == CONFIRM:
            say(dispatcher, "utter_application_confirm_please")
            return {slot: None}
        if slot in self.optional:
            say(dispatcher, "utter_application_skipped", label=label(slot))
            return {slot: ""}
        say(dispatcher, "utter_application_cannot_skip", label=label(slot))
        return {slot: None}

    # ---- another channel ---------------------------------------------------------------------------

    def _pick_up_elsewhere(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                           values: dict[str, Any]) -> list[dict]:
        """Once ID number and phone are known: the draft from another channel, and the person's details.

        Only for a conversation that proved it holds the phone; until then the person hears that a
        draft exists and gets a code on that phone.
        """
        events: list[dict] = []
        if not identity.proven_for(tracker.sender_id, values["id_number"], values["phone"]):
            if applications.draft_elsewhere_exists(tracker.sender_id, self.service_id, values["id_number"],
                                                   values["phone"]):
                verification.offer_resume(dispatcher, tracker, self.service_id, self.service_name(), values["phone"],
                                          values["id_number"])
            return events
        draft = applications.resume_elsewhere(tracker.sender_id, self.service_id, values["id_number"],
                                              values["phone"])
        if draft is not None:
            taken = {k: v for k, v in draft.values.items()
                     if k in self.fields and values.get(k) is None and v is not None}
            for slot, value in taken.items():
                values[slot] = value
                tracker.slots[slot] = value
                events.append(SlotSet(slot, value))
            say(dispatcher, "utter_application_resumed_elsewhere", name=self.service_name())
        identity.link_person(tracker.sender_id, values["id_number"])
        return events

    def _after_code(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                    checked: verification.CodeChecked) -> list[dict]:
        """A code was typed instead of an answer: the asked field stays empty; a proven code resumes the draft."""
        requested = tracker.get_slot(REQUESTED)
        events: list[dict] = [SlotSet(requested, None)] if requested else []
        values = {slot: (None if slot == requested else tracker.slots.get(slot)) for slot in self.fields}
        if checked.proven and checked.purpose == verification.RESUME + self.service_id \
                and values.get("id_number") and values.get("phone"):
            events += self._pick_up_elsewhere(dispatcher, tracker, values)
        return events
