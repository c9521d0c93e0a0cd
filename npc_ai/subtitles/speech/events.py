"""Records the live-subtitle pipeline emits: captions, translations and errors.

A stream is cut into phrases. Each phrase has a ``segment`` id (0, 1, 2, ... within
a stream) and is shown first as partial captions (revisable: a later revision of the
same segment replaces it on screen) and then once as a final caption, which never
changes again. Translations are made of finals only and are sent after their final.
Times are audio seconds from the start of the stream, not wall-clock times.
"""

from __future__ import annotations

from dataclasses import dataclass

from npc_ai.errors import NpcAiError

__all__ = ["Caption", "CaptionTranslation", "SubtitleError", "SubtitleEvent", "Word"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Word:
    """One recognised word with its audio times."""

    text: str
    start: float  # audio seconds from the start of the stream
    end: float
    probability: float = 1.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Caption:
    """A partial (revisable) or final (committed) caption of one phrase."""

    segment: int  # phrase id, increasing from 0 within a stream
    revision: int  # 0, 1, 2, ... within a segment; the final carries the last revision
    final: bool
    text: str  # the whole phrase so far (committed + tentative for partials)
    start: float  # audio seconds
    end: float
    language: str = "en"
    words: tuple[Word, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class CaptionTranslation:
    """A final caption's text in one target language (sent after that Caption)."""

    segment: int
    target: str  # language code, e.g. "es"
    text: str
    start: float
    end: float


@dataclass(frozen=True, slots=True, kw_only=True)
class SubtitleError:
    """Something went wrong in the pipeline (bad audio, device lost).

    With ``fatal`` false the session goes on; with ``fatal`` true it ends after this event.
    """

    error: NpcAiError
    fatal: bool


# A run-time union (Python 3.10+), so isinstance(event, SubtitleEvent) works too.
SubtitleEvent = Caption | CaptionTranslation | SubtitleError
