"""Every use of Rasa's private attributes, in one place, so that an upgrade of Rasa fails here first.

Written for Rasa 3.6 (Python 3.10, inside the Rasa server); tests/bot/test_rasa_private.py runs in
that environment and pins what these functions rely on: the names, their signatures, and that Rasa
itself calls them where we expect.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rasa.core.actions.action import RemoteAction

ActionResultCheck = Callable[[RemoteAction, dict[str, Any]], bool]


async def run_prediction_loop(processor: Any, output_channel: Any, tracker: Any) -> None:
    """Predicts and runs actions until the assistant listens, as `MessageProcessor.handle_message` does."""
    await processor._run_prediction_loop(output_channel, tracker)


async def handle_message_with_tracker(processor: Any, message: Any, tracker: Any) -> None:
    """Understands the message and logs it on the tracker, as `MessageProcessor.log_message` does after its fetch."""
    await processor._handle_message_with_tracker(message, tracker)


def action_result_check() -> ActionResultCheck:
    """How RemoteAction checks each answer of the action server now."""
    return RemoteAction._validate_action_result


def replace_action_result_check(check: ActionResultCheck) -> None:
    """Makes RemoteAction check every answer of the action server with `check`."""
    RemoteAction._validate_action_result = check


def primary_tracker_store(fail_safe: Any) -> Any:
    """The tracker store a FailSafeTrackerStore wraps."""
    return fail_safe._tracker_store
