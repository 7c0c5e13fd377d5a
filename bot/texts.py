"""The assistant's sentences, read from YAML so that no resident-facing text lives in code.

Custom actions and the gateway compose answers from these templates and the
knowledge base; a deploying government translates or rewords them in YAML only.
Most are responses of the Rasa domain (dialogues/domain), which the engine may
predict. A sentence that only our code says and the engine never predicts lives in
dialogues/texts instead: the domain is training data (bot/engine/build.py), so a
response added there changes the training digest and forces a retraining, while
adding or rewording a sentence in dialogues/texts needs none. A name is defined in
one of the two places, never both (tests/bot/test_texts.py).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import yaml

from bot.settings import get_settings


@functools.lru_cache(maxsize=4)
def load_responses(domain_dir: Path | None = None, texts_dir: Path | None = None) -> dict[str, list[dict[str, Any]]]:
    """Every sentence by name: the domain's responses, then the sentences only custom actions say."""
    settings = get_settings()
    return {**read_responses(domain_dir or settings.domain_dir), **read_responses(texts_dir or settings.texts_dir)}


def read_responses(directory: Path) -> dict[str, list[dict[str, Any]]]:
    """The `responses` of every YAML file in `directory`, by name."""
    responses: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(directory.glob("*.yml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        responses.update(data.get("responses") or {})
    return responses


class _Blank(dict):
    """Leaves unknown placeholders visible instead of raising, so a wording change never crashes a turn."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def text(response: str, /, **values: Any) -> str:
    """The first variant of `response`, with {placeholders} filled from `values`."""
    variants = load_responses().get(response)
    if not variants:
        raise KeyError(f"response {response!r} is defined neither in the domain nor in dialogues/texts")
    return variants[0].get("text", "").format_map(_Blank(values))


def buttons(response: str, /) -> list[dict[str, str]]:
    """The buttons of `response` (empty when it has none), with payloads as the person's press sends them."""
    variants = load_responses().get(response) or [{}]
    return [{**b, "payload": unescape_braces(b.get("payload", ""))} for b in variants[0].get("buttons", [])]


def unescape_braces(payload: str) -> str:
    """A payload as sent: the domain doubles the braces of entities ('/inform{{"a": "b"}}') so Rasa
    does not take them for placeholders to fill; Rasa itself turns them back, this does the same."""
    return payload.replace("{{", "{").replace("}}", "}")
