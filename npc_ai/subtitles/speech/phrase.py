"""A phrase of the stream and LocalAgreement-2 over its passes.

:class:`Phrase` is the state :class:`~npc_ai.subtitles.speech.streaming.StreamingTranscriber`
keeps for the phrase being heard: its audio, its committed and tentative words, what was
shown. Each partial pass re-hears the whole phrase; :func:`new_words` keeps the words after
the committed ones and :func:`agreement` counts those two passes in a row agree on
(Macháček et al. 2023, arXiv 2307.14743), which are committed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from npc_ai.subtitles.speech import shield
from npc_ai.subtitles.speech.asr import Audio
from npc_ai.subtitles.speech.events import Word

__all__ = ["Phrase", "agreement", "join_words", "new_words"]


@dataclass(slots=True)
class Phrase:
    """One phrase of the stream: its audio so far, and the words its passes heard."""

    start: int  # stream sample of audio[0]
    chunks: list[Audio]
    samples: int = 0
    speech: int = 0  # samples the VAD called speech
    silence: int = 0  # trailing samples of silence
    speech_end: int = 0  # stream sample where the last speech window ended
    committed: list[Word] = field(default_factory=list)
    tentative: list[Word] = field(default_factory=list)
    seen: int = 0  # samples covered by the last pass or shed decision
    unseen_since: float | None = None  # wall time the oldest unseen audio arrived
    segment: int | None = None
    revision: int = -1
    shown: str | None = None
    language: str = "en"

    def audio(self) -> Audio:
        if len(self.chunks) > 1:
            self.chunks = [np.concatenate(self.chunks)]
        return self.chunks[0] if self.chunks else np.zeros(0, np.float32)

    def drop_before(self, sample: int) -> None:
        """Forget audio before stream sample ``sample``."""
        cut = max(0, min(sample - self.start, self.samples))
        self.chunks = [self.audio()[cut:]]
        self.start += cut
        self.samples -= cut
        self.seen = max(0, self.seen - cut)


def new_words(phrase: Phrase, words: Sequence[Word]) -> list[Word]:
    """The words of a pass that come after the phrase's committed words."""
    if not phrase.committed:
        return list(words)
    last = phrase.committed[-1].end
    fresh = [w for w in words if w.start >= last - 0.1]
    # The boundary word may be heard again: drop the longest run at the start of the
    # fresh words that repeats the tail of the committed words.
    committed = [shield.normalize(w.text) for w in phrase.committed]
    keys = [shield.normalize(w.text) for w in fresh]
    for n in range(min(5, len(committed), len(keys)), 0, -1):
        if committed[-n:] == keys[:n]:
            return fresh[n:]
    return fresh


def agreement(tentative: Sequence[Word], new: Sequence[Word]) -> int:
    """How many words at the start of ``new`` the last pass's ``tentative`` words agree on
    (LocalAgreement-2: those are committed)."""
    agreed = 0
    for old, cur in zip(tentative, new, strict=False):
        if shield.normalize(old.text) != shield.normalize(cur.text):
            break
        agreed += 1
    return agreed


def join_words(words: Sequence[Word]) -> str:
    """Words as the model wrote them (leading spaces start words) joined into text."""
    text = "".join(w.text if w.text[:1].isspace() else " " + w.text for w in words)
    return " ".join(text.split())
