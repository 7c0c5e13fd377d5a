"""The public vocabulary of intents, and how the dialogue engine's finer intents map onto it."""

from __future__ import annotations

VOCABULARY_INTENTS = frozenset({
    "greet", "goodbye", "thank", "affirm", "deny",
    "ask_how_to_apply", "ask_materials", "ask_location_hours", "ask_fee", "ask_processing_time", "ask_eligibility",
    "start_application", "check_status", "request_human", "book_appointment", "cancel_appointment",
    "complain", "repeat", "out_of_scope",
})

# Finer intents used inside applications, reported as the nearest public intent.
FINER_INTENTS = {
    "inform": "start_application",      # giving a value while applying
    "correct_field": "start_application",
    "go_back": "repeat",                # "上一步": go over the last question again
    "skip": "deny",                     # "跳过", "没有"
    "stop": "deny",                     # "不办了"
    "emergency": "request_human",       # urgent: a person at once
    "sms_opt_in": "affirm",             # "短信提醒我": mostly a yes to the offer of texts
    "nlu_fallback": "out_of_scope",
}


def to_vocabulary(intent: str | None) -> str:
    """The public name for an engine intent (unknown names become out_of_scope)."""
    if intent in VOCABULARY_INTENTS:
        return intent
    return FINER_INTENTS.get(intent or "", "out_of_scope")
