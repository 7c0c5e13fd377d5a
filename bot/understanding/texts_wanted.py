"""Whether a message asks to be told by text message ("有消息的话短信通知我吧", "有结果了发个信息给我").

The engine learnt the button's words ("短信提醒我") and their close variants; residents who do not type much
put the request as a condition ("有消息的话…", "办好了…"), slip on the word (短新, 短息, 段信) or say 信息 for
a text. Such a request names a text message (or the phone it should reach) together with a wish to be told
(通知, 提醒, 告诉, 发给我). A message that only mentions a text it got or did not get ("验证码短信收不到怎么
办", "短信里说的材料是什么"), refuses texts ("别给我发短信了"), or asks a question about a service ("发短信
提醒要钱吗") asks for nothing of the kind.
"""

from __future__ import annotations

import re

from bot.understanding.question_words import asked_kind

# A text message as residents write it: the word and its slips, never 微信 (a WeChat message is no SMS).
_SMS = "(?:短[信新息讯伩芯]|段信|手机信息)"
# Being told: a verb of notice, or a text sent to me.
_TELL = "(?:通知|提醒|告诉|告知|知会|说一声|讲一声|联系)"
_WANTS_TEXTS = re.compile(
    # "短信通知我", "用短信提醒一下", "短息告诉我一声", "短信联系我"; not "短信里说…" nor "短信上写的".
    f"{_SMS}(?![里上中])[^，。？]{{0,3}}?{_TELL}"
    # "发短信", "发个短新给我", "给我发条短信", "前一天给我个短信", "以后都发短信吧"; not what was sent ("发来的短信", "发了条短信").
    f"|发(?:个|条|一条|一个|一下)?{_SMS}|给(?:我|俺)(?:个|条|一条){_SMS}"
    # "发个信息给我", "给我发个消息", "有结果了发信息告诉我".
    f"|发(?:个|条|一条|一个)?(?:信息|消息)(?:给我|给俺|告诉|通知|到我)|给(?:我|俺)(?:手机)?发(?:个|条|一条|一个)?(?:信息|消息)"
    # "发到我手机上", "给我手机发条提醒", "手机上通知我".
    f"|发到(?:我|俺)的?手机|手机(?:上|号上)?(?:发(?:个|条|一条)?(?:提醒|通知)|(?:提醒|通知|告诉)(?:我|俺|一下))"
    # "开通短信提醒", "我要短信提醒", "要短信", "收短信提醒".
    f"|(?:开通?|要|收|订|想收){_SMS}(?:提醒|通知)?"
    f"|^{_SMS}(?:提醒|通知)?(?:吧|就行|就好|谢谢)?$"
)
# A text received, missed or described ("没收到短信", "短信里说", "验证码"), one sent by the person ("给你们
# 发短信"), a refusal ("别发短信了", "不要短信提醒"), or why they were texted ("为什么给我发短信").
_NOT_A_REQUEST = re.compile(
    "(?<![想要能以])收到|收不到|接到|接不到|验证码|短信里|短信上|短信说|上面说|里面说|内容"
    "|发来的|发过来的|发的短信|发了|给你们|给您|给你|到你们|(?:通知|告诉|提醒)(?:我|俺)(?:说|去|来|已经|审核|申请)"
    "|(?<![要能可行])(?:不要|别|不用|不想|不需要|用不着|不再|不)(?:再|给我|给俺|再给我)?(?:发|收|短|段|提醒|通知)"
    "|能不能不(?:发|收|要)"
    "|(?:取消|退订|停掉|关掉|关闭)[^，。？]{0,2}(?:短|段|提醒|通知)|(?:短|段)[^，。？]{0,4}(?:不用了|不要了|算了)"
    "|为什么|为啥|怎么回事|什么意思|是什么|骗子|诈骗|微信"
)


def asks_for_texts(text: str) -> bool:
    """True when the message asks to be told by text message from now on.

    A question about a service in the same message ("发短信提醒要钱吗", "…要带什么") is the question asked;
    "能不能短信提醒一下" asks for the texts, so whether one may is no other question.
    """
    if not _WANTS_TEXTS.search(text) or _NOT_A_REQUEST.search(text):
        return False
    return asked_kind(text) in (None, "ask_eligibility")
