"""Everything `make run` and `make test` do before starting: database, training inputs, model, engine config."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from bot.db.migrate import upgrade
from bot.engine.build import ensure_model, write_engine_config, write_training_inputs
from bot.settings import Settings

log = logging.getLogger("bianmin.prepare")


def prepare(settings: Settings) -> Path:
    """Migrates the database, derives training inputs from the catalogue, trains if needed; returns the model."""
    started = time.monotonic()
    upgrade(settings.database_url)
    write_training_inputs(settings.knowledge_base_dir)
    model = ensure_model(settings)
    write_engine_config(settings)
    log.info("prepared in %.1f s (model %s)", time.monotonic() - started, model.name)
    return model
