"""欠薪投诉: who owes the wages, where the work was, for how many months and how much.

Labour inspection takes complaints about wages owed for up to two years; older
arrears go to arbitration, which the person is told instead of being registered.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.forms import fields
from bot.actions.forms.base import COMMON_FIELDS, ApplicationForm
from bot.actions.forms.fields import Accepted, Answer, Rejected

# Arrears older than this are no longer handled by labour inspection (劳动保障监察条例, art. 20).
INSPECTION_LIMIT_MONTHS = 24


class ValidateWageArrearsComplaint(ApplicationForm):
    """Validation of the wage arrears complaint form."""

    fields = (*COMMON_FIELDS, "employer", "work_site", "months_unpaid", "amount_owed")
    strict = ApplicationForm.strict | {"months_unpaid", "amount_owed"}

    def name(self) -> str:
        return "validate_wage_arrears_complaint"

    def check_employer(self, text: str) -> Answer:
        """The company's or the boss's name."""
        return fields.check_text(text)

    def check_work_site(self, text: str) -> Answer:
        """Where the work was done."""
        return fields.check_text(text)

    def check_months_unpaid(self, text: str) -> Answer:
        """How many months are owed, within the two years labour inspection handles."""
        answer = fields.check_count(text, low=1, high=600)
        if isinstance(answer, Accepted) and answer.value > INSPECTION_LIMIT_MONTHS:
            return Rejected("utter_not_eligible_arrears_too_old")
        return answer

    def check_amount_owed(self, text: str) -> Answer:
        """How much is owed, in yuan."""
        return fields.check_amount(text)

    def validate_employer(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                          domain: dict[str, Any]) -> dict[str, Any]:
        """Checks the employer."""
        return self.validate_field("employer", value, dispatcher, tracker)

    def validate_work_site(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                           domain: dict[str, Any]) -> dict[str, Any]:
        """Checks the work site."""
        return self.validate_field("work_site", value, dispatcher, tracker)

    def validate_months_unpaid(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                               domain: dict[str, Any]) -> dict[str, Any]:
        """Checks the months owed."""
        return self.validate_field("months_unpaid", value, dispatcher, tracker)

    def validate_amount_owed(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                             domain: dict[str, Any]) -> dict[str, Any]:
        """Checks the amount owed."""
        return self.validate_field("amount_owed", value, dispatcher, tracker)
