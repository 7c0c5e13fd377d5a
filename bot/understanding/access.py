"""Whether a message says the person cannot come in person ("他腿脚不好去不了", "能上门办吗", "能代办吗").

Such a question is answered from the service's proxy handling (代办) and home visits
(上门服务), not from its usual "where and when".
"""

from __future__ import annotations

import re

# Can't come: not able to go, leave the house or get up, too far, no time; or asks for someone else
# to go (代办, 委托, 家人替…) or for staff to come (上门, 派人, 来家里). A situation alone ("住院",
# "腿脚不好") is not enough: "住院花的钱怎么报" asks about the money, not about coming.
_CANNOT_COME = re.compile(
    "去不了|来不了|去不成|走不动|走不开|出不了门|出不去门|下不了[床楼]|起不了床|回不去|抽不出空|没空去"
    "|上门|到家里来|来家里|派.{0,2}人来|派人|代办|代领|代交|代为|委托|替[我他她俺]"
    "|帮[我他她俺]去[办领交拿取]|(?:家里人|家人|家属|亲属|亲戚|别人)(?:能|可以|能不能|可不可以)?[去替代帮]"
)


def cannot_come(text: str) -> bool:
    """True when the message says the person cannot come, or asks for someone to go or to come to them."""
    return bool(_CANNOT_COME.search(text or ""))
