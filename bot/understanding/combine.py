"""Combines the dialogue engine's parse with knowledge-base service matching.

The engine (DIET on words and character n-grams) is good at *what* a person
wants; the knowledge-base matcher (aliases, pinyin, homophones, one-character
slips, descriptive keywords) is better at *which service* they mean, because it
knows every alias and needs no retraining when the catalogue changes. One
function decides for both the conversations and POST /api/understand.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from bot.knowledge.catalogue import KEYWORD_TIERS, POPULAR_SERVICES
from bot.understanding.access import cannot_come
from bot.understanding.normalise import normalise
from bot.understanding.question_words import GENERIC_KINDS, QUESTIONS, asked_kind
from bot.understanding.search import ServiceMatch, ServiceMatcher
from bot.understanding.texts_wanted import asks_for_texts
from bot.understanding.vocabulary import to_vocabulary

# A matcher score at or above this overrides a different service the engine tagged.
STRONG_MATCH = 0.85
# Below this a match is not trusted on its own.
WEAK_MATCH = 0.6
# Candidates within this distance of the best are "too close to call": ask the person. So is a service
# described by one phrase of the weakest keyword tier alone, with nothing else for it (not the engine's tag,
# not the conversation): a guess, which the person is asked to confirm rather than answered about.
AMBIGUITY_GAP = 0.08
# Services residents mix up (a newborn's 户口 and the birth registration, the allowance for the very old and
# the card for free buses, ...): when the message also points to the other one of a pair, even clearly less,
# the person is asked which is meant rather than answered about a wrong one.
CONFUSABLE = {
    frozenset({"household_registration", "birth_registration"}),
    frozenset({"household_registration", "residence_permit"}),
    frozenset({"senior_allowance", "senior_card"}),
    frozenset({"senior_allowance", "pension_qualification"}),
    frozenset({"medical_reimbursement", "medical_transfer_registration"}),
    frozenset({"unemployment_benefit", "flexible_employment_insurance"}),
}
CONFUSABLE_GAP = 0.3
# Asking for text messages: the engine intent of the button "短信提醒我", and how sure the rule that finds
# such a request is. Only an emergency said in the same breath outweighs it.
TEXTS_INTENT = "sms_opt_in"
TEXTS_TRUST = 0.9
URGENT = {"emergency"}
# When the engine falls back, its best real intent is still used from this confidence on.
FALLBACK_INTENT_FLOOR = 0.25

# Below this confidence, the question words of a message decide which question about a service it asks.
QUESTION_WORDS_TRUST = 0.9
# A message without Chinese or digits keeps the engine's intent only from this confidence on.
NONSENSE_TRUST = 0.95

QUESTION_LIKE = {"out_of_scope", "nlu_fallback", "inform", "affirm"}
# Below this confidence the engine is guessing; a short message that clearly names a service ("取公积金",
# "无房证明") is then a question about it, and its question words, if any, say which question.
UNSURE = 0.5
SHORT_MESSAGE = 10
# The readings such a guess may replace: never a form's controls (stop, go back, correct) or an emergency.
GUESSES = {"check_status", "request_human", "repeat", "complain", "greet", "thank", "goodbye", "deny",
           "start_application", "book_appointment"}
# Asking for a task of daily life ("帮我写一首诗", "帮我给老板写封信", "帮我订张火车票", "帮我申请个微信号"):
# with no service named, "帮我…" is not an application, whatever the engine read in its first words.
_EVERYDAY_TASK = re.compile(
    "(?:帮|给|替)(?:我|俺|咱)(?:们)?(?:给[^，,。]{1,4}?)?"
    "(?:写|订|买|查一?下?(?!进度|申请|预约)|注册|翻译|算|叫|点|讲|唱|画|做(?!个登记)|开通|抢|挂个?医院|起个)"
    "|(?:申请|注册|开)(?:一?个)?(?:微信|抖音|快手|QQ|qq|淘宝|邮箱|账号|会员)"
)
# Asking how far something already handed in has got ("审批到哪了", "投诉有人处理没有", "批下来没"): its status,
# however angry the story around it sounds. "还能办没" asks whether one may, so a bare 办没 is not enough.
_STATUS = re.compile(
    "(?:审批|审核|批|办|处理|进展|走)到(?:哪一步|哪了|哪儿了|什么程度)|(?:审批|审核|办理?|处理)得?怎么样了"
    "|(?:处理|批|审|办)(?:好|完|下来)?了没有?$|(?:处理|批|审|办)(?:好|完|下来)没有?$"
    "|有(?:人处理|人管|结果|回音|信儿|消息)没有?$"
    # Whether it was done at all, asked as "做没做", "办没办好", "批没批下来", "有没有办好".
    "|(做|办|批|审)没\\1|有没有(?:办好|办下来|批下来|做过|审核通过|通过)"
)
STATUS_TRUST = 0.9
# An appointment already made ("约好的", "上回约的", "那个号") with a change of time or a cancellation ("推到后天",
# "不去了", "撤了") is a change to it; the engine reads some as a new booking.
_MADE_APPOINTMENT = re.compile("约的|约好|约了|预约的|预约好|那个号|约的号|[之以]前约|上[回次]约|约过")
_CHANGE = re.compile(
    "改|推(?:到|迟|后)|往后|挪|延(?:后|期|到)|换(?:到|成|个|一天|一个)|提前(?:到|一)"
    "|取消|撤|退(?:了|掉|号)|不去了|去不了|作废|不要了"
)
# Asking for a visit without a word of changing one ("预约下周三去补身份证", "想约周二去把身份证换了"): a booking,
# though the engine took the service's own verb (换, 补) for a change.
_BOOKING = re.compile("约|排号|排个号|挂号|挂个号|订个?号")
# The readings a status phrase outweighs: a story of a complaint already made reads like a new one to file, or,
# with "想知道…", like a correction of a form's field.
STATUS_READINGS = QUESTIONS | QUESTION_LIKE | {"complain", "start_application", "correct_field", "skip"}
# What numbers typed after a question make the engine read, however sure it is: giving a value, starting a form.
ANSWER_READINGS = {"inform", "start_application"}
# Cooking is never a public service: a dish with "how to cook it" or "how long to stew it", or a recipe.
_COOKING = re.compile(
    "(?:肉|鱼|鸡|鸭|蛋|虾|排骨|饺子|包子|馒头|面条|豆腐|茄子|土豆|白菜|汤|菜)[^，,。]{0,3}"
    "(?:怎么|咋|如何)(?:做|炒|烧|煮|炖|蒸|腌|包|弄才?好吃)|菜谱|食谱|(?:做|烧|炒)法"
    "|(?:炖|煮|蒸|卤|烤|焖)[^，,。]{0,4}(?:多久|多长时间|几分钟|几个小时)"
)
REQUESTS = {"start_application", "book_appointment"}
# Displeasure with the office itself ("这服务态度太差", "你们到底会不会办事", "一趟趟让我来回跑", "我要投诉你们窗口")
# is a complaint, whatever service or question its story mentions, however sure the engine is of a question
# ("怎么办事的" looks like "怎么办"). Not a complaint about an employer ("投诉老板欠薪": a service of its own), nor a wish not to
# go twice ("别让我白跑", "免得来回跑 能网上办吗"). 投述 is a common slip for 投诉.
_COMPLAINT = re.compile(
    "(?:服务|态度)(?:也|真|太|很|可|实在|这么)?(?:差|恶劣|不好|凶)"
    "|怎么办事的|会不会办事|还办不办事|办的什么事|什么态度|什么服务"
    "|(?<!别)(?<!不要)(?<!免得)(?<!省得)(?<!不想)(?:让我来回跑|来回让我跑)|踢皮球|推来推去|推三阻四|爱理不理|不理人"
    "|投[诉述](?:你们|窗口|工作人员|办事员|这个人|那个人)"
)
# The readings a complaint's words outweigh: its story looks like a question about a service, or like a wish to
# talk to someone; never a status question ("审批到哪了 什么态度" asks how far it has got).
COMPLAINT_READINGS = QUESTIONS | QUESTION_LIKE | {"request_human", "start_application"}
# Someone who cannot come asks how the service is done without coming: by a relative, by proxy, by a visit
# (the access answer, whose buttons are ask_how_to_apply too). The engine reads such a message as whatever its
# words look like: whether a relative may go, where, an application, a person to talk to.
CANNOT_COME_READINGS = {"ask_eligibility", "ask_location_hours", "ask_materials", "start_application",
                        "request_human"}
# ... unless a person to talk to is what they ask for ("去不了 给我转人工").
_ASKS_FOR_A_PERSON = re.compile("人工|客服|真人|转人|找人工|接线员")
_CJK = re.compile(r"[\u3400-\u9fff]")


@dataclass(frozen=True)
class Understanding:
    """What a message means: the engine intent, the service, and close alternatives."""

    intent: str
    intent_confidence: float
    service: str | None
    service_confidence: float
    candidates: tuple[str, ...] = field(default_factory=tuple)

    @property
    def public_intent(self) -> str:
        """The intent as a name of the public vocabulary."""
        return to_vocabulary(self.intent)

    @property
    def ambiguous(self) -> bool:
        """True when two or more services are about equally likely."""
        return len(self.candidates) > 1


def engine_intent(parse: dict[str, Any]) -> tuple[str, float]:
    """The engine's intent; for a fallback, its best real intent when that is not too weak."""
    intent = parse.get("intent") or {}
    name, confidence = intent.get("name") or "nlu_fallback", float(intent.get("confidence") or 0.0)
    if name == "nlu_fallback":
        ranking = [r for r in parse.get("intent_ranking") or [] if r.get("name") != "nlu_fallback"]
        if ranking and float(ranking[0].get("confidence") or 0) >= FALLBACK_INTENT_FLOOR:
            return ranking[0]["name"], float(ranking[0]["confidence"])
    return name, confidence


def engine_service(parse: dict[str, Any], known: set[str]) -> tuple[str | None, float]:
    """The service entity the engine found (or a button sent), if it is a known service id."""
    for entity in parse.get("entities") or []:
        if entity.get("entity") == "service" and entity.get("value") in known:
            return entity["value"], float(entity.get("confidence_entity") or 1.0)
    return None, 0.0


def looks_like_nonsense(text: str) -> bool:
    """Text with no Chinese character and no digit (emoji, keyboard mashing like 'asdfgh'), or only hesitations.

    A transcript of nothing but "嗯 那个 呃" says nothing; a bare "嗯" or "嗯嗯" is a spoken yes and is kept.
    """
    if not _CJK.search(text) and not any(ch.isdigit() for ch in text):
        return True
    return not normalise(text) and bool(set(_CJK.findall(text)) - {"嗯"})


def complains(text: str) -> bool:
    """True when the message voices displeasure with the office or its staff."""
    return bool(_COMPLAINT.search(text))


def _confusable(service: str, confidence: float, matches: list[ServiceMatch]) -> tuple[str, ...]:
    """The service and the one it is often mixed up with, when the message points to both; else nothing."""
    for match in matches:
        if (frozenset({service, match.service_id}) in CONFUSABLE and not match.background
                and confidence - match.score <= CONFUSABLE_GAP):
            return (service, match.service_id)
    return ()


def _guessed(service: str, matches: list[ServiceMatch]) -> tuple[str, ...]:
    """The services to ask about when one phrase of the weakest tier is all that names a service ("生意", "外地户口"):
    the guess first, then the others the message points to or, when it points to none, the most asked."""
    others = [m.service_id for m in matches if m.service_id != service and not m.background]
    return (service, *(others or [s for s in POPULAR_SERVICES if s != service]))


def combine(parse: dict[str, Any], text: str, matcher: ServiceMatcher, known_services: set[str],
            context_service: str | None = None) -> Understanding:
    """Decides intent and service from the engine's parse of `text`, the catalogue matcher and the context.

    `context_service` is the service the conversation is already about: a follow-up like "要钱吗"
    keeps it unless the message names another service clearly (a weak sound-alike does not count).
    """
    intent, intent_confidence = engine_intent(parse)
    tagged, tagged_confidence = engine_service(parse, known_services)
    if text.startswith("/"):
        # A button payload: intent and service are exactly what the button says.
        return Understanding(intent, intent_confidence, tagged, tagged_confidence if tagged else 0.0)

    matches = matcher.match(text, limit=3)
    candidates: tuple[str, ...]
    service, service_confidence, candidates = None, 0.0, ()
    described = False  # the service was found from a description of a problem, not named
    if matches:
        best = matches[0]
        close = tuple(m.service_id for m in matches if best.score - m.score <= AMBIGUITY_GAP)
        # The engine tags any service name; the matcher knows when that name is only a document the person
        # holds or must bring ("我们有居住证" in a question about school), and then the other service wins.
        tagged_background = any(m.service_id == tagged and m.background for m in matches)
        if tagged and not tagged_background and (tagged == best.service_id or best.score < STRONG_MATCH):
            service = tagged
            same = next((m.score for m in matches if m.service_id == tagged), 0.0)
            service_confidence = max(tagged_confidence, same)
            candidates = close if tagged in close and len(close) > 1 else ()
        elif context_service and best.score < STRONG_MATCH:
            service, service_confidence = context_service, 1.0
        elif best.score >= WEAK_MATCH:
            service, service_confidence = best.service_id, best.score
            described = best.method == "keyword"
            candidates = close if len(close) > 1 else ()
            if tagged and tagged != service and tagged not in candidates:
                # The engine and the catalogue disagree about the service: ask rather than answer about a wrong one.
                candidates = (*(candidates or (service,)), tagged)
        if service and not candidates:
            candidates = _confusable(service, service_confidence, matches)
    elif tagged:
        service, service_confidence = tagged, tagged_confidence

    if intent not in URGENT and asks_for_texts(text):
        # "有消息的话短信通知我吧", "有结果了发个信息给我": the request for texts, whatever the engine made of its
        # condition or its slips (短新, 段信); the conversation sends it as the button's payload (pipeline.py).
        return Understanding(TEXTS_INTENT, max(intent_confidence, TEXTS_TRUST), service, service_confidence)
    if (intent in STATUS_READINGS and (intent_confidence < STATUS_TRUST or intent in ANSWER_READINGS)
            and _STATUS.search(text)):
        # How far something handed in has got, however the rest reads (a number after it reads as an answer, and
        # the engine can be sure of that reading: a reference and a phone after the question).
        intent = "check_status"
    if service and intent in QUESTION_LIKE and service_confidence >= STRONG_MATCH and intent_confidence < 0.9:
        # A bare service name ("社保卡", "居住证的事") is a question about that service. The engine was not sure
        # of any intent, and the reading keeps that doubt: a clause it reads surely wins over it.
        intent = "ask_how_to_apply"
    if (intent in GUESSES and intent_confidence < UNSURE and service_confidence >= STRONG_MATCH
            and len(text) <= SHORT_MESSAGE):
        intent = asked_kind(text) or "ask_how_to_apply"
    if not service and not context_service and (
            (intent in REQUESTS and _EVERYDAY_TASK.search(text)) or _COOKING.search(text)):
        intent, intent_confidence = "out_of_scope", max(intent_confidence, 0.5)
    kind = asked_kind(text) if intent in QUESTIONS else None
    if kind and kind != intent and intent_confidence < QUESTION_WORDS_TRUST:
        # "…要带啥东西" after a story of a birth is a materials question, whatever the story looks like.
        intent = kind
    # Booking and changing a visit are told apart by their words, not by the service's own verb (补, 换).
    if intent == "book_appointment" and _MADE_APPOINTMENT.search(text) and _CHANGE.search(text):
        intent = "cancel_appointment"
    elif (intent == "cancel_appointment" and _BOOKING.search(text) and not _MADE_APPOINTMENT.search(text)
            and not _CHANGE.search(text)):
        intent = "book_appointment"
    if intent in COMPLAINT_READINGS and complains(text):
        intent = "complain"
    if intent == "complain" and described and complains(text):
        # A complaint about the office is about the office: its story ("我请了假扣着工资来的") describes no service.
        service, service_confidence, candidates = None, 0.0, ()
    if described and service_confidence < KEYWORD_TIERS["likely"] and cannot_come(text):
        # Why someone cannot come ("我妈行动不便") is their condition, not the service they need: a mere hint
        # of a service in such a message names none, and the access answer asks which service.
        service, service_confidence, candidates = None, 0.0, ()
    if (intent in CANNOT_COME_READINGS and cannot_come(text) and not _ASKS_FOR_A_PERSON.search(text)
            and asked_kind(text) in (None, *GENERIC_KINDS)):
        # "去不了 能派人来吗", "儿子帮我去领行不行": how it is done without coming (the access answer); but "上门办的话
        # 要准备什么" asks what to bring.
        intent = "ask_how_to_apply"
    if described and service and not candidates and service_confidence < KEYWORD_TIERS["likely"]:
        candidates = _guessed(service, matches)
    if not service and looks_like_nonsense(text) and intent_confidence < NONSENSE_TRUST:
        # The engine labels keyboard mashing confidently (e.g. "asdfgh" as affirm at 0.84); only a
        # very sure reading of a Latin-only message ("ok", "hello", "thanks") is kept.
        intent, intent_confidence = "out_of_scope", 1.0
    return Understanding(intent, intent_confidence, service, service_confidence, candidates)
