"""What every web client of the tests does: keep each conversation's token from the answer that created it."""

from __future__ import annotations

from typing import Any

HEADER = "X-Conversation-Token"


class ConversationTokens:
    """Tokens by conversation id, as a browser keeps them in sessionStorage."""

    def __init__(self) -> None:
        self._tokens: dict[str, str] = {}

    def remember(self, body: dict[str, Any]) -> dict[str, Any]:
        """Keeps the token of a chat answer that carries one; returns the answer."""
        if isinstance(body, dict) and body.get("conversation_token"):
            self._tokens[body["conversation_id"]] = body["conversation_token"]
        return body

    def headers(self, conversation_id: str) -> dict[str, str]:
        """The header that proves the conversation, or none before its first answer."""
        token = self._tokens.get(conversation_id)
        return {HEADER: token} if token else {}

    def token(self, conversation_id: str) -> str | None:
        """The kept token of a conversation."""
        return self._tokens.get(conversation_id)

    def keep(self, conversation_id: str, token: str) -> None:
        """Keeps a token handed out some other way than a chat answer."""
        self._tokens[conversation_id] = token


# One keeper per test process: conversation ids repeat between tests that share a database.
TOKENS = ConversationTokens()


def open_web_conversation(conversation_id: str, channel: str = "web") -> dict[str, str]:
    """Records a web conversation as its first turn would, keeping its token; returns the header that proves it."""
    from bot.services import conversations

    token, token_hash = conversations.new_token()
    conversations.ensure(conversation_id, channel, "zh-CN", token_hash)
    TOKENS.keep(conversation_id, token)
    return {HEADER: token}
