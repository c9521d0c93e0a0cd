"""What the streaming transcriber is told (:class:`StreamingOptions`) and tells
(:class:`TranscriberStats`). Import both from :mod:`npc_ai.subtitles.speech.streaming`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from npc_ai.errors import InputError
from npc_ai.subtitles.speech.shield import ShieldOptions

__all__ = ["StreamingOptions", "TranscriberStats"]


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamingOptions:
    """How the stream is cut into phrases and how hard the CPU is worked. Times in seconds."""

    vad_threshold: float = 0.5
    """Speech starts where the VAD probability reaches this."""
    vad_neg_threshold: float = 0.35
    """Speech goes on until the probability falls below this."""
    min_silence: float = 0.4
    """Silence that ends a phrase."""
    min_speech: float = 0.2
    """Phrases with less speech than this (clicks, breaths) are dropped unheard."""
    pad: float = 0.3
    """Audio kept before a phrase's speech."""
    tail: float = 0.4
    """Audio kept after a phrase's last speech (Whisper reads a word's end better with some
    silence after it; at most ``min_silence`` is there when the phrase ends)."""
    partials: bool = True
    """Send partial captions (off: only finals, the cheapest mode)."""
    min_step: float = 0.5
    """New audio needed before a partial pass, at least."""
    max_step: float = 2.0
    """...and at most, however slow the passes are."""
    max_load: float = 0.6
    """Share of real time partial passes may use; the step grows to keep to it."""
    max_lag: float = 1.0
    """A partial pass is shed when the audio it would cover waited longer than this."""
    pause: float = 0.2
    """No partial pass once the speaker has been silent this long (the final comes soon)."""
    max_phrase: float = 8.0
    """A longer phrase is cut after its last committed word."""
    hard_phrase: float = 12.0
    """A longer phrase is cut after its last word that ends a second before the buffer."""
    prompt_chars: int = 120
    """Characters of earlier finals given to the recogniser as context (0: none)."""
    context: float = 0.0
    """Seconds of earlier phrases' audio (whole phrases, at most this much) put before a phrase
    in its final pass, their final text forced as the decoder's prefix, so the model hears the
    speaker's recent speech as offline transcription does (0: off; costs encoder time)."""
    shield: ShieldOptions = field(default_factory=ShieldOptions)

    def __post_init__(self) -> None:
        problems = []
        if not 0.0 <= self.vad_neg_threshold <= self.vad_threshold <= 1.0:
            problems.append("need 0 <= vad_neg_threshold <= vad_threshold <= 1")
        if self.min_silence <= 0 or self.min_step <= 0 or self.max_step < self.min_step:
            problems.append("need min_silence > 0 and 0 < min_step <= max_step")
        if not 0.0 < self.max_load <= 1.0 or self.max_lag <= 0:
            problems.append("need 0 < max_load <= 1 and max_lag > 0")
        if not (self.max_phrase > 1.0 and 1.0 < self.hard_phrase <= 28.0):
            problems.append("need max_phrase > 1 and 1 < hard_phrase <= 28 (a pass reads <= 30 s)")
        if min(self.pad, self.tail, self.min_speech, self.pause, self.prompt_chars) < 0:
            problems.append("pad, tail, min_speech, pause and prompt_chars must be >= 0")
        if not 0.0 <= self.context <= 20.0:
            problems.append("need 0 <= context <= 20")
        if problems:
            raise InputError("bad StreamingOptions: " + "; ".join(problems))


@dataclass(frozen=True, slots=True, kw_only=True)
class TranscriberStats:
    """What the transcriber has done so far (for benchmarks and the CLI)."""

    audio_seconds: float
    partial_passes: int
    final_passes: int
    shed_passes: int
    rejected_passes: int
    asr_seconds: float
    step: float
