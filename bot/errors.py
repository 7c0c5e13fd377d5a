"""Errors of the bot package: each has a stable `code` for clients and logs and a human `message`."""

from __future__ import annotations


class BianminError(Exception):
    """Base error: `code` is machine-readable, `message` says what happened and what to do."""

    code = "error"
    status = 500

    def __init__(self, message: str, *, code: str | None = None):
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
