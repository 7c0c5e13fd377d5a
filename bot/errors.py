"""The project's one error tree: every error has a stable `code`, a human `message` and the HTTP `status`
the gateway answers with (bot/gateway/errors.py). Packages keep their own kinds in their own errors.py
(speech/errors.py, channels/phone/errors.py), all derived from BianminError.
"""

from __future__ import annotations


class BianminError(Exception):
    """Base error: `code` is machine-readable, `message` says what happened and what to do."""

    code = "error"
    status = 500

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code


class ConfigurationError(BianminError):
    """A setting is missing or invalid; raised at start-up."""

    code = "configuration"


class NotFound(BianminError):
    """The requested thing does not exist."""

    code = "not_found"
    status = 404


class InvalidRequest(BianminError):
    """The request is well-formed JSON but asks for something impossible."""

    code = "invalid_request"
    status = 422


class Conflict(BianminError):
    """The request conflicts with the current state (e.g. a full appointment slot)."""

    code = "conflict"
    status = 409


class MessageIdReused(Conflict):
    """A client's message id came before with another text: a client bug, refused rather than answered wrongly.

    Raised by the gateway for a message kept in its database and by the dialogue engine for one in its tracker.
    """

    code = "message_id_reused"

    def __init__(self, message: str = "this message_id was sent before with another text; send a new id for a new "
                                      "message") -> None:
        super().__init__(message)


class EngineUnavailable(BianminError):
    """The Rasa server or the action server did not answer in time."""

    code = "engine_unavailable"
    status = 503


class Unauthorized(BianminError):
    """No valid staff token."""

    code = "unauthorized"
    status = 401


class Forbidden(BianminError):
    """A valid staff token without the right role."""

    code = "forbidden"
    status = 403
