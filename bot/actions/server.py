"""Runs the action server with the project's logging (exceptions logged, personal numbers masked).

This is rasa-sdk's `endpoint.run` with two steps more. Sanic runs the app in worker
processes it starts afresh and builds from the loader's factory, so the factory is where
each worker configures its logging (otherwise a worker's records bypass the masking
filter) and adds the warm-up: building the lexicon and the service matcher before it
serves (over a second), so the first person after a start does not wait for them.
"""

from __future__ import annotations

from functools import partial

from rasa_sdk import endpoint, utils
from bot.actions.vaulted import VaultedExecutor
from sanic import Sanic
from sanic.worker.loader import AppLoader
from sanic.worker.manager import WorkerManager
from sanic.worker.process import WorkerProcess

from bot.logs import configure_logging
from bot.process.lifetime import die_with_parent
from bot.settings import get_settings
from bot.understanding.rewrite import warm_up

# Sanic stops everything when a worker has not said it is up within 30 s (its documented setting, in tenths of
# a second). On a machine busy with a cluster's start (Rasa servers loading their models) the import and the
# warm-up take longer; a worker that fails still ends the start at once.
WORKER_START_LIMIT_TENTHS = 1800


async def _warm_up(_app: Sanic, _loop: object) -> None:
    warm_up()


def _configure_logging() -> None:
    configure_logging(get_settings().log_level)
    utils.update_sanic_log_level()


def create_app(executor: VaultedExecutor) -> Sanic:
    """rasa-sdk's action server app with our logging, warmed up before it serves (module level: Sanic pickles it)."""
    # Each worker ends with Sanic's process manager: a killed manager must not leave a worker holding the port.
    die_with_parent()
    _configure_logging()
    app = endpoint.create_app_for_serve(executor, cors_origins=None, auto_reload=False)
    app.register_listener(_warm_up, "before_server_start")
    return app


def main() -> None:
    """Serves the custom actions in bot.actions on the configured loopback address."""
    settings = get_settings()
    _configure_logging()
    WorkerManager.THRESHOLD = WorkerProcess.THRESHOLD = WORKER_START_LIMIT_TENTHS
    executor = VaultedExecutor()
    executor.register_package("bot.actions")
    loader = AppLoader(factory=partial(create_app, executor))
    app = loader.load()
    # On loopback like the Rasa server.
    app.prepare(host=settings.action_host, port=settings.action_port, workers=utils.number_of_sanic_workers())
    Sanic.serve(primary=app, app_loader=loader)


if __name__ == "__main__":
    main()
