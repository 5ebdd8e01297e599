"""Checks every stage makes of an input that passed its schema: is it usable here and now?

The schema bounds a timestamp to this century; here it must also not lie in the
future beyond the clocks' allowed skew (a report from next year would hold a merge
window open for a year). Text counts as empty when nothing is left after Unicode
normalisation and the removal of invisible format characters (zero-width spaces
and joiners, direction marks, BOMs).
"""

from __future__ import annotations

import hashlib
import unicodedata

__all__ = ["fingerprint", "future_time", "visible_text"]


def visible_text(text: str) -> str:
    """``text`` in NFKC with format characters (category Cf: zero-width, bidi marks, BOM) removed, stripped."""
    normal = unicodedata.normalize("NFKC", text)
    return "".join(ch for ch in normal if unicodedata.category(ch) != "Cf").strip()


def future_time(name: str, at: float, now: float, skew_s: float) -> str:
    """Why ``at`` cannot be used (it is further in the future than ``skew_s``), or ''."""
    if at > now + skew_s:
        return f"{name} {at:.0f} is {at - now:.0f} s in the future (clock skew allowed: {skew_s:.0f} s)"
    return ""


def fingerprint(content: bytes) -> str:
    """A short hash of an input's content: the same id with another fingerprint is a conflicting duplicate."""
    return hashlib.blake2b(content, digest_size=12).hexdigest()
