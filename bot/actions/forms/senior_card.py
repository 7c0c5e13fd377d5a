"""老年人优待证: the older person's common details; the age from the ID number must reach checks.min_age,
and the card is made at the window with a photo, so an in-person step remains."""

from __future__ import annotations

from bot.actions.forms.base import ApplicationForm


class ValidateSeniorCard(ApplicationForm):
    """Validation of the senior card form."""

    in_person_step = True

    def name(self) -> str:
        return "validate_senior_card"
