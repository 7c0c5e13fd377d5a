"""异地就医备案: where the person is insured (it must be this city, where the registration is made),
where they go, why, and from when. It is registered on the spot, so no visit remains."""

from __future__ import annotations

import datetime as dt
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.context import catalogue
from bot.actions.forms import fields
from bot.actions.forms.base import COMMON_FIELDS, ApplicationForm
from bot.actions.forms.fields import Accepted, Answer, Rejected

# The kinds of registration the catalogue lists, with the words people use for them.
REASONS = {
    "retired": ("退休", "养老", "安置"),
    "resident": ("长期", "居住", "住外地", "在外地住", "投奔", "随子女"),
    "worker": ("工作", "上班", "常驻", "打工"),
    "referral": ("转诊", "转院", "医院开"),
    "temporary": ("临时", "看病", "出差", "旅游", "急诊"),
}
# Emergency care may be registered afterwards; longer ago than this is a reimbursement, not a registration.
EARLIEST_START_DAYS = 180
LATEST_START_DAYS = 366


class ValidateMedicalTransferRegistration(ApplicationForm):
    """Validation of the medical treatment elsewhere registration form."""

    fields = (*COMMON_FIELDS, "insured_city", "destination_city", "transfer_reason", "start_date")
    strict = ApplicationForm.strict | {"transfer_reason", "start_date"}
    in_person_step = False

    def name(self) -> str:
        return "validate_medical_transfer_registration"

    def home_city(self) -> str:
        """The city whose medical insurance this assistant registers for."""
        return catalogue().city.city

    def check_insured_city(self, text: str) -> Answer:
        """Insured here: a registration is made where one is insured."""
        answer = fields.check_city(text)
        if isinstance(answer, Accepted) and answer.value != self.home_city():
            return Rejected("utter_not_eligible_insured_elsewhere", {"city": answer.value, "home": self.home_city()})
        return answer

    def check_destination_city(self, text: str) -> Answer:
        """Another city than the one insured in."""
        answer = fields.check_city(text)
        if isinstance(answer, Accepted) and answer.value == self.home_city():
            return Rejected("utter_invalid_same_city")
        return answer

    def check_transfer_reason(self, text: str) -> Answer:
        """One of the kinds of registration."""
        return fields.check_choice(text, REASONS)

    def check_start_date(self, text: str, today: dt.date | None = None) -> Answer:
        """From half a year ago (emergencies registered afterwards) to a year ahead."""
        today = today or dt.date.today()
        return fields.check_date(text, earliest=today - dt.timedelta(days=EARLIEST_START_DAYS),
                                 latest=today + dt.timedelta(days=LATEST_START_DAYS), today=today)

    def validate_insured_city(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                              domain: dict[str, Any]) -> dict[str, Any]:
        """Checks the city insured in."""
        return self.validate_field("insured_city", value, dispatcher, tracker)

    def validate_destination_city(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                  domain: dict[str, Any]) -> dict[str, Any]:
        """Checks the destination."""
        return self.validate_field("destination_city", value, dispatcher, tracker)

    def validate_transfer_reason(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                 domain: dict[str, Any]) -> dict[str, Any]:
        """Checks the kind of registration."""
        return self.validate_field("transfer_reason", value, dispatcher, tracker)

    def validate_start_date(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                            domain: dict[str, Any]) -> dict[str, Any]:
        """Checks the start date."""
        return self.validate_field("start_date", value, dispatcher, tracker)
