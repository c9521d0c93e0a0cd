"""The hallucination shield: Whisper output that is not speech never becomes a caption.

Whisper models, small ones most of all, invent text on silence and noise ("Thank you.",
"you", "Thanks for watching!") and fall into repetition loops. Three layers keep that out:

1. *Segment scores* (the thresholds Whisper itself uses for its temperature fallback): a pass is
   rejected when the model says there is no speech and is unsure of its text
   (``no_speech_prob > no_speech_threshold`` and ``avg_logprob < log_prob_threshold``), when
   it is very unsure whatever it says (``avg_logprob < log_prob_threshold - 0.5``), or when
   its text compresses too well (``compression_ratio > compression_ratio_threshold``) even
   after loops are collapsed.
2. *Known inventions*: a phrase whose whole text is one of the stock hallucinations is kept
   only when the model is confident in every word of it and sure it heard speech.
3. *Loops and non-speech marks*: an n-gram repeated back to back collapses to one copy, and
   bracketed sound labels ("[Music]", "(laughs)", "♪") are dropped.

The VAD in front of the transcriber is the first shield (silence never reaches the model);
these filters catch noise the VAD lets through and the model's own habits.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

from npc_ai.subtitles.speech.events import Word

__all__ = [
    "DEFAULT_HALLUCINATIONS",
    "ShieldOptions",
    "collapse_loops",
    "compression_ratio",
    "drop_sound_labels",
    "normalize",
    "rejection",
]

DEFAULT_HALLUCINATIONS: tuple[str, ...] = (
    "you",
    "thank you",
    "thank you very much",
    "thanks",
    "thanks for watching",
    "thank you for watching",
    "thank you so much for watching",
    "please subscribe",
    "subscribe",
    "bye",
    "bye bye",
    "so",
    "oh",
    "uh",
    "um",
    "hmm",
    "the end",
    "okay",
    "i'm sorry",
    "subtitles by the amara org community",
)
"""Whole-phrase texts Whisper is known to invent on silence or noise (normalised)."""

_PUNCT = re.compile(r"[^\w\s']+")
_SPACES = re.compile(r"\s+")
_SOUND_LABEL = re.compile(r"^\s*(\[[^\]]*\]|\([^)]*\)|\*[^*]*\*|[♪♫#\-–—]+)\s*$")


@dataclass(frozen=True, slots=True, kw_only=True)
class ShieldOptions:
    """Thresholds of the hallucination shield (defaults are Whisper's own)."""

    no_speech_threshold: float = 0.6
    log_prob_threshold: float = -1.0
    compression_ratio_threshold: float = 2.4
    blocklist: tuple[str, ...] = DEFAULT_HALLUCINATIONS
    # A blocklisted phrase survives only with every word at least this probable and a
    # no-speech probability at most ``blocklist_max_no_speech``.
    blocklist_min_word_probability: float = 0.7
    blocklist_max_no_speech: float = 0.2
    max_ngram: int = 8
    # A single word must appear this many times in a row to count as a loop ("no, no, no" is
    # speech); a longer n-gram twice in a row already is one.
    min_word_repeats: int = 4
    min_ngram_repeats: int = 3


def normalize(text: str) -> str:
    """Lower-case ``text`` without punctuation and with single spaces (for comparisons)."""
    return _SPACES.sub(" ", _PUNCT.sub(" ", text.lower())).strip()


def compression_ratio(text: str) -> float:
    """How well ``text`` compresses with zlib; loops compress far better than speech."""
    data = text.encode("utf-8")
    if not data:
        return 0.0
    return len(data) / len(zlib.compress(data))


def drop_sound_labels(words: Sequence[Word]) -> list[Word]:
    """``words`` without bracketed sound labels and music marks."""
    return [w for w in words if w.text.strip() and not _SOUND_LABEL.match(w.text)]


def collapse_loops(words: Sequence[Word], options: ShieldOptions | None = None) -> list[Word]:
    """Collapse n-grams repeated back to back into one copy.

    A single word counts as a loop from ``min_word_repeats`` copies in a row, a longer n-gram
    (up to ``max_ngram`` words) from ``min_ngram_repeats`` copies. Words are compared
    normalised, so "Go, go, go, go." is a loop of "go".
    """
    opts = options or ShieldOptions()
    out = list(words)
    keys = [normalize(w.text) for w in out]
    changed = True
    while changed:
        changed = False
        for n in range(1, opts.max_ngram + 1):
            need = opts.min_word_repeats if n == 1 else opts.min_ngram_repeats
            i = 0
            while i + n * need <= len(out):
                gram = keys[i : i + n]
                copies = 1
                while keys[i + copies * n : i + (copies + 1) * n] == gram:
                    copies += 1
                if copies >= need and any(gram):
                    del out[i + n : i + copies * n]
                    del keys[i + n : i + copies * n]
                    changed = True
                i += 1
    return out


def rejection(
    *,
    text: str,
    words: Sequence[Word],
    avg_logprob: float,
    no_speech_prob: float,
    options: ShieldOptions | None = None,
) -> str | None:
    """Why a recognised phrase must not become a caption, or ``None`` when it may.

    ``text`` and ``words`` are the phrase after :func:`collapse_loops` and
    :func:`drop_sound_labels`; the scores are the pass's own.
    """
    opts = options or ShieldOptions()
    if no_speech_prob > opts.no_speech_threshold and avg_logprob < opts.log_prob_threshold:
        return "no speech"
    if avg_logprob < opts.log_prob_threshold - 0.5:
        return "low log-probability"
    if compression_ratio(text) > opts.compression_ratio_threshold:
        return "repetitive"
    key = normalize(text)
    if key in opts.blocklist:
        confident = bool(words) and all(
            w.probability >= opts.blocklist_min_word_probability for w in words
        )
        if not confident or no_speech_prob > opts.blocklist_max_no_speech:
            return "known hallucination"
    return None
