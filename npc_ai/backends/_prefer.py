"""``SamplingParams.prefer`` for one reply: which tokens to nudge at each step.

A preferred word is nudged along its whole spelling: its first token at any step, and once the
reply has taken a first piece of it, the next piece of that spelling. Nudging only the first
piece fails when a word is spelled in several ("Teal" as " Te" + "al" with a small vocabulary):
the model takes the nudged piece and goes on to another word, then takes it again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

__all__ = ["PreferWalk", "word_forms"]


def word_forms(
    words: Sequence[str], tokenize: Callable[[str], list[int]], blank: frozenset[int]
) -> list[list[int]]:
    """The token spellings of each word: with and without a leading space, as is and capitalised."""
    forms: dict[tuple[int, ...], None] = {}
    for word in words:
        word = word.strip()
        for form in (word, word[:1].upper() + word[1:]):
            for text in (form, " " + form):
                tokens = tokenize(text)
                if tokens and tokens[0] not in blank:
                    forms[tuple(tokens)] = None
    return [list(f) for f in forms]


class PreferWalk:
    """Where the reply is along each preferred spelling, and when a word is out."""

    def __init__(self, forms: list[list[int]], words: Sequence[str], bias: float) -> None:
        self.forms = [f for f in forms if f]
        self.words = tuple(w.strip().casefold() for w in words)
        self.bias = bias
        self.done = not self.forms
        self._progress = [0] * len(self.forms)
        self._firsts = {f[0] for f in self.forms}
        self._said = ""

    def ids(self) -> np.ndarray:
        """The tokens to nudge now: every first piece, and the next piece of a started one."""
        ids = set(self._firsts)
        for form, at in zip(self.forms, self._progress, strict=True):
            if 0 < at < len(form):
                ids.add(form[at])
        return np.fromiter(ids, dtype=np.int32, count=len(ids))

    def advance(self, token: int, text: str) -> None:
        """The reply took ``token`` (which decoded to ``text``)."""
        for i, form in enumerate(self.forms):
            at = self._progress[i]
            if at < len(form) and form[at] == token:
                self._progress[i] = at + 1
            else:
                self._progress[i] = 1 if form[0] == token else 0
        self._said += text.casefold()
        if any(word in self._said for word in self.words):
            self.done = True  # out: no more nudging, so it is not said again
