"""What a line tells an NPC about the player: facts and feelings, by rule.

A 270M model cannot be trusted to extract facts reliably, so facts come from
a small set of English patterns that cover what players most often tell NPCs
about themselves: a name, where they come from, what they do, what they own
and what they promise. Each fact has a key (``"player.name"``,
``"player.horse"``); a newer fact with the same key replaces the older one.
Everything else a player says is still remembered word for word as an
episode and found again by retrieval; facts only survive longer and rank
higher. The game can add facts of its own with
:meth:`~npc_ai.memory.NpcMemory.learn`.

:func:`sentiment` scores a line from -1 (insult, threat) to 1 (thanks,
praise) with a short word list; the NPC's relationship value moves with it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["KEY_WORDS", "Fact", "extract_facts", "sentiment"]

_NAME = r"([A-Z][\w'\-]{1,30}(?:\s+[A-Z][\w'\-]{1,30})?)"
_THING = r"([\w'\- ]{1,40}?)"
_VALUE = r"([\w'\- ]{1,40}?)"
_END = r"\s*(?:[.!?,;]|$)"


#: Words that name what a fact under each of :func:`extract_facts`'s own keys is about,
#: searched with the fact (its text and key alone share no word with "What frightens
#: me?" or "Which town am I from?"): the key's plain synonyms, not question wordings.
KEY_WORDS = {
    "player.name": "name called named",
    "player.home": "home hometown town village city place born raised grew hail from",
    "player.job": "job work trade living craft profession occupation earn",
    "player.seeking": "seek search find look hunt track",
    "player.fear": "fear afraid scared scare frighten terrify dread",
}


@dataclass(frozen=True, slots=True)
class Fact:
    """A fact about the player: a key and a sentence saying it."""

    key: str
    text: str


# Words that follow "I'm" capitalised without being a name ("I'm Sorry.", "I'm English.").
_NOT_NAME_TEXT = "sorry fine ok okay well here back home done ready lost new english glad sure"
_NOT_NAMES = frozenset(_NOT_NAME_TEXT.split())


def _key(words: str) -> str:
    return "_".join(words.casefold().split())


def extract_facts(line: str, *, player: str = "Player") -> list[Fact]:
    """Facts the player states about themselves in ``line`` (English patterns)."""
    facts: list[Fact] = []
    seen: set[str] = set()

    def add(key: str, text: str) -> None:
        if key not in seen:
            seen.add(key)
            facts.append(Fact(key, text))

    for match in re.finditer(
        rf"\b(?:my name is|my name's|i am called|i'm called|call me|they call me|"
        rf"name's)\s+{_NAME}",
        line,
        re.IGNORECASE,
    ):
        name = match.group(1)
        if name[0].isupper():
            add("player.name", f"{player}'s name is {name}.")
    # "I'm Senna, a traveller from the south.": a name alone after "I'm", case kept.
    for match in re.finditer(
        r"(?:^|[.!?]\s+)(?:I'm|I am)\s+([A-Z][a-z'\-]{1,30})(?=\s*[,.!]|\s*$)", line
    ):
        if match.group(1).casefold() not in _NOT_NAMES:
            add("player.name", f"{player}'s name is {match.group(1)}.")
    for match in re.finditer(
        rf"\bi(?: am|'m| come| came) from\s+(?:the\s+)?{_NAME}|"
        rf"\bi (?:grew up|was born|live) in\s+(?:the\s+)?{_NAME}",
        line,
        re.IGNORECASE,
    ):
        place = match.group(1) or match.group(2)
        if place[0].isupper():
            add("player.home", f"{player} comes from {place}.")
    for match in re.finditer(
        rf"\bi (?:work as|am|'m) (?:a|an)\s+([a-z][\w\-]{{2,30}}){_END}", line, re.IGNORECASE
    ):
        add("player.job", f"{player} is a {match.group(1)}.")
    for match in re.finditer(
        rf"\bmy (?:favou?rite\s+)?{_THING}\s+(?:is|was|are)\s+(?:called|named)?\s*{_VALUE}{_END}",
        line,
        re.IGNORECASE,
    ):
        thing, value = match.group(1).strip(), match.group(2).strip()
        favourite = "favourite " if re.match(r"(?i)my favou?rite", match.group(0)) else ""
        named = re.search(r"(?i)\b(called|named)\b", match.group(0))
        verb = f"{named.group(1).casefold()} " if named else ""
        if thing.casefold() not in ("name",) and value:
            add(
                f"player.{_key(favourite + thing)}",
                f"{player}'s {favourite}{thing} is {verb}{value}.",
            )
    for match in re.finditer(
        rf"\bi (?:have|own|ride) (?:a|an)\s+{_THING}\s+(?:called|named)\s+{_NAME}",
        line,
        re.IGNORECASE,
    ):
        thing, name = match.group(1).strip(), match.group(2)
        add(f"player.{_key(thing)}", f"{player}'s {thing} is called {name}.")
    for match in re.finditer(
        rf"\bi(?: am|'m) (?:looking|searching) for\s+([^.!?,;]{{3,60}}){_END}", line, re.IGNORECASE
    ):
        add("player.seeking", f"{player} is looking for {match.group(1).strip()}.")
    for match in re.finditer(
        rf"\bi(?: am|'m) (?:afraid|scared) of\s+([^.!?,;]{{2,60}}){_END}", line, re.IGNORECASE
    ):
        add("player.fear", f"{player} is afraid of {match.group(1).strip()}.")
    for match in re.finditer(
        rf"\bi (love|like|hate)\s+([^.!?,;]{{2,60}}){_END}", line, re.IGNORECASE
    ):
        verb, what = match.group(1).casefold(), match.group(2).strip()
        add(f"player.{verb}s.{_key(what)[:30]}", f"{player} {verb}s {what}.")
    for match in re.finditer(
        r"\bi (?:promise|swear|vow)\b(?: to| that)?\s*([^.!?]{3,120})", line, re.IGNORECASE
    ):
        promise = match.group(1).strip()
        add(f"promise.{_key(promise)[:40]}", f'{player} promised: "{promise}".')
    return facts


_POSITIVE = frozenset(
    [
        "thank",
        "thanks",
        "thankful",
        "grateful",
        "please",
        "friend",
        "friends",
        "kind",
        "kindness",
        "love",
        "lovely",
        "great",
        "wonderful",
        "beautiful",
        "admire",
        "respect",
        "honour",
        "honor",
        "gift",
        "brave",
        "wise",
        "glad",
        "sorry",
        "apologise",
        "apologize",
        "welcome",
        "fine",
        "excellent",
        "impressive",
        "best",
        "trust",
        "help",
        "helped",
    ]
)
_NEGATIVE = frozenset(
    [
        "hate",
        "stupid",
        "idiot",
        "fool",
        "foolish",
        "ugly",
        "liar",
        "lying",
        "kill",
        "murder",
        "useless",
        "pathetic",
        "coward",
        "thief",
        "cheat",
        "cheater",
        "worthless",
        "disgusting",
        "rotten",
        "shut",
        "damn",
        "die",
        "threat",
        "threaten",
        "burn",
        "rob",
    ]
)
_WORDS = re.compile(r"[a-z']+")


def sentiment(line: str) -> float:
    """How warm ``line`` is toward the listener, from -1 to 1 (0: neutral)."""
    words = _WORDS.findall(line.casefold())
    if not words:
        return 0.0
    score = sum(w in _POSITIVE for w in words) - 2 * sum(w in _NEGATIVE for w in words)
    return max(-1.0, min(1.0, score / 3))
