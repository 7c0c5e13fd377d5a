"""Chinese personal names: the surnames residents have, and a name a person gives in a sentence of their own.

A name asked for by a form is held back whole (the answer is the name); this module finds
one given unasked, as in "我叫张三丰，身份证……". The rule is deliberately narrow, so that
place names and ordinary words are not mistaken for names: a lead-in that introduces a
name (我叫, 我的名字是, 姓名：, 本人叫, 我是), then a surname of the household register, then
one or two more characters, then the end of the name (punctuation, a number, or the next
thing the person says about themselves).
"""

from __future__ import annotations

import re

# The 100 commonest surnames of the 2020 household register, commonest first.
COMMON_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林高罗郑梁谢宋唐许邓韩冯曹彭曾肖田董潘袁蔡蒋余于杜叶程魏苏吕丁任卢姚沈钟"
    "姜崔谭陆范汪廖石金韦贾夏付方邹熊白孟秦邱侯江尹薛闫段雷龙黎史陶贺毛郝顾龚邵万覃武钱戴严莫孔向汤"
)
# Rarer surnames residents write (several outside GB2312).
RARE_SURNAMES = "覃闫邝仝禤邴隗郗逄乜亓佴缑笪訾鄢郇逯阚酆晁冼佘靳蔺綦璩寇畲"
# Two-character surnames still common enough to meet at a service centre.
COMPOUND_SURNAMES = ("欧阳", "司马", "诸葛", "上官", "东方", "慕容", "尉迟", "公孙", "夏侯", "皇甫", "令狐", "长孙",
                     "宇文", "司徒", "端木", "独孤", "南宫", "西门", "轩辕", "呼延", "申屠", "澹台", "百里", "太史")

# Characters that end a phrase rather than a given name: 我是江苏人, 我叫王师傅, 我是武汉的.
# Nor can a given name hold the first character of what a person wants next (我叫王五想办…, not 王五想).
_NOT_IN_A_GIVEN_NAME = "人区市县省州镇乡村街路号的了们吗呢吧啊呀师傅先士姨叔爷奶想要来办问需申补咨"
_GIVEN = rf"[\u4e00-\u9fff\U00020000-\U0002a6df](?<![{_NOT_IN_A_GIVEN_NAME}])"
_SURNAME = "(?:" + "|".join(COMPOUND_SURNAMES) + f"|[{COMMON_SURNAMES}{RARE_SURNAMES}])"
# Where a name ends: punctuation, a number, the end, or what a person says next about themselves.
_END = r"(?:$|[\s,，。.!！?？;；:：、()（）\"'“”‘’0-9０-９]|身份证|证件|电话|手机|号码|联系|今年|家住|住在|住址)"
# After these lead-ins a name may also run straight into what the person wants: 我叫王五想办社保卡.
_NAMING = r"(?:我叫|我的名字(?:是|叫)|名字(?:是|叫)|姓名(?:是|为)?[:：]?|本人叫)"
_WANTS = r"(?:想|要|来|需要|办|申请|补办|咨询|问)"

NAME_IN_TEXT = re.compile(
    rf"(?:{_NAMING}\s*(?P<named>{_SURNAME}(?:{_GIVEN}){{1,2}})(?={_END}|{_WANTS})"
    rf"|(?:我是|本人是)\s*(?P<said>{_SURNAME}(?:{_GIVEN}){{1,2}})(?={_END}))"
)


def names_in_text(text: str) -> list[tuple[int, int]]:
    """Where names a person gave of themselves stand in a text (start, end), left to right."""
    return [match.span("named") if match.group("named") else match.span("said")
            for match in NAME_IN_TEXT.finditer(text or "")]
