"""Application forms: one module per application (its validate_<service id> action) and the shared base.

FORMS maps each service id that can be applied for through the assistant to its
validation class; the Rasa form of the same name lives in
dialogues/domain/application_<service id>.yml.
"""

from __future__ import annotations

from rasa_sdk import Tracker

from bot.actions.forms.base import ApplicationForm
from bot.actions.forms.medical_transfer_registration import ValidateMedicalTransferRegistration
from bot.actions.forms.residence_permit import ValidateResidencePermit
from bot.actions.forms.senior_allowance import ValidateSeniorAllowance
from bot.actions.forms.senior_card import ValidateSeniorCard
from bot.actions.forms.social_security_card import ValidateSocialSecurityCard
from bot.actions.forms.wage_arrears_complaint import ValidateWageArrearsComplaint

FORMS: dict[str, ApplicationForm] = {
    form.service_id: form
    for form in (
        ValidateResidencePermit(),
        ValidateSeniorAllowance(),
        ValidateSeniorCard(),
        ValidateSocialSecurityCard(),
        ValidateWageArrearsComplaint(),
        ValidateMedicalTransferRegistration(),
    )
}


def active_form(tracker: Tracker) -> str | None:
    """The application form being filled in, if any."""
    name = (tracker.active_loop or {}).get("name")
    return name if name in FORMS else None
