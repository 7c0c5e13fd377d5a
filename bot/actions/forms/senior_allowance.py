"""高龄津贴: only the older person's common details; their age comes from the ID number and must reach
the catalogue's checks.min_age (the shared ID check applies it)."""

from __future__ import annotations

from bot.actions.forms.base import ApplicationForm


class ValidateSeniorAllowance(ApplicationForm):
    """Validation of the senior allowance form."""

    # The community checks the originals before the first payment.
    in_person_step = True

    def name(self) -> str:
        return "validate_senior_allowance"
