"""Money as people type it in forms: roubles with an optional comma or point and up to two decimals."""
from __future__ import annotations

import re

AMOUNT_RE = re.compile(r"^([+-]?)(\d{1,9})(?:[.,](\d{1,2}))?$")


def parse_roubles(text: str) -> int:
    """Roubles as typed ("150,50", "-20", "1 000.5") in kopecks; ValueError if it is not such a number."""
    cleaned = re.sub(r"[\s\u00a0\u202f]", "", text or "").replace("\u2212", "-")
    match = AMOUNT_RE.match(cleaned)
    if not match:
        raise ValueError(cleaned)
    sign, roubles, kopecks = match.groups()
    value = int(roubles) * 100 + int((kopecks or "0").ljust(2, "0"))
    return -value if sign == "-" else value
