"""The records captions are made of: the layout rules, timed text in, cues out.

:class:`CaptionOptions` holds the rules, :class:`Segment` (or any :class:`TimedText`) is
committed text with audio times, :class:`Cue` one caption on screen. Import them from
:mod:`npc_ai.subtitles.captions`; they live here, below the layout
(:mod:`npc_ai.subtitles.caption_layout`) and the writers
(:mod:`npc_ai.subtitles.caption_files`) that both use them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

from npc_ai.errors import CaptionError

__all__ = [
    "CaptionOptions",
    "Cue",
    "Segment",
    "TimedText",
    "TimedWord",
    "milliseconds",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class CaptionOptions:
    """Layout and timing rules (defaults: Netflix timed-text style for English).

    ``max_cps``: reading speed in characters (spaces included) per second. ``min_gap``:
    the least time between two cues, two frames at 24 fps by default. ``max_pause``: the
    longest silence inside one cue (needs word times to be seen).
    """

    max_chars_per_line: int = 42
    max_lines: int = 2
    max_cps: float = 17.0
    min_duration: float = 5 / 6
    max_duration: float = 7.0
    min_gap: float = 2 / 24
    max_pause: float = 1.5
    """A cue never spans a silence longer than this (its second half would show early)."""

    def __post_init__(self) -> None:
        if self.max_chars_per_line < 1 or self.max_lines < 1:
            raise CaptionError("max_chars_per_line and max_lines must be at least 1")
        if not (self.max_cps > 0 and 0 <= self.min_duration <= self.max_duration):
            raise CaptionError("need max_cps > 0 and 0 <= min_duration <= max_duration")
        if not (0 <= self.min_gap < 10):
            raise CaptionError("min_gap must be between 0 and 10 seconds")


class TimedWord(Protocol):
    """A word with audio times in seconds (``npc_ai.subtitles.speech.events.Word`` is one)."""

    @property
    def text(self) -> str: ...
    @property
    def start(self) -> float: ...
    @property
    def end(self) -> float: ...


class TimedText(Protocol):
    """Caption text with audio times (``npc_ai.subtitles.speech.events.Caption`` is one, and so is
    :class:`Segment`). A ``words`` attribute of :class:`TimedWord` s is used when present."""

    @property
    def text(self) -> str: ...
    @property
    def start(self) -> float: ...
    @property
    def end(self) -> float: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Segment:
    """Committed caption text from ``start`` to ``end`` seconds, with optional word times."""

    text: str
    start: float
    end: float
    words: tuple[TimedWord, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Cue:
    """One caption on screen from ``start`` to ``end`` seconds (millisecond precision)."""

    start: float
    end: float
    lines: tuple[str, ...]

    def __post_init__(self) -> None:
        if not (math.isfinite(self.start) and math.isfinite(self.end)):
            raise CaptionError(f"cue times must be finite, got {self.start}..{self.end}")
        if self.start < 0 or self.end <= self.start:
            raise CaptionError(f"a cue needs 0 <= start < end, got {self.start}..{self.end}")
        if not self.lines or any(not line.strip() or "\n" in line for line in self.lines):
            raise CaptionError(f"a cue needs non-empty single lines, got {self.lines!r}")

    @property
    def text(self) -> str:
        """The lines joined with newlines."""
        return "\n".join(self.lines)

    @property
    def duration(self) -> float:
        """Seconds on screen."""
        return self.end - self.start

    @property
    def chars(self) -> int:
        """Characters read, spaces and line breaks counted as one each."""
        return sum(len(line) for line in self.lines) + len(self.lines) - 1

    @property
    def cps(self) -> float:
        """Reading speed in characters per second."""
        return self.chars / self.duration


def milliseconds(value: float, what: str) -> int:
    """``value`` seconds as whole milliseconds; a negative or non-finite time is a CaptionError."""
    if not math.isfinite(value) or value < 0:
        raise CaptionError(f"{what} must be a finite time >= 0 seconds, got {value!r}")
    return round(value * 1000)
