"""社保卡补办 after a loss: the common fields and the day the card was lost (not in the future)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.forms import fields
from bot.actions.forms.base import COMMON_FIELDS, ApplicationForm
from bot.actions.forms.fields import Answer

# Social security cards with a chip were first issued in the late 1990s.
EARLIEST_LOSS = dt.date(1995, 1, 1)


class ValidateSocialSecurityCard(ApplicationForm):
    """Validation of the social security card replacement form."""

    fields = (*COMMON_FIELDS, "loss_date")
    strict = ApplicationForm.strict | {"loss_date"}
    # The new card is handed over (and its PIN set) at the window.
    in_person_step = True

    def name(self) -> str:
        return "validate_social_security_card"

    def check_loss_date(self, text: str, today: dt.date | None = None) -> Answer:
        """A date that has already happened."""
        return fields.check_date(text, past_only=True, earliest=EARLIEST_LOSS, today=today)

    def validate_loss_date(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                           domain: dict[str, Any]) -> dict[str, Any]:
        """Checks the day of the loss."""
        return self.validate_field("loss_date", value, dispatcher, tracker)
