"""Runs the action server with the project's logging (exceptions logged, personal numbers masked)."""

from __future__ import annotations

import os

from rasa_sdk import endpoint, utils
from rasa_sdk.executor import ActionExecutor

from bot.logs import configure_logging
from bot.settings import get_settings


def main() -> None:
    """Serves the custom actions in bot.actions on the configured loopback address."""
    settings = get_settings()
    # rasa-sdk reads its bind address from SANIC_HOST; keep it on loopback like the Rasa server.
    os.environ["SANIC_HOST"] = settings.action_host
    configure_logging(settings.log_level)
    utils.update_sanic_log_level()
    executor = ActionExecutor()
    executor.register_package("bot.actions")
    endpoint.run(executor, port=settings.action_port, cors_origins=None, auto_reload=False)


if __name__ == "__main__":
    main()
