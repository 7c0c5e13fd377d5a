"""Which characters the recogniser knows: GB2312 levels 1 and 2 and the rarer characters of surnames and given names."""

from __future__ import annotations

import functools

from bot.names import COMMON_SURNAMES, RARE_SURNAMES

__all__ = ["COMMON_SURNAMES", "RARE_NAME_CHARACTERS", "gb2312_level", "wanted"]

# Surnames and name characters residents write that are rare; those outside GB2312 are why this list exists.
RARE_NAME_CHARACTERS = RARE_SURNAMES + (
    "喆堃昇祎彧瑄珺玥琤赟燚犇骉璟淼鑫睿婕妤晗琪萱梓涵浩宇轩铄煜炜昕晟祺瑾瑜"
)


@functools.cache
def gb2312_level(level: int) -> tuple[str, ...]:
    """The 3,755 characters of GB2312 level 1 (by pinyin) or the 3,008 of level 2 (by radical), in code order."""
    rows = range(0xB0, 0xD8) if level == 1 else range(0xD8, 0xF8)
    found = []
    for row in rows:
        for cell in range(0xA1, 0xFF):
            try:
                found.append(bytes((row, cell)).decode("gb2312"))
            except UnicodeDecodeError:
                continue  # the unassigned cells at the end of row 0xD7
    return tuple(found)


def wanted() -> tuple[str, ...]:
    """Every character the recogniser should know, without repeats, in a stable order."""
    return tuple(dict.fromkeys((*gb2312_level(1), *gb2312_level(2), *RARE_NAME_CHARACTERS)))
