"""Logging for every process of the assistant: one format, debug off by default, personal numbers masked."""

from __future__ import annotations

import logging
import sys

from bot.privacy import RedactingFilter

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(level: str = "INFO") -> None:
    """Sends logs to stderr through a filter that masks ID and phone numbers in every record."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Libraries that would log request bodies or raw messages stay at WARNING.
    for noisy in ("httpx", "httpcore", "sqlalchemy.engine", "multipart", "jieba"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
