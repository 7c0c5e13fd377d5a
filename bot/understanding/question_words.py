"""The kind of question a message asks, told by its question words ("在哪", "多少钱", "多久", "带啥").

The engine weighs every word of a message; in a story, words of the background
("听说能领", "材料都交了") can outweigh the few words that ask. A message whose
question words all ask one kind of question is that kind of question, among the
questions about a service.
"""

from __future__ import annotations

import re

QUESTION_KINDS = {
    "ask_location_hours": re.compile(
        "在哪|在哪里|在哪儿|去哪|上哪|到哪|哪个窗口|哪个地方|哪个部门|哪个单位|什么地方|啥地方|地址|喺边度|佗位"
        "|几点(?:上班|开门|关门|下班)|开不开门|开门不|上不上班|上班不"
    ),
    # A contribution's grade or base ("交社保能选档次吗", "缴费基数") is what it costs; "不要钱的卡" names a card.
    "ask_fee": re.compile(
        "多少钱|几多钱|收费|要钱(?!的)|收钱|交钱|收不收|费用|手续费|工本费|免费吗|花多少|一个月.{0,4}多少"
        "|档次|缴费基数|[交缴]多少|钱收"
    ),
    "ask_processing_time": re.compile(
        "多久|多长时间|几天|多少天|几个工作日|什么时候能|啥时候能|啥时候到|什么时候到|几时能|几耐|要等多"
    ),
    # Whether one may have or get something ("还能领不", "能不能取出来", "够不够条件"). It is the weakest
    # kind: "能不能选档次" asks what it costs, "能不能告诉我在哪" where.
    "ask_eligibility": re.compile(
        "能不能|能否|可不可以|够不够|符合|条件|算不算|有没有份|还能.{0,6}(?:吗|不|么)$"
        "|(?:能|可以)(?:领|取|办|报|批|吃|享受|拿|上|参加|交)[^，]{0,6}(?:吗|不)$"
    ),
    "ask_materials": re.compile("带什么|带啥|带哪些|带些|要什么材料|要啥材料|哪些材料|什么材料|啥材料|准备什么|准备啥|准备哪些|要带"),
    # How to get something done ("养老金怎么领", "这个怎么停掉", "住院的钱怎么报"); dialect (咋整, 啷个报) is Mandarin
    # by now. Not "怎么办事的" (a complaint) nor "怎么样" (how it went).
    "ask_how_to_apply": re.compile(
        "(?:怎么|如何|怎样)(?:才能|去|来)?(?:办(?!事)|申请|弄|搞|领|报|登记?|交(?!了)|补|换|开|停|转|迁|上户|落户?|取|提|改"
        "|注销|挂失|认证|续|参保)|办理流程|办事流程|什么手续|哪些手续|啥手续|什么程序|哪些步骤"
    ),
}
QUESTIONS = frozenset({"ask_how_to_apply", "ask_materials", "ask_location_hours", "ask_fee",
                       "ask_processing_time", "ask_eligibility"})


# Kinds that give way when a message also asks another kind, weakest first: "怎么办" ends many a question of
# where or what to bring ("在哪 怎么办"), and "能不能" opens questions of any kind.
GENERIC_KINDS = ("ask_how_to_apply", "ask_eligibility")


def asked_kind(text: str) -> str | None:
    """The one kind of question `text` asks by its question words, or None when none or several."""
    kinds = {kind for kind, words in QUESTION_KINDS.items() if words.search(text)}
    for generic in GENERIC_KINDS:
        if len(kinds) > 1:
            kinds.discard(generic)
    return kinds.pop() if len(kinds) == 1 else None
