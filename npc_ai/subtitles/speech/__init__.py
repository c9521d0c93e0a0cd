"""Streaming speech transcription for live subtitles.

The session on top of this package is :class:`npc_ai.subtitles.live.LiveSubtitles`; the
faster-whisper recogniser and VAD are in :mod:`npc_ai.backends.faster_whisper`.
"""

from __future__ import annotations

from npc_ai.subtitles.speech.audio import AudioSource, PushSource
from npc_ai.subtitles.speech.events import (
    Caption,
    CaptionTranslation,
    SubtitleError,
    SubtitleEvent,
    Word,
)
from npc_ai.subtitles.speech.shield import ShieldOptions
from npc_ai.subtitles.speech.streaming import (
    SAMPLE_RATE,
    AsrResult,
    SpeechRecognizer,
    StreamingOptions,
    StreamingTranscriber,
    TranscriberStats,
    VoiceDetector,
)

__all__ = [
    "SAMPLE_RATE",
    "AsrResult",
    "AudioSource",
    "Caption",
    "CaptionTranslation",
    "PushSource",
    "ShieldOptions",
    "SpeechRecognizer",
    "StreamingOptions",
    "StreamingTranscriber",
    "SubtitleError",
    "SubtitleEvent",
    "TranscriberStats",
    "VoiceDetector",
    "Word",
]
