"""Chinese numerals and article labels: 第一百零二条 ↔ 102, 第一百七十五条之一 ↔ (175, 1)."""

from __future__ import annotations

import re

__all__ = ["cn_to_int", "int_to_cn", "parse_label", "make_label", "LABEL_RE", "CN_NUMBER"]

_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_UNITS = {"十": 10, "百": 100, "千": 1000}
_CN_DIGITS = "零一二三四五六七八九"

CN_NUMBER = r"[零〇一二两三四五六七八九十百千万\d０-９]+"
LABEL_RE = re.compile(rf"第\s*({CN_NUMBER})\s*条(?:\s*之\s*({CN_NUMBER}))?")


def cn_to_int(text: str) -> int:
    """Convert a Chinese (or Arabic, half- or full-width) numeral below 100,000 to an int."""
    text = text.strip().translate(str.maketrans("０１２３４５６７８９", "0123456789"))
    if not text:
        raise ValueError("empty numeral")
    if text.isdigit():
        return int(text)
    total, section, digit = 0, 0, None
    for char in text:
        if char in _DIGITS:
            digit = _DIGITS[char]
        elif char in _UNITS:
            section += (1 if digit is None else digit) * _UNITS[char]
            digit = None
        elif char == "万":
            total += (section + (digit or 0)) * 10000
            section, digit = 0, None
        else:
            raise ValueError(f"not a Chinese numeral: {text!r}")
    if digit is not None and section == 0 and total == 0 and len(text) > 1:
        # Digit-by-digit form such as 一〇二
        return int("".join(str(_DIGITS[c]) for c in text))
    return total + section + (digit or 0)


def int_to_cn(number: int) -> str:
    """Write 1..9999 the way statutes number articles: 10 → 十, 102 → 一百零二, 110 → 一百一十."""
    if not 0 < number < 10000:
        raise ValueError(f"article numbers run from 1 to 9999, got {number}")
    if number < 20 and number >= 10:
        return "十" + (_CN_DIGITS[number - 10] if number > 10 else "")
    parts: list[str] = []
    pending_zero = False
    for value, unit in ((1000, "千"), (100, "百"), (10, "十"), (1, "")):
        digit = number // value % 10
        if digit:
            if pending_zero:
                parts.append("零")
                pending_zero = False
            parts.append(_CN_DIGITS[digit] + unit)
        elif parts:
            pending_zero = True
    return "".join(parts)


def parse_label(label: str) -> tuple[int, int]:
    """'第一百七十五条之一' → (175, 1); '第五十一条' → (51, 0). Raises ValueError otherwise."""
    match = LABEL_RE.fullmatch(label.strip())
    if not match:
        raise ValueError(f"not an article label: {label!r}")
    return cn_to_int(match.group(1)), cn_to_int(match.group(2)) if match.group(2) else 0


def make_label(number: int, sub: int = 0) -> str:
    """(175, 1) → '第一百七十五条之一'."""
    return f"第{int_to_cn(number)}条" + (f"之{int_to_cn(sub)}" if sub else "")
