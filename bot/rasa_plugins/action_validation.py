"""Inside the Rasa server: custom actions' answers are checked with a validator built once.

Rasa 3.6 checks every answer of the action server with `jsonschema.validate`, which first
checks the schema itself against the JSON Schema meta-schema, on every call. The schema
never changes, and with py-spy on the running stack that check was half of the Rasa
server's CPU time per turn. Answers are still checked against the same schema, and a wrong
answer raises the same `ValidationError`, with Rasa's hint, as before.

Like `bot/rasa_plugins/channel.py`, this runs in Rasa's own Python 3.10 process and imports only
what Rasa brings.
"""

from __future__ import annotations

from typing import Any

from jsonschema import ValidationError, validators
from jsonschema.exceptions import best_match
from rasa.core.actions.action import RemoteAction
from rasa.shared.constants import DOCS_BASE_URL

from bot.rasa_plugins.rasa_private import replace_action_result_check


def install() -> None:
    """Replaces RemoteAction's per-call schema check with one validator for the process."""
    schema = RemoteAction.action_response_format_spec()
    validator_class = validators.validator_for(schema)
    validator_class.check_schema(schema)  # what jsonschema.validate repeats on every call
    validator = validator_class(schema)

    def validate_action_result(self: RemoteAction, result: dict[str, Any]) -> bool:
        error: ValidationError | None = best_match(validator.iter_errors(result))
        if error is None:
            return True
        error.message += (
            ". Failed to validate Action server response from API, make sure your response from the "
            f"Action endpoint is valid. For more information about the format visit {DOCS_BASE_URL}/custom-actions"
        )
        raise error

    replace_action_result_check(validate_action_result)
