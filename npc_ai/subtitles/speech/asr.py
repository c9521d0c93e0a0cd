"""The Protocols the streaming transcriber drives: a speech recogniser and a voice detector.

Real ones are in :mod:`npc_ai.backends.faster_whisper`; fakes in
:mod:`npc_ai.subtitles.speech.fake`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from npc_ai.subtitles.speech.events import Word

__all__ = ["SAMPLE_RATE", "AsrResult", "Audio", "SpeechRecognizer", "VoiceDetector"]

SAMPLE_RATE = 16000
"""Samples per second of every audio array in this package (mono float32 in [-1, 1])."""

Audio = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True, kw_only=True)
class AsrResult:
    """One recogniser pass over an audio buffer.

    ``words`` carry times in seconds from the start of that buffer and their text as the
    model wrote it (a leading space starts a new word); the scores are those of the pass.
    """

    text: str
    words: tuple[Word, ...] = ()
    avg_logprob: float = 0.0
    no_speech_prob: float = 0.0
    language: str = "en"


class SpeechRecognizer(Protocol):
    """Transcribes a short buffer of 16 kHz mono float32 audio (one phrase, <= 30 s)."""

    def transcribe(self, audio: Audio, *, prompt: str = "", prefix: str = "") -> AsrResult:
        """Transcribe ``audio``; ``prompt`` is earlier text that gives the model context.

        ``prefix`` is the known text of the buffer's beginning (earlier phrases put before this
        one): only the words after it are returned, timed within the whole buffer.
        """
        ...


class VoiceDetector(Protocol):
    """Streaming voice activity detection: speech probability per window of samples."""

    @property
    def window(self) -> int:
        """Samples per probability."""
        ...

    def __call__(self, audio: Audio) -> npt.NDArray[np.float32]:
        """Probabilities for ``len(audio) // window`` consecutive windows (stateful)."""
        ...

    def reset(self) -> None:
        """Forget the stream so far."""
        ...
