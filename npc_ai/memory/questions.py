"""What a player's line asks: the question patterns behind recall notes and the answer nudge.

:class:`~npc_ai.memory.npc_memory.NpcMemory` asks these before it recalls: whether
a line asks anything at all (:func:`asks`), whom it asks about (:func:`about`),
which of the player's facts a "my X" question names (:func:`fact_asked`), whether
it asks the NPC's name or trade (:data:`NAME_ASK`, :data:`TRADE_ASK`), and which
words of the fact that answers it are the answer (:func:`new_words`,
:func:`trade_word`). English patterns, on case-folded text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from typing import TypeVar

from npc_ai.memory.recall import slips
from npc_ai.memory.terms import STOP_WORDS, tokenize

__all__ = [
    "NAME_ASK",
    "TRADE_ASK",
    "WORDS",
    "about",
    "answer_words",
    "asks",
    "fact_asked",
    "is_question",
    "new_words",
    "trade_word",
]

T = TypeVar("T")

WORDS = re.compile(r"[a-z]+")
# "my dog's name", "my favourite colour", "my horse": the words after "my".
_MY = re.compile(r"\bmy ((?:favou?rite )?[a-z]+(?: [a-z]+)?)")


# Questions about the player without "my", and the fact key that answers each.
_I_QUESTIONS = [
    (re.compile(p), key)
    for p, key in (
        (
            r"\bwhere (?:do|did) i (?:come|hail) from\b|\bwhere am i from\b|\bwhere do i live\b"
            r"|\bwhere was i born\b",
            "player.home",
        ),
        (
            r"\bwhat (?:do|did) i do\b|\bwhat am i by trade\b|\bwhat (?:do|did) i work as\b",
            "player.job",
        ),
        (
            r"\bwhat (?:am|was) i (?:afraid|scared|frightened) of\b|\bwhat do i fear\b",
            "player.fear",
        ),
        (
            r"\bwho (?:am|was) i (?:looking|searching) for\b"
            r"|\bwho(?:m)? (?:do|am) i (?:seek|seeking)\b",
            "player.seeking",
        ),
        (r"\bwho am i\b|\bwhat am i called\b", "player.name"),
    )
]

# Questions for the NPC's own name, and for its trade.
NAME_ASK = re.compile(
    r"\bwho (?:are|might) you\b|\byour (?:name|names)\b|\b(?:call|address) you\b"
    r"|\byou (?:called|named)\b"
)
TRADE_ASK = re.compile(
    r"\bwho are you\b|\bwhat (?:do|did) you do\b|\bwhat (?:kind|sort) of work do you\b"
    r"|\byour (?:job|trade|occupation|profession|line of work)\b"
    r"|\bwhat are you by trade\b"
)
# Words of a fact sentence that are never its answer.
_FRAME_TEXT = (
    "a an the is are was were be am called named name names of from in at on as to for and "
    "or with has have had works work worked lives live lived comes come came likes like "
    "loves love hates hate afraid favourite favorite looking look man woman person one "
    "their his her its player told said that this"
)
_FRAME_WORDS = frozenset(_FRAME_TEXT.split())


def new_words(text: str, asked: set[str]) -> tuple[str, ...]:
    """The words of a fact that the question does not already hold: its answer.

    Names and numbers when there are any ("a man called Dorran" -> Dorran), else every
    remaining content word ("plum pie"), at most three.
    """
    words = []
    for raw in re.findall(r"[\w'-]+", text):
        word = re.sub(r"'s$", "", raw)
        folded = word.casefold()
        if folded in asked or folded in _FRAME_WORDS or word in words:
            continue
        words.append(word)
    named = [w for w in words if w[:1].isupper() or w.isdigit()]
    return tuple((named or words)[:3])


# Words that say little on their own, whatever the memory: never an answer.
_PLAIN_TEXT = (
    "nothing something anything everything always never ever again still just only very much "
    "more most best better good great fine old new little big long back home here there now "
    "then today tonight yesterday year years day days thing things way lot one two believe "
    "know think say said tell told got get make made keep kept go going went come came "
    "want wants need needs anyone someone everyone people folk folks really quite"
)
_PLAIN_WORDS = _FRAME_WORDS | frozenset(_PLAIN_TEXT.split())
_NUMBER_TEXT = (
    "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety "
    "hundred"
)
_NUMBERS = frozenset(_NUMBER_TEXT.split())


def answer_words(
    text: str,
    query: str,
    *,
    skip: Collection[str] = (),
    rarity: Callable[[str], float] | None = None,
    limit: int = 2,
) -> tuple[str, ...]:
    """The words of a remembered ``text`` that answer ``query``: what the memory adds.

    Words of the query (up to stemming and a typing slip), stop and frame words and
    ``skip`` (the player's name, say) are left out. Of the rest, names come first (a
    capitalised word that is not a common word opening a sentence), then
    the rest, rarest first by ``rarity`` (a search term's rarity among the NPC's memories;
    later words first when equal: the new part of an English sentence comes last).
    """
    asked = set(tokenize(query))
    skipped = {w.casefold() for w in skip}
    seen: set[str] = set()
    named: list[str] = []
    plain: list[tuple[float, int, str]] = []
    for sentence in re.split(r"(?<=[.!?;:])\s+", text.strip()):
        for position, match in enumerate(re.finditer(r"[\w'-]+", sentence)):
            word = re.sub(r"'s$", "", match.group()).strip("'-")
            folded = word.casefold()
            if not word or folded in seen or folded in skipped:
                continue
            terms = tokenize(word)
            if not terms or folded in _PLAIN_WORDS or terms[0] in asked:
                continue
            if any(
                len(t) >= 4 and t[:1] == terms[0][:1] and slips(t, terms[0], 1) <= 1 for t in asked
            ):
                continue  # the query's own word, mistyped
            seen.add(folded)
            if word[:1].isupper() and folded in _NUMBERS and position == 0:
                named.append(word)  # "Eleven has always been my lucky number."
            elif word[:1].isupper() and position > 0:
                named.append(word)
            elif word[:1].isupper() and folded not in STOP_WORDS["en"]:
                named.append(word)  # opening a sentence, yet not a common word
            else:
                score = rarity(terms[0]) if rarity is not None else 0.0
                plain.append((score, match.start(), word))
    plain.sort(key=lambda item: (-item[0], -item[1]))
    # A name is the answer when there is one; else the rarest words.
    return tuple((named or [w for _, _, w in plain])[:limit])


def trade_word(role: str) -> str:
    """The word naming a trade in a persona's role: "captain of the Watch" -> "captain"."""
    head = re.split(r"\s+(?:of|at|in|from|for)\s+", role.strip(), maxsplit=1)[0]
    words = re.findall(r"[\w'-]+", head)
    return words[-1] if words else ""


def asks(line: str) -> bool:
    """Whether the player's line asks the NPC something."""
    return (
        is_question(line)
        or re.search(r"(?i)\b(?:remember|recall|forgot|forget|tell me|remind)\b", line) is not None
    )


def is_question(text: str) -> bool:
    return text.rstrip(" \"'”’)").endswith("?")


def about(query: str) -> str:
    """Whom a line asks about: "player" ("my horse"), "npc" ("your name") or ""."""
    words = set(WORDS.findall(query.casefold()))
    mine = bool(words & {"my", "myself"})
    yours = bool(words & {"your", "yours", "yourself"})
    if mine != yours:
        return "player" if mine else "npc"
    if mine or words & {"i", "me"}:
        return ""
    return "npc" if "you" in words else ""


def fact_asked(query: str, facts: Mapping[str, T]) -> T | None:
    """The player's fact ``query`` names, from ``facts`` by key: "my dog's name" ->
    ``player.dog``, "where do I come from" -> ``player.home``; None if it names none."""
    folded = query.casefold()
    for pattern, key in _I_QUESTIONS:
        if key in facts and pattern.search(folded):
            return facts[key]
    for match in _MY.finditer(folded):
        words = match.group(1).split()
        for size in range(len(words), 0, -1):  # "favourite colour", then "colour"
            for key in (f"player.{'_'.join(words[:size])}", f"player.{words[size - 1]}"):
                if key in facts:
                    return facts[key]
    return None
