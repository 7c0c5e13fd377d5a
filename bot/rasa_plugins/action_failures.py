"""Inside the Rasa server: which custom actions failed during a turn, so a turn half done is not kept.

Rasa 3.6 logs a custom action whose call fails (its action server killed with the call in hand, an answer
with a 5xx status, no connection) as run with no events, and goes on with the turn: what the actions before
it did stays. A booking form that took the phone number and closed, then an action server that died while
booking, leaves a conversation with no form and no question; run again on that, the resident's phone
number answers nothing ("没太听懂"). The gateway channel (`bot/rasa_plugins/channel.py`) watches its turn
with `watching()` and does not save a turn in which any custom action failed: the same message sent
again runs from where the conversation was before it.

Every call Rasa makes to the action server goes through `RemoteAction.run`: the actions the policies
predict, a form's validation and its questions, custom slot mappings (whose failures Rasa itself only
logs). A form validator that rejects an answer (status 400) is the dialogue going as planned, not a failure.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

from rasa.core.actions.action import ActionExecutionRejection, RemoteAction

# The names of the custom actions that failed in the turn being watched (None: no turn is watched).
_failed: ContextVar[list[str] | None] = ContextVar("failed_custom_actions", default=None)
_remote_run = RemoteAction.run


async def _run_watched(self: RemoteAction, *args: Any, **kwargs: Any) -> Any:
    try:
        return await _remote_run(self, *args, **kwargs)
    except ActionExecutionRejection:
        raise
    except Exception:
        failed = _failed.get()
        if failed is not None:
            failed.append(self.name())
        raise


def install() -> None:
    """Makes every call to the action server report its failure to the turn being watched."""
    RemoteAction.run = _run_watched  # type: ignore[method-assign]


@contextlib.contextmanager
def watching() -> Iterator[list[str]]:
    """The names of the custom actions that fail while the block runs (in this task and those it starts)."""
    failed: list[str] = []
    token = _failed.set(failed)
    try:
        yield failed
    finally:
        _failed.reset(token)
