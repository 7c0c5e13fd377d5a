"""居住证申领: the common fields, the date the person came to live here (checked against the six months
the catalogue asks for), and where they work or study (optional: a home of their own is reason enough)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.forms import fields
from bot.actions.forms.base import COMMON_FIELDS, ApplicationForm
from bot.actions.forms.fields import Accepted, Answer, Rejected

# Nobody coming to live here today arrived before this.
EARLIEST_ARRIVAL = dt.date(1930, 1, 1)


def months_later(day: dt.date, months: int) -> dt.date:
    """The same day `months` later (the month's last day when that month is shorter)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    for last in (31, 30, 29, 28):
        try:
            return dt.date(year, month, min(day.day, last))
        except ValueError:
            continue
    raise ValueError(day)


class ValidateResidencePermit(ApplicationForm):
    """Validation of the residence permit form."""

    fields = (*COMMON_FIELDS, "arrival_date", "employer_or_school")
    optional = frozenset({"employer_or_school"})
    strict = ApplicationForm.strict | {"arrival_date"}

    def name(self) -> str:
        return "validate_residence_permit"

    def check_arrival_date(self, text: str, today: dt.date | None = None) -> Answer:
        """A past date; the catalogue's residence_months_min must have passed since."""
        today = today or dt.date.today()
        answer = fields.check_date(text, past_only=True, earliest=EARLIEST_ARRIVAL, today=today)
        months = self.eligibility().get("residence_months_min")
        if isinstance(answer, Accepted) and isinstance(months, int):
            eligible_on = months_later(dt.date.fromisoformat(answer.value), months)
            if eligible_on > today:
                return Rejected("utter_not_eligible_residence_months",
                                {"months": months, "eligible_on": fields.spoken_date(eligible_on.isoformat())})
        return answer

    def check_employer_or_school(self, text: str) -> Answer:
        """The employer's or school's name."""
        return fields.check_text(text)

    def validate_arrival_date(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                              domain: dict[str, Any]) -> dict[str, Any]:
        """Checks the arrival date."""
        return self.validate_field("arrival_date", value, dispatcher, tracker)

    def validate_employer_or_school(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                    domain: dict[str, Any]) -> dict[str, Any]:
        """Checks the employer or school."""
        return self.validate_field("employer_or_school", value, dispatcher, tracker)
