"""Caption layout and timing a subtitler would accept, and SRT / WebVTT output.

:func:`layout_cues` turns committed caption text with audio times (and word times when the
recogniser has them) into :class:`Cue` s following the usual timed-text rules
(:class:`CaptionOptions`: at most 42 characters a line, 2 lines, 17 characters a second,
5/6 s to 7 s on screen). The rules, in the order they are applied:

1. **Words.** A segment's words keep their times; without word times the segment's span is
   shared among its words in proportion to their length. Times are made monotonic; a word
   longer than a line is cut into line-long pieces.
2. **Cues.** A segment is cut into cues at the points that cost least overall (dynamic
   programming): every cue must fit the lines, must not span a silence longer than
   ``max_pause`` and, unless it is one word, its speech must last at most
   ``max_duration``; a cut after a full stop costs least, then after a comma,
   then before a conjunction or preposition, and a cut after an article or determiner
   (English, Spanish, French) is never made while another cut is possible. Pauses make
   cuts cheaper; very short cues and cues whose reading speed cannot be met before the
   next cue's speech cost more. Cues never span two segments.
3. **Lines.** A cue that fits one line stays on one line. Otherwise the break is chosen by
   the same costs plus balance between the lines (a slightly longer bottom line is
   preferred); never after an article while another break fits.
4. **Times** (integer milliseconds). A cue starts when its first word is spoken (or
   ``min_gap`` after the previous cue ends, if later). It ends at the latest of: its last
   word's end, ``min_duration`` after its start, and the time its text needs at
   ``max_cps`` -- but the extension stops at ``max_duration`` and always ``min_gap``
   before the next cue's first word. So a cue is shorter than ``min_duration`` (or reads
   faster than ``max_cps``) only when the next cue's speech follows within that time.

:func:`to_srt` and :func:`to_vtt` render cues; :class:`CueWriter` appends cues to a file as
finals arrive, flushing each, so a live session killed at any moment leaves a valid file;
:class:`LiveCaptions` lays out segment after segment for it.

Import everything from here. The records live in :mod:`npc_ai.subtitles.cues`, the layout in
:mod:`npc_ai.subtitles.caption_layout`, the writers in :mod:`npc_ai.subtitles.caption_files`.
"""

from __future__ import annotations

from npc_ai.subtitles.caption_files import (
    CueWriter,
    format_timestamp,
    to_srt,
    to_vtt,
    write_srt,
    write_vtt,
)
from npc_ai.subtitles.caption_layout import break_lines, layout_cues
from npc_ai.subtitles.cues import CaptionOptions, Cue, Segment, TimedText, TimedWord

__all__ = [
    "CaptionOptions",
    "Cue",
    "CueWriter",
    "LiveCaptions",
    "Segment",
    "TimedText",
    "TimedWord",
    "break_lines",
    "format_timestamp",
    "layout_cues",
    "to_srt",
    "to_vtt",
    "write_srt",
    "write_vtt",
]


class LiveCaptions:
    """Lays out committed segments one by one, each after the cues already made.

    A cue already shown cannot be shortened, so a new segment's first cue starts at its
    speech or ``min_gap`` after the previous cue's end, whichever is later. With a
    ``writer``, every cue is appended to its file at once.
    """

    def __init__(self, options: CaptionOptions | None = None, writer: CueWriter | None = None):
        self.options = options or CaptionOptions()
        self.writer = writer
        self.cues: list[Cue] = []

    def add(self, segment: TimedText) -> list[Cue]:
        """Cues for one more committed segment (written if there is a writer)."""
        floor = self.cues[-1].end + self.options.min_gap if self.cues else 0.0
        cues = layout_cues([segment], self.options, not_before=floor)
        if self.writer is not None:
            self.writer.write_all(cues)
        self.cues.extend(cues)
        return cues
