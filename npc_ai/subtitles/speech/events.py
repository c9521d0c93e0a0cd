"""Records the live-subtitle pipeline emits: captions, translations and errors.

A stream is cut into phrases. Each phrase has a ``segment`` id (0, 1, 2, ... within
a stream) and is shown first as partial captions (revisable: a later revision of the
same segment replaces it on screen) and then once as a final caption, which never
changes again. Translations are made of finals only and are sent after their final.
Times are audio seconds from the start of the stream, not wall-clock times.

Each record maps itself to plain fields once, for every wire that carries it (the bridge's
``subtitle.*`` notifications, the caption page's event stream): :attr:`kind` names what
happened (``partial``, ``final``, ``translation``, ``error``) and ``to_dict()`` gives the
fields as JSON and MessagePack types (times as floats, the error as its wire map).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from npc_ai.errors import NpcAiError

__all__ = ["Caption", "CaptionTranslation", "EventKind", "SubtitleError", "SubtitleEvent", "Word"]

EventKind = Literal["partial", "final", "translation", "error"]
"""What a subtitle event is, as the wires name it (``subtitle.<kind>`` on the bridge)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Word:
    """One recognised word with its audio times."""

    text: str
    start: float  # audio seconds from the start of the stream
    end: float
    probability: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        """``{"text", "start", "end", "probability"}``."""
        return {
            "text": self.text,
            "start": float(self.start),
            "end": float(self.end),
            "probability": float(self.probability),
        }


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

    @property
    def kind(self) -> EventKind:
        """``"final"`` or ``"partial"``."""
        return "final" if self.final else "partial"

    def to_dict(self) -> dict[str, Any]:
        """Every field, in declaration order: ``{"segment", "revision", "final", "text",
        "start", "end", "language", "words"}`` (each word a :meth:`Word.to_dict`)."""
        return {
            "segment": self.segment,
            "revision": self.revision,
            "final": self.final,
            "text": self.text,
            "start": float(self.start),
            "end": float(self.end),
            "language": self.language,
            "words": [word.to_dict() for word in self.words],
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class CaptionTranslation:
    """A final caption's text in one target language (sent after that Caption)."""

    segment: int
    target: str  # language code, e.g. "es"
    text: str
    start: float
    end: float

    @property
    def kind(self) -> EventKind:
        """``"translation"``."""
        return "translation"

    def to_dict(self) -> dict[str, Any]:
        """``{"segment", "target", "text", "start", "end"}``."""
        return {
            "segment": self.segment,
            "target": self.target,
            "text": self.text,
            "start": float(self.start),
            "end": float(self.end),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class SubtitleError:
    """Something went wrong in the pipeline (bad audio, device lost).

    With ``fatal`` false the session goes on; with ``fatal`` true it ends after this event.
    """

    error: NpcAiError
    fatal: bool

    @property
    def kind(self) -> EventKind:
        """``"error"``."""
        return "error"

    def to_dict(self) -> dict[str, Any]:
        """``{"error": {"code", "name", "message", "data"}, "fatal"}``."""
        return {"error": self.error.to_dict(), "fatal": self.fatal}


# A run-time union (Python 3.10+), so isinstance(event, SubtitleEvent) works too.
SubtitleEvent = Caption | CaptionTranslation | SubtitleError
