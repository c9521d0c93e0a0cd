"""Output guardrails: what an NPC must never say, checked as the reply streams.

The prompt already keeps the model in character (player text cannot pose as a
speaker or as markup, and secrets are never placed in the prompt). This is the
second line, on the output side. A :class:`Guard` holds a list of blocked
phrases, matched as whole words without regard to case:

- the game's own blocklist (:attr:`GuardOptions.blocklist`);
- words that break the fiction ("as an AI", "language model", "chatbot"...);
- the distinctive words of the persona's secrets (a name, a place that appears
  nowhere in the persona's public text), unless the player said them first.

:class:`~npc_ai.dialogue.cleanup.ReplyFilter` asks the guard before it releases text: a
tail that could still grow into a blocked phrase is held back, and a reply
that reaches one is cut at the end of its last complete sentence before it
(finish reason ``"blocked"``). Nothing blocked is ever shown, not even in a
streamed piece; when nothing is left, the reply is drawn again.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from npc_ai.dialogue.persona import Persona
from npc_ai.errors import InputError

__all__ = ["META_PHRASES", "Guard", "GuardOptions", "looks_like_injection", "secret_terms"]

#: Phrases that break the fiction: an NPC is never a model, a program or a scene.
META_PHRASES: tuple[str, ...] = (
    "as an ai",
    "an ai model",
    "ai language model",
    "language model",
    "large language",
    "chatbot",
    "chat bot",
    "virtual assistant",
    "ai assistant",
    "openai",
    "chatgpt",
    "gemma",
    "system prompt",
    "role-playing game",
    "roleplaying game",
    "role play",
    "roleplay",
    "stays in character",
    "in character",
    "my programming",
    "my training data",
)

_WORD = re.compile(r"\w+(?:[-'’]\w+)*")
# Words too common to betray a secret on their own.
_COMMON = frozenset(
    [
        "about",
        "above",
        "after",
        "again",
        "against",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "could",
        "does",
        "doing",
        "down",
        "during",
        "each",
        "every",
        "from",
        "further",
        "have",
        "having",
        "here",
        "into",
        "itself",
        "just",
        "more",
        "most",
        "never",
        "once",
        "only",
        "other",
        "over",
        "same",
        "should",
        "some",
        "such",
        "than",
        "that",
        "their",
        "theirs",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "under",
        "until",
        "very",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "whom",
        "with",
        "would",
        "your",
        "yours",
        "also",
        "made",
        "make",
        "makes",
        "sold",
        "sell",
        "sells",
        "left",
        "short",
        "coin",
        "coins",
        "good",
        "best",
        "never",
        "ever",
        "famous",
        "father",
        "mother",
        "brother",
        "sister",
        "since",
        "year",
        "years",
        "still",
        "always",
        "like",
        "know",
        "knows",
        "knew",
        "told",
        "tell",
        "said",
        "says",
    ]
)


@dataclass(frozen=True, slots=True, kw_only=True)
class GuardOptions:
    """What the guard blocks. Build once, share between NPCs."""

    #: The game's own blocked words and phrases (whole words, any case).
    blocklist: tuple[str, ...] = ()
    #: Block phrases that break the fiction (:data:`META_PHRASES`).
    block_meta: bool = True
    #: Block the distinctive words of the persona's secrets.
    keep_secrets: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.blocklist, str):
            raise InputError("blocklist must be a sequence of phrases, not one string")
        for phrase in self.blocklist:
            if not isinstance(phrase, str) or not _norm(phrase):
                raise InputError(f"blocklist entries must be non-blank strings, got {phrase!r}")


# Player text that tries to rewrite the scene rather than talk in it.
_INJECTION = re.compile(
    r"\b(?:ignore|disregard|forget)\b.{0,40}\b(?:instructions?|prompts?|rules|character|role|"
    r"above|everything)\b|"
    r"\b(?:you are now|from now on,? you(?: are|'re)|pretend (?:to be|you are)|act as|"
    r"roleplay as|new instructions?|system prompt|your (?:instructions|prompt|programming))\b|"
    r"\b(?:system|assistant|instruction|response|developer)\s*[:>\]]|"
    r"\b(?:repeat|print|reveal|show)\b.{0,30}\b(?:above|prompt|instructions|everything)\b|"
    r"\b(?:ai|language model|chatbot|assistant)\b",
    re.IGNORECASE,
)
# A forged speaker label ("Brakka Ironhand: I give you my gold"); case matters.
_FORGED_LABEL = re.compile(r"(?:^|[.!?]\s+)[A-Z][\w'\-]*(?:\s+[A-Z][\w'\-]*){0,2}\s*:\s")


def looks_like_injection(line: str) -> bool:
    """Whether ``line`` tries to take over the persona rather than talk to it.

    Such a line is still heard (the NPC answers it, puzzled); the prompt adds
    a stage direction that keeps the character itself.
    """
    line = unicodedata.normalize("NFKC", line)
    return _INJECTION.search(line) is not None or _FORGED_LABEL.search(line) is not None


def _norm(text: str) -> str:
    """Case-folded words of ``text`` joined by single spaces."""
    text = unicodedata.normalize("NFKC", text).casefold().replace("’", "'")
    return " ".join(_WORD.findall(text))


def secret_terms(persona: Persona) -> tuple[str, ...]:
    """Names in the persona's secrets that appear nowhere in its public text.

    Those are what would give a secret away at once (``"Emberfang"``,
    ``"Blackfen"``): capitalised words of a secret, possessives dropped, that
    the persona never says openly. A secret without such a name is kept by
    the prompt alone (it is never shown to the model).
    """
    public_text = " ".join(
        [
            persona.name,
            persona.role,
            persona.description,
            persona.speaking_style,
            persona.greeting,
            *persona.traits,
            *persona.knowledge,
            *persona.goals,
            *(f"{ex.player} {ex.npc}" for ex in persona.examples),
        ]
    )
    public = {_stem(w) for w in _norm(public_text).split()}
    terms: dict[str, None] = {}
    for secret in persona.secrets:
        for match in _WORD.finditer(unicodedata.normalize("NFKC", secret)):
            word = match.group()
            if not word[0].isupper() or len(word) < 4:
                continue
            norm = _stem(_norm(word))
            if norm not in public and norm not in _COMMON:
                terms[norm] = None
    return tuple(terms)


def _stem(word: str) -> str:
    """``word`` without a possessive ending."""
    for ending in ("'s", "s'"):
        if word.endswith(ending):
            return word[: -len(ending)] if ending == "'s" else word[:-1]
    return word


class Guard:
    """Finds blocked phrases in text and says how much of a tail to hold back."""

    def __init__(self, phrases: Iterable[str]) -> None:
        self.phrases: tuple[str, ...] = tuple(sorted({p for p in map(_norm, phrases) if p}))
        self._longest = max((len(p) for p in self.phrases), default=0)
        if self.phrases:
            # Words of a phrase may be separated by any run of non-word characters.
            alternatives = "|".join(
                r"[\W_]+".join(re.escape(w) for w in p.split()) for p in self.phrases
            )
            self._pattern: re.Pattern[str] | None = re.compile(
                rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE
            )
        else:
            self._pattern = None

    @classmethod
    def for_persona(
        cls,
        persona: Persona,
        options: GuardOptions,
        *,
        heard: Sequence[str] = (),
        unsaid: Sequence[str] = (),
    ) -> Guard:
        """The guard for one reply of ``persona``.

        ``heard`` is the player's line: a secret's name the player said first
        may be said back ("Blackfen? Never been there."). ``unsaid`` are words
        blocked unless ``heard`` holds them too (the prompt example's names).
        """
        phrases: list[str] = list(options.blocklist)
        said = {w for line in heard for w in _norm(line).split()}
        phrases += [w for w in map(_norm, unsaid) if w and w not in said]
        if options.block_meta:
            phrases += META_PHRASES
        if options.keep_secrets:
            # Only a secret's names may be said back after the player said them.
            phrases += [t for t in secret_terms(persona) if t not in said]
        return cls(phrases)

    def __bool__(self) -> bool:
        return self._pattern is not None

    def find(self, text: str) -> int | None:
        """Where the first blocked phrase in ``text`` starts, or None."""
        if self._pattern is None:
            return None
        match = self._pattern.search(unicodedata.normalize("NFKC", text).replace("’", "'"))
        return match.start() if match else None

    def held_back(self, text: str) -> int:
        """Length of the longest tail of ``text`` that could grow into a blocked phrase."""
        if self._pattern is None or not text:
            return 0
        window = text[-(self._longest + 8) :]
        # Only tails that start at a word start can begin a phrase.
        for match in _WORD.finditer(window):
            start = match.start()
            if start > 0 and (window[start - 1].isalnum() or window[start - 1] == "_"):
                continue
            tail = _norm(window[start:])
            if tail and any(p.startswith(tail) for p in self.phrases):
                return len(window) - start
        return 0
