"""One understanding for the conversations and for POST /api/understand.

A message goes through: normalisation and rewriting (dialect words, pinyin, English
words), the engine's parse, and, for a long rambling message, parses of its last
two clauses and of its last clause — where people put what they want after telling
their story ("…我老伴住了两回医院…我也不晓得到底咋个报法"). The reading the engine
is surest of wins: a story's background ("听说能办", "老板跑了") makes the whole
message look like another request, while a last clause that is only a fragment
("社保也交着") is read with little confidence. The service is looked for in the
whole message; when two services are named equally clearly, the one named later is
the likelier topic (background comes first). The conversation then receives the
text the decision was made on, with the service of the whole message as a hint.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from bot.engine.client import RasaClient
from bot.understanding.combine import Understanding, combine
from bot.understanding.rewrite import rewrite
from bot.knowledge.catalogue import get_catalogue
from bot.understanding.search import ServiceMatcher

# A message at least this long, with at least this many clauses, is read for its last clauses too.
LONG_MESSAGE = 24
MIN_CLAUSES = 3
# The tails read besides the whole message: its last two clauses, and its last clause alone.
TAIL_CLAUSES = (2, 1)
# A story's last clause often looks like a bare yes or no to the engine ("要不要本人去", "还能用不");
# a long message is never only that, so these readings of a tail do not win.
NOT_A_STORY_FOCUS = frozenset({"affirm", "deny"})
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


def focus_service(whole: Understanding, parts: list[str], matcher: ServiceMatcher) -> Understanding:
    """Among equally likely services of a long message, the one named in the latest clause comes first."""
    if not whole.ambiguous:
        return whole
    for clause in reversed(parts):
        named = [m.service_id for m in matcher.match(clause, limit=3) if m.service_id in whole.candidates]
        if named:
            first = named[0]
            candidates = (first, *(c for c in whole.candidates if c != first))
            return Understanding(whole.intent, whole.intent_confidence, first, whole.service_confidence, candidates)
    return whole


async def read(rasa: RasaClient, raw_text: str, context_service: str | None = None) -> Reading:
    """Understands a message: rewrite, parse, and for long messages parse the last clauses too."""
    catalogue = get_catalogue()
    matcher = ServiceMatcher.from_catalogue(catalogue)
    known = set(catalogue.services)
    text = rewrite(raw_text)
    parse = await rasa.parse(text)
    whole = combine(parse, text, matcher, known, context_service=context_service)
    if not is_rambling(text):
        return Reading(text, whole, parse)
    parts = clauses(text)
    whole = focus_service(whole, parts, matcher)
    best = Reading(text, whole, parse)
    for count in TAIL_CLAUSES:
        tail = "，".join(parts[-count:])
        if tail == best.text:
            continue
        tail_parse = await rasa.parse(tail)
        tail_reading = combine(tail_parse, tail, matcher, known, context_service=whole.service or context_service)
        if tail_reading.intent in NOT_A_STORY_FOCUS:
            continue
        if (tail_reading.intent_confidence > best.understanding.intent_confidence
                or best.understanding.intent in NOT_A_STORY_FOCUS):
            focused = Understanding(tail_reading.intent, tail_reading.intent_confidence, whole.service,
                                    whole.service_confidence, whole.candidates)
            best = Reading(tail, focused, tail_parse)
    return best


async def engine_input(rasa: RasaClient, raw_text: str) -> tuple[str, str | None]:
    """The text a conversation's engine reads, and the service of the whole message as a hint.

    Short messages cost nothing extra; only a rambling one is parsed here first, to pick its focus.
    """
    text = rewrite(raw_text)
    if not is_rambling(text):
        return text, None
    reading = await read(rasa, raw_text)
    return reading.text, reading.understanding.service
