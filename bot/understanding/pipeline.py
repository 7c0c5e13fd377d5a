"""One understanding for the conversations and for POST /api/understand.

A message goes through: normalisation and rewriting (dialect words, pinyin, English
words), the engine's parse, and, for a long rambling message, parses of its question
clause with the clause before it and of the question clause alone. The question
clause is the last one that asks something ("…我也不晓得到底咋个报法", "大概要多久能办
下来啊 我说的是居住证 …"); a story without one is read for its last clauses. The reading the engine
is surest of wins: a story's background ("听说能办", "老板跑了") makes the whole
message look like another request, while a last clause that is only a fragment
("社保也交着") is read with little confidence. Whatever reading wins, the question
words of the question clause say which kind of question it is ("…这个证明多少钱 怎么开"
asks how); a story that ends in displeasure with the office after its question is a
complaint; and a story that says nothing of an appointment is never read as booking or
changing one. The service is looked for in the whole message; when two services are named equally clearly, the one named later is
the likelier topic (background comes first). The conversation then receives the
text the decision was made on, with the service of the whole message as a hint.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

from bot.engine.client import RasaClient
from bot.knowledge.catalogue import get_catalogue
from bot.understanding.access import cannot_come
from bot.understanding.combine import AMBIGUITY_GAP, Understanding, combine, complains
from bot.understanding.question_words import GENERIC_KINDS, QUESTIONS, asked_kind
from bot.understanding.rewrite import rewrite
from bot.understanding.search import ServiceMatcher
from bot.understanding.texts_wanted import asks_for_texts

# A message at least this long, with at least this many clauses, is read for its last clauses too.
LONG_MESSAGE = 24
MIN_CLAUSES = 3
# The parts read besides the whole message: the question clause with the one before it, and alone.
TAIL_CLAUSES = (2, 1)
# A story's last clause often looks like a bare yes or no to the engine ("要不要本人去", "还能用不");
# a long message is never only that, so these readings of a tail do not win.
NOT_A_STORY_FOCUS = frozenset({"affirm", "deny"})
# A clause the engine reads as booking or changing a visit ("能不能加急", "到哪去办变更") is no story's question
# when the story says nothing of an appointment.
APPOINTMENT_READINGS = frozenset({"book_appointment", "cancel_appointment"})
_APPOINTMENT = re.compile("约|号|改期|取消|窗口时间")
# A reading of the question clause this sure wins over the reading of the whole story.
FOCUS_TRUST = 0.5
# What the engine reads in a story that asks a specific question instead ("…经营者得换成我 到哪去办变更"):
# a request to apply, or a correction of a form's field.
STORY_REQUESTS = frozenset({"start_application", "correct_field", "inform"})
_CLAUSE_BREAK = re.compile(r"[，。？！,.?! ]+")
# What makes a clause a question: a question word, or a clause-final 不/没/没有/吗 of spoken questions (能办不,
# 有信儿没, 处理了没有; not "工资条我没有"). "几" asks only when it is not a count told ("我们几个", "前几天"),
# "呢" not after 着 ("在医院等着呢" tells where someone is).
_ASKS = re.compile(
    "[吗嘛么？?]|(?<!着)呢|多久|多长|(?<![前这那们])几(?:天|个)|多少|哪|啥|什么|怎么|咋|怎样|如何|能不能|可不可以|要不要|是不是"
    "|有没有|会不会|行不行|够不够|算不算|中不中|[不没否]$|(?<![我你他她俺们都也还就])没有$|没得$"
)


# What the button "短信提醒我" sends; a message with a number in it (a phone, a reference) is never replaced.
TEXTS_PAYLOAD = "/sms_opt_in"
_NUMBER = re.compile("[0-9]{4,}")


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


def question_focus(parts: list[str]) -> int | None:
    """The index of the clause a story asks its question in (the last that asks something), or None."""
    for index in range(len(parts) - 1, -1, -1):
        if _ASKS.search(parts[index]):
            return index
    return None


def not_the_point(intent: str, story: str) -> bool:
    """True for a reading a long story never means: a bare yes or no, or a visit booked or changed when the story
    says nothing of an appointment."""
    return intent in NOT_A_STORY_FOCUS or (intent in APPOINTMENT_READINGS and not _APPOINTMENT.search(story))


def focus_service(whole: Understanding, text: str, parts: list[str], matcher: ServiceMatcher) -> Understanding:
    """Among equally likely services of a long message, the one named in the latest clause comes first.

    A document the story says the person holds or must bring ("我们有居住证") is not its topic, however late.
    """
    if not whole.ambiguous:
        return whole
    matches = matcher.match(text, limit=3)
    background = {m.service_id for m in matches if m.background}
    # Only services about as likely as the chosen one compete; a clearly weaker one of a pair residents mix
    # up ("认证" beside an age of 90) is asked about, but does not win for being named last.
    scores = {m.service_id: m.score for m in matches}
    floor = scores.get(whole.service or "", 0.0) - AMBIGUITY_GAP
    close = {c for c in whole.candidates if scores.get(c, 1.0) >= floor}
    for clause in reversed(parts):
        named = [m.service_id for m in matcher.match(clause, limit=3)
                 if m.service_id in close and m.service_id not in background]
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
    if not is_rambling(text) or asks_for_texts(text):
        # A request for texts is the whole story's point ("我眼睛不好 看不了这里 有消息短信通知我").
        return Reading(text, whole, parse)
    parts = clauses(text)
    whole = focus_service(whole, text, parts, matcher)
    best = Reading(text, whole, parse)
    end = question_focus(parts)
    asks = end is not None
    end = len(parts) if end is None else end + 1
    focus: list[Reading] = []
    for count in TAIL_CLAUSES:
        tail = "，".join(parts[max(0, end - count):end])
        if tail == text:
            continue
        tail_parse = await rasa.parse(tail)
        tail_reading = combine(tail_parse, tail, matcher, known, context_service=whole.service or context_service)
        if not_the_point(tail_reading.intent, text):
            continue
        focused = Understanding(tail_reading.intent, tail_reading.intent_confidence, whole.service,
                                whole.service_confidence, whole.candidates)
        focus.append(Reading(tail, focused, tail_parse))
    surest = max(focus, key=lambda r: r.understanding.intent_confidence, default=None)
    if surest is None:
        chosen = best
    elif asks and surest.understanding.intent_confidence >= FOCUS_TRUST:
        # The question asked wins over the story around it: background ("厂子倒闭了", "听说能领")
        # makes the whole message look confidently like another request.
        chosen = surest
    elif (surest.understanding.intent_confidence > best.understanding.intent_confidence
            or not_the_point(best.understanding.intent, text)):
        chosen = surest
    else:
        chosen = best
    if asks and end < len(parts) and complains("，".join(parts[end:])):
        # The story ends in displeasure after its question ("…到底还差什么 一趟趟让我来回跑 服务也太差了"): the whole of it
        # is the complaint.
        return Reading(text, replace(whole, intent="complain"), parse)
    return _asked_in(parts[end - 1], chosen) if asks else chosen


def _asked_in(question: str, reading: Reading) -> Reading:
    """The reading with the kind of question its question clause asks by its words, however sure the engine was.

    The engine reads a clause with the one before it ("这个证明多少钱，怎么开"), and the background
    weighs in; the last question asked is the one to answer. A clause that asks where, what to bring, how
    much or how long ("到哪去办变更") is that question even when the engine read a request to apply.
    "能不能" alone decides nothing: it opens questions of every kind ("能不能加急" asks how long).
    """
    kind = asked_kind(question)
    current = reading.understanding
    if kind in (None, current.intent, "ask_eligibility"):
        return reading
    if kind == "ask_how_to_apply" and cannot_come(question):
        return reading  # "能不能派人上门" asks how it is done without coming, as the reading already says
    if current.intent in QUESTIONS or (kind not in GENERIC_KINDS and current.intent in STORY_REQUESTS):
        return replace(reading, understanding=replace(current, intent=kind))
    return reading


async def engine_input(rasa: RasaClient, raw_text: str) -> tuple[str, str | None]:
    """The text a conversation's engine reads, and the service of the whole message as a hint.

    Short messages cost nothing extra; only a rambling one is parsed here first, to pick its focus.
    A request for texts reaches the engine as the button's payload, so its rule opts the person in whatever
    intent the words look like to the engine ("有消息的话…" reads as a fallback, "有结果了…" as a status
    question); one that carries a number is left as it is, for a form that asked for it.
    """
    text = rewrite(raw_text)
    if asks_for_texts(text) and not _NUMBER.search(text):
        return TEXTS_PAYLOAD, None
    if not is_rambling(text):
        return text, None
    reading = await read(rasa, raw_text)
    return reading.text, reading.understanding.service
