"""Remove personal data from complaint text before it is stored, shown or classified.

Citizens write phone numbers, e-mail addresses, passport and tax numbers into
complaints (formats of Russia, Kazakhstan, China, the US and Viet Nam, and any
international number). Each is replaced by a bracketed tag (``[PHONE]``, ``[EMAIL]``,
``[ID]``, ``[CARD]``) so the sentence still reads and the classifier sees a
stable token. Patterns use digit look-arounds instead of ``\\b`` because Chinese
text puts digits directly after Han characters, which are word characters.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

__all__ = ["MAX_TEXT_CHARS", "Redaction", "redact"]

MAX_TEXT_CHARS = 4000
"""Longer complaints are cut here: enough for any real report, bounded work per item."""

_SEP = r"[\s\-.()]{0,2}"  # what people put between digit groups
_NO_DIGIT_BEFORE = r"(?<![\d\w+])"
_NO_DIGIT_AFTER = r"(?!\d)"

# (tag, pattern) in priority order; they are joined into one alternation, so a text is scanned once and the
# leftmost match wins (at one position, the earlier pattern).
_PATTERNS: list[tuple[str, str]] = [
    ("EMAIL", r"[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+"),
    # Short local numbers only count as phones right after a word for "phone"; the word is kept.
    (
        "PHONE",
        r"(?i:(?P<keyword>(?:(?<![^\W\d_])(?:телефон|тел|tel(?:ephone)?|phone|ph|số điện thoại|điện thoại|sđt|đt)"
        r"|电话|手机|号码|热线)[.:：\s№#]*))"
        r"\d[\d\s\-]{4,14}\d" + _NO_DIGIT_AFTER,
    ),
    # 13-19 digits, optionally grouped: a card when the Luhn checksum holds, else an account/document number.
    ("CARD", _NO_DIGIT_BEFORE + r"\d(?:[ \-]?\d){12,18}" + _NO_DIGIT_AFTER),
    # Russia: +7 / 8 then 10 digits, any grouping: +7 (921) 123-45-67, 89211234567
    (
        "PHONE",
        r"(?<![\d\w])(?:\+\s?7|8|7)"
        + _SEP
        + r"\(?\d{3}\)?"
        + _SEP
        + r"\d{3}"
        + _SEP
        + r"\d{2}"
        + _SEP
        + r"\d{2}"
        + _NO_DIGIT_AFTER,
    ),
    # China mobile: (+86) 138 1234 5678; landline 010-12345678
    ("PHONE", r"(?<!\d)(?:\+?\s?86[\s\-]?)?1[3-9]\d[\s\-]?\d{4}[\s\-]?\d{4}" + _NO_DIGIT_AFTER),
    ("PHONE", r"(?<!\d)0\d{2,3}-\d{7,8}" + _NO_DIGIT_AFTER),
    # Viet Nam: mobile 0912 345 678 / +84 912 345 678, landline 028 3829 1234
    (
        "PHONE",
        r"(?<![\d\w])(?:\+?84[\s\-.]?|0)(?:[35789]\d(?:[\s\-.]?\d){7}|2\d(?:[\s\-.]?\d){8})" + _NO_DIGIT_AFTER,
    ),
    # North America: (212) 555-1234, +1 212 555 1234, 212.555.1234
    ("PHONE", r"(?<![\d\w])(?:\+?1[\s\-.]?)?\(?\d{3}\)?[\s\-.]\d{3}[\s\-.]\d{4}" + _NO_DIGIT_AFTER),
    # Any other international number: + then 8-14 digits
    ("PHONE", r"\+\d(?:[\s\-]?\d){7,13}" + _NO_DIGIT_AFTER),
    ("ID", r"(?<!\d)\d{17}[\dXx](?![\dA-Za-z])"),  # Chinese resident ID
    ("ID", r"(?<!\d)\d{3}[\- ]\d{3}[\- ]\d{3}[\- ]\d{2}" + _NO_DIGIT_AFTER),  # SNILS 123-456-789 01
    ("ID", r"(?<!\d)\d{3}-\d{2}-\d{4}" + _NO_DIGIT_AFTER),  # US SSN
    ("PHONE", r"(?<!\d)\d{3}-\d{2}-\d{2}" + _NO_DIGIT_AFTER),  # local number 123-45-67
    ("ID", r"(?<!\d)\d{2}\s?\d{2}\s\d{6}" + _NO_DIGIT_AFTER),  # RU passport 45 10 123456
    ("ID", r"(?<!\d)(?:\d{10,12})" + _NO_DIGIT_AFTER),  # INN (10/12 digits), SNILS without separators
]
# Only try the alternatives where one can start (a digit, "+", "(", a phone word); e-mails only when "@" is there.
_PII = re.compile(
    r"(?=[\d+(ТтTtPpSsĐđ电手号热])(?:"
    + "|".join(f"(?P<g{i}>{pattern})" for i, (tag, pattern) in enumerate(_PATTERNS) if tag != "EMAIL")
    + ")"
)
_EMAIL = re.compile(next(pattern for tag, pattern in _PATTERNS if tag == "EMAIL"))
_TAG = {f"g{i}": tag for i, (tag, _pattern) in enumerate(_PATTERNS)}


# Every pattern needs an "@" or six digits with at most two separators between them; most complaints
# have neither, and one search decides that.
_MAY_HOLD_PII = re.compile(r"@|\d(?:[\s\-.()]{0,2}\d){5}")


@dataclass(frozen=True)
class Redaction:
    """The redacted text and how many items of each kind were removed."""

    text: str
    found: dict[str, int] = field(default_factory=dict)


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def redact(text: str | None, max_chars: int = MAX_TEXT_CHARS) -> Redaction:
    """Cap ``text`` at ``max_chars`` and replace personal data with tags.

    :param text: any string (any script, emoji, empty or ``None``)
    :param max_chars: length cap applied before matching, so work per item is bounded
    """
    if not text:
        return Redaction("")
    out = str(text)[:max_chars].replace("\x00", " ")
    if not _MAY_HOLD_PII.search(out):
        return Redaction(out)
    found: Counter[str] = Counter()

    def replace(m: re.Match[str]) -> str:
        tag = _TAG[m.lastgroup or ""]
        keyword = m.group("keyword") or ""
        if tag == "CARD" and not _luhn_ok(re.sub(r"\D", "", m.group(0))):
            tag = "ID"
        found[tag] += 1
        return f"{keyword}[{tag}]"

    def email(m: re.Match[str]) -> str:
        found["EMAIL"] += 1
        return "[EMAIL]"

    if "@" in out:
        out = _EMAIL.sub(email, out)
    out = _PII.sub(replace, out)
    return Redaction(out, dict(found))
