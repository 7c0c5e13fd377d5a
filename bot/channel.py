"""The channel protocol, as Rasa's InputChannel/OutputChannel pair: what every channel does and declares.

In: a channel turns what a person sent into a `bot.conversation.IncomingMessage` (with its own `name` as
the message's `channel`) and hands it to `ConversationService.handle`.
Out: it renders the `OutgoingMessage`s of the `TurnResult` as its medium allows, and delivers what the
core pushes outside a turn (staff replies, reminders: `bot.services.conversations.push`) by reading
`messages_after` (web chat and the kiosk let their page poll; Telegram sends; the phone speaks).
What it cannot render degrades: the phone reads buttons aloud as numbered choices for the keypad.
The core never imports a channel; the gateway app wires them in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class Capabilities:
    """What a channel can show or do; the core may shape an answer by it, never by the channel's name."""

    buttons: bool = False  # choices a person taps; without them, numbered text or keypad digits
    voice: bool = False  # replies can be spoken and speech can come in
    large_text: bool = False  # big type and few words per screen (the kiosk)
    push: bool = False  # messages can reach the person outside a turn of theirs


@runtime_checkable
class Channel(Protocol):
    """A channel: its name (the `channel` of its incoming messages) and what it can render."""

    @property
    def name(self) -> str: ...

    @property
    def capabilities(self) -> Capabilities: ...


@dataclass(frozen=True)
class ChannelInfo:
    """The declaration of a channel that has no object of its own (its routes are module functions)."""

    name: str
    capabilities: Capabilities

