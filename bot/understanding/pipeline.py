"""One understanding for the conversations and for POST /api/understand.

A message goes through: normalisation and rewriting (pinyin, English words), the
engine's parse, and, for a long rambling message, a second parse of its last
clauses — where people put what they want after telling their story ("…我老伴
住了两回医院…我也不晓得到底咋个报法"). The service is looked for in the whole
message. The conversation then receives the text the decision was made on, with
the service found in the whole message as a hint in the metadata.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from bot.engine.client import RasaClient
from bot.understanding.combine import Understanding, combine
from bot.understanding.rewrite import rewrite
from knowledge_base.catalogue import get_catalogue
from knowledge_base.search import ServiceMatcher

# A message at least this long, with at least this many clauses, is read for its last clauses too.
LONG_MESSAGE = 24
MIN_CLAUSES = 3
TAIL_CLAUSES = 2
# The tail's reading replaces the whole message's when it is at least this much surer.
TAIL_MARGIN = 0.05
_CLAUSE_BREAK = re.compile(r"[，。？！,.?! ]+")


@dataclass(frozen=True)
class Reading:
    """What the engine should read (`text`), what it means, and the service of the whole message."""

    text: str
    understanding: Understanding
    parse: dict[str, Any]


def clauses(text: str) -> list[str]:
    """The clauses of a message, split at punctuation and the pauses of voice transcripts."""
    return [c for c in _CLAUSE_BREAK.split(text) if c]


def is_rambling(text: str) -> bool:
    """True for a long message of several clauses, whose request is usually in its last clauses."""
    return not text.startswith("/") and len(text) >= LONG_MESSAGE and len(clauses(text)) >= MIN_CLAUSES


async def read(rasa: RasaClient, raw_text: str, context_service: str | None = None) -> Reading:
    """Understands a message: rewrite, parse, and for long messages parse the last clauses too."""
    catalogue = get_catalogue()
    matcher = ServiceMatcher.from_catalogue(catalogue)
    known = set(catalogue.services)
    text = rewrite(raw_text)
    parse = await rasa.parse(text)
    whole = combine(parse, text, matcher, known, context_service=context_service)
    parts = clauses(text)
    if not is_rambling(text):
        return Reading(text, whole, parse)
    tail = "，".join(parts[-TAIL_CLAUSES:])
    tail_parse = await rasa.parse(tail)
    tail_reading = combine(tail_parse, tail, matcher, known, context_service=whole.service or context_service)
    if tail_reading.intent_confidence >= whole.intent_confidence + TAIL_MARGIN:
        focused = Understanding(tail_reading.intent, tail_reading.intent_confidence, whole.service,
                                whole.service_confidence, whole.candidates)
        return Reading(tail, focused, tail_parse)
    return Reading(text, whole, parse)


async def engine_input(rasa: RasaClient, raw_text: str) -> tuple[str, str | None]:
    """The text a conversation's engine reads, and the service of the whole message as a hint.

    Short messages cost nothing extra; only a rambling one is parsed here first, to pick its focus.
    """
    text = rewrite(raw_text)
    if not is_rambling(text):
        return text, None
    reading = await read(rasa, raw_text)
    return reading.text, reading.understanding.service
