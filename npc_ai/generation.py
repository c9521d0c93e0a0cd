"""The protocol every text generator implements."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from npc_ai.errors import InputError

__all__ = ["Generator", "SamplingParams", "check_choices"]


@dataclass(frozen=True, slots=True, kw_only=True)
class SamplingParams:
    """How to sample one continuation.

    ``stop`` strings end the continuation; a backend may use them to stop
    early, but the dialogue core enforces them itself, so a backend that
    ignores them is still correct. ``seed`` makes a continuation reproducible
    for the same prompt, model and parameters; ``None`` draws a fresh one.

    ``choices`` turns sampling into a choice: the continuation is exactly one
    of these strings, picked greedily token by token (at each step the
    allowed next token with the highest logit), and it comes back as a single
    piece. Temperature, penalties, ``stop`` and ``max_tokens`` do not apply
    then (``max_tokens`` must still be at least 1). The strings must be
    distinct and non-empty, and none may be the start of another, so the
    walk always ends on exactly one of them: end each with a terminator such
    as ``"."`` if they could otherwise overlap.

    ``choice_bias`` (one number per choice, or empty) is added to the logits
    where the choices part ways; where several choices share the next token,
    the largest of their biases counts. Subtracting each choice's score in a
    content-free context calibrates a small model that prefers some choices
    whatever the context (:func:`npc_ai.dialogue.structured.calibrate`).

    ``prefer`` lists words the continuation should use, such as the remembered
    fact that answers the player's question: until the text contains one of
    them (ignoring case), ``prefer_bias`` is added to the logit of each word's
    first token (with and without a leading space, as written and capitalised),
    and once a first piece is taken, to the next piece of that spelling. A small
    model that sees the answer in its prompt often fails to copy it; the nudge
    stops once the word is out so the word is not repeated. Backends without
    logit access ignore it.

    ``ban_first`` lists texts whose first token may not open the continuation
    (with or without a leading space, as written and capitalised): a retry
    after a reply came out as a repeat of an earlier line starts differently.
    Backends without logit access ignore it.
    """

    max_tokens: int = 64
    temperature: float = 0.7
    top_k: int = 40
    top_p: float = 0.95
    min_p: float = 0.05
    repeat_penalty: float = 1.1
    seed: int | None = None
    stop: tuple[str, ...] = ()
    # The first tokens may not end the line: a reply is never empty by
    # construction when the backend supports it.
    forbid_empty: bool = True
    choices: tuple[str, ...] = ()
    choice_bias: tuple[float, ...] = ()
    prefer: tuple[str, ...] = ()
    prefer_bias: float = 6.0
    ban_first: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name, words in (("prefer", self.prefer), ("ban_first", self.ban_first)):
            if not isinstance(words, tuple) or not all(
                isinstance(w, str) and w.strip() for w in words
            ):
                raise InputError(f"{name} must be a tuple of non-empty strings, got {words!r}")
        if not math.isfinite(self.prefer_bias):
            raise InputError(f"prefer_bias must be a finite number, got {self.prefer_bias!r}")
        if self.choices:
            check_choices(self.choices)
            if self.max_tokens < 1:
                raise InputError("a choice needs max_tokens of at least 1")
        if self.choice_bias and (
            len(self.choice_bias) != len(self.choices)
            or not all(math.isfinite(b) for b in self.choice_bias)
        ):
            raise InputError(
                f"choice_bias needs one finite number per choice ({len(self.choices)}), "
                f"got {self.choice_bias!r}"
            )


def check_choices(choices: tuple[str, ...]) -> None:
    """Raise :class:`InputError` unless ``choices`` can be told apart by a greedy walk."""
    if not isinstance(choices, tuple) or not all(isinstance(c, str) for c in choices):
        raise InputError(f"choices must be a tuple of strings, got {choices!r}")
    if any(not c for c in choices):
        raise InputError("a choice is an empty string; every choice needs some text")
    ordered = sorted(choices)
    for a, b in itertools.pairwise(ordered):
        if b.startswith(a):
            what = "appears twice" if a == b else f"is the start of {b!r}"
            raise InputError(
                f"choice {a!r} {what}; the choices must be distinct and none may be the "
                "start of another (end each with a terminator such as '.')"
            )


@runtime_checkable
class Generator(Protocol):
    """Produces a prompt's continuation as a stream of text pieces."""

    @property
    def context_size(self) -> int:
        """Tokens the backend can hold: prompt and continuation together."""
        ...

    def count_tokens(self, text: str) -> int:
        """Tokens ``text`` takes when it appears inside a prompt."""
        ...

    def generate(self, prompt: str | Sequence[str], params: SamplingParams) -> Iterator[str]:
        """Yield the continuation of ``prompt`` piece by piece.

        ``prompt`` may be given as segments whose concatenation is the text;
        a backend that caches computed prompts reuses them segment by segment.
        Closing the iterator early stops generation before the next token.
        """
        ...

    def prefill(self, prompt: Sequence[str]) -> None:
        """Compute ``prompt`` ahead of time so a generation that starts with it
        starts sooner. A backend without a cache does nothing."""
        ...

    def close(self) -> None:
        """Release the model. Further calls are errors."""
        ...
