"""Search terms: the words of a memory or a query that retrieval compares.

:func:`tokenize` casefolds Unicode words, drops :data:`STOP_WORDS` and, for English,
maps related forms to one stem (:func:`stem`). :func:`dedupe_key` is the text two
memories share when they say the same thing up to case, spacing and punctuation.
Used by :class:`~npc_ai.memory.recall.Bm25Index` and :func:`~npc_ai.memory.recall.recall`.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["STOP_WORDS", "dedupe_key", "stem", "tokenize"]

_EN = """
a about above after again against all am an and any are as at be because been before being
below between both but by can could did do does doing down during each few for from further
had has have having he her here hers herself him himself his how i if in into is it its itself
just me more most my myself no nor not of off on once only or other our ours ourselves out over
own same she should so some such than that the their theirs them themselves then there these
they this those through to too under until up very was we were what when where which while who
whom why will with would you your yours yourself yourselves also ever yes oh ok okay well really
shall may might must us let get got
"""
_ES = """
a al algo como con de del el ella ellas ellos en entre era es esa ese eso esta este esto fue
ha han hay la las le les lo los me mi mis muy ni no nos o para pero por que se si sin sobre su
sus te tu tus un una uno unos unas y ya yo
"""
_FR = """
a au aux avec ce ces cet cette dans de des du elle en est et eu il ils je la le les leur lui ma
mais me mes moi mon ne nous on ou par pas pour qu que qui sa se ses si son sur ta te tes toi ton
tu un une vos votre vous y
"""
# Pieces left by splitting contractions: "I'm" -> i, m; "don't" -> don, t.
_FRAGMENTS = "s t m d ll re ve don doesn didn isn wasn aren weren won wouldn couldn shouldn"

STOP_WORDS: dict[str, frozenset[str]] = {
    "en": frozenset((_EN + _FRAGMENTS).split()),
    "es": frozenset(_ES.split()),
    "fr": frozenset((_FR + " l d j qu n s c m t").split()),
}
"""Words too common to tell memories apart, per language. Never names or numbers."""

# Letters and digits; underscores, apostrophes and punctuation split words.
_WORD = re.compile(r"[^\W_]+")
_APOSTROPHE = re.compile(r"[’ʼ`]")


def stem(word: str) -> str:
    """A tiny English suffix stripper: plural ``s``/``ies``, ``-ing``, ``-ed``, final ``e``.

    Both the memory and the query go through it, so it only has to map related
    forms to one stem (``ride``, ``rides``, ``riding`` -> ``rid``), not produce
    real words. Words of three letters or fewer and anything with a digit are
    left alone.
    """
    if len(word) <= 3 or not word.isalpha():
        return word
    w = word
    if w.endswith("ies") and len(w) > 4:
        w = w[:-3] + "y"
    elif w.endswith("sses"):
        w = w[:-2]
    elif w.endswith("s") and not w.endswith(("ss", "us", "is")):
        w = w[:-1]
    if w.endswith("ied") and len(w) > 4:
        w = w[:-3] + "y"
    else:
        for suffix in ("ing", "ed"):
            base = w[: -len(suffix)]
            if w.endswith(suffix) and len(base) >= 3 and any(c in "aeiouy" for c in base):
                w = base
                # running -> run, stopped -> stop; but called -> call, missed -> miss.
                if w[-1] == w[-2] and w[-1] not in "lsz":
                    w = w[:-1]
                break
    if w.endswith("e") and len(w) > 3:
        w = w[:-1]
    return w


def tokenize(text: str, *, language: str = "en") -> list[str]:
    """Search terms of ``text``: casefolded Unicode words, stop words out, stemmed.

    Names and numbers always stay (``"Marta owes 2 silver"`` keeps ``marta``,
    ``2``, ``silver``). Stemming applies to English only; other languages get
    their stop words (``es``, ``fr``) and no stemming.
    """
    text = unicodedata.normalize("NFKC", _APOSTROPHE.sub("'", text)).casefold()
    stops = STOP_WORDS.get(language, STOP_WORDS["en"])
    words = _WORD.findall(text)
    if language == "en":
        return [stem(w) for w in words if w not in stops]
    return [w for w in words if w not in stops]


def dedupe_key(text: str) -> str:
    """Texts equal up to case, spacing and punctuation count as the same memory."""
    return " ".join(_WORD.findall(unicodedata.normalize("NFKC", text).casefold()))
