"""Streaming speech transcription for live subtitles."""

from __future__ import annotations

from npc_ai.speech.events import Caption, CaptionTranslation, SubtitleError, SubtitleEvent, Word

__all__ = ["Caption", "CaptionTranslation", "SubtitleError", "SubtitleEvent", "Word"]
