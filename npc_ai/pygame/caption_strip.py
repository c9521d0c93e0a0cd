"""The caption strip: subtitles at the bottom of the game screen.

It shows two things, drawn alike (outlined text, as the caption window draws it):

- a :class:`~npc_ai.subtitles.board.CaptionBoard` fed with live-subtitle events
  (:meth:`CaptionStrip.feed`, e.g. ``LiveSubtitles.poll()``): what the player said aloud,
  and its translations;
- NPC lines as captions (:meth:`CaptionStrip.say`, or :meth:`CaptionStrip.handle` with the
  runtime's ``ReplyDone``): laid out by :func:`~npc_ai.subtitles.captions.layout_cues` with
  the usual rules (:class:`~npc_ai.subtitles.captions.CaptionOptions`: at most 42
  characters a line, 2 lines a caption, 17 characters a second, 5/6 s to 7 s each), one
  caption after another, the speaker's name leading the first.

Board lines are broken with the same rules (:func:`~npc_ai.subtitles.captions.break_lines`)
and, should the strip be narrower than 42 characters of its font, wrapped to its width. The
strip's clock is the game's: the ``dt`` given to :meth:`CaptionStrip.update`::

    strip = CaptionStrip(names={smith: "Brakka"})
    while running:
        for event in runtime.update(dt):
            strip.handle(event)             # a finished NPC line becomes captions
        strip.feed(subtitles.poll())        # optional: the player's voice
        strip.update(dt)
        strip.draw(screen)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import pygame

from npc_ai.pygame.text import OutlinedText, blit_rows, load_font, wrap_text
from npc_ai.runtime.events import Event, ReplyDone
from npc_ai.subtitles.board import BoardOptions, CaptionBoard, OverlayStyle
from npc_ai.subtitles.captions import CaptionOptions, Cue, LiveCaptions, Segment, break_lines
from npc_ai.subtitles.speech.events import SubtitleEvent

__all__ = ["CaptionStrip", "StripOptions"]


def _game_style() -> OverlayStyle:
    return OverlayStyle(font_size=26, outline_width=2, margin=16, max_lines=4)


@dataclass(frozen=True, slots=True, kw_only=True)
class StripOptions:
    """What the caption strip keeps and how it looks. Build once at the edge.

    ``style.max_lines`` is the most rows shown at once (the newest win); ``style.margin``
    the gap to the edges of the area it is drawn in.
    """

    style: OverlayStyle = field(default_factory=_game_style)
    board: BoardOptions = field(default_factory=BoardOptions)
    #: The caption rules for NPC lines and for breaking board lines.
    captions: CaptionOptions = field(default_factory=CaptionOptions)
    #: Colour of NPC captions (the style's colours are for the board's kinds).
    npc_color: str = "#FFFFFF"
    antialias: bool = True


class CaptionStrip:
    """Captions over the game picture. See the module docs for a loop.

    ``rect``: where to draw (``None``: the whole surface given to :meth:`draw`; the rows sit
    against its bottom or top, as ``style.position`` says). ``names``: NPC id -> the name
    shown with its lines (default: the id). ``font``: the game's font.
    """

    def __init__(
        self,
        options: StripOptions | None = None,
        *,
        rect: pygame.Rect | tuple[int, int, int, int] | None = None,
        names: Mapping[str, str] | None = None,
        font: pygame.font.Font | None = None,
    ) -> None:
        self.options = options or StripOptions()
        self.rect = None if rect is None else pygame.Rect(rect)
        self.names = dict(names or {})
        self.board = CaptionBoard(self.options.board)
        self.now = 0.0
        self._captions = LiveCaptions(self.options.captions)
        self._queued: list[Cue] = []
        self._font = font
        self._text: OutlinedText | None = None

    # -- what it shows ----------------------------------------------------------------------

    def feed(self, events: Iterable[SubtitleEvent]) -> bool:
        """Take live-subtitle events; True if the board's lines changed."""
        return self.board.update(events, self.now)

    def say(self, speaker: str, text: str) -> list[Cue]:
        """Show an NPC's line as captions, after those already queued; return its cues
        (times on the strip's clock, :attr:`now`)."""
        text = " ".join(text.split())
        if not text:
            return []
        words = f"{speaker}: {text}" if speaker else text
        o = self.options.captions
        # A line nobody speaks aloud takes as long as it takes to read.
        # After the captions already queued: the whole line moves, so that its own cues
        # keep their share of the reading time.
        start = self.now
        if self._captions.cues:
            start = max(start, self._captions.cues[-1].end + o.min_gap)
        segment = Segment(text=words, start=start, end=start + len(words) / o.max_cps)
        cues = self._captions.add(segment)
        del self._captions.cues[:-1]  # only the last one's end matters to the next line
        self._queued.extend(cues)
        return cues

    def handle(self, event: Event) -> bool:
        """A ``ReplyDone`` becomes captions of its NPC's line; other events are left."""
        if isinstance(event, ReplyDone) and event.text.strip():
            self.say(self.names.get(event.npc, event.npc), event.text)
            return True
        return False

    def clear(self) -> None:
        """Forget every caption (queued NPC lines and the board)."""
        self._queued.clear()
        self.board.clear()

    @property
    def cue(self) -> Cue | None:
        """The NPC caption on show now, if any."""
        for cue in self._queued:
            if cue.start <= self.now < cue.end:
                return cue
        return None

    def rows(self, room: int | None = None) -> list[tuple[str, str]]:
        """The (row, colour) pairs on show now; ``room``: the width in pixels, if known."""
        o = self.options
        s = o.style
        wanted: list[tuple[str, str]] = []
        for line in self.board.lines:
            color = s.color_for(line.kind)
            wanted.extend((row, color) for row in self._break(line.text, room))
        cue = self.cue
        if cue is not None:
            for text in cue.lines:
                wanted.extend((row, o.npc_color) for row in self._break(text, room))
        return wanted[-s.max_lines :]

    # -- the frame --------------------------------------------------------------------------

    def process_event(self, event: pygame.event.Event) -> bool:
        """The strip takes no input; always False."""
        del event
        return False

    def update(self, dt: float) -> None:
        """Advance the strip's clock by ``dt`` seconds; captions past their time go."""
        self.now += dt
        self.board.update((), self.now)
        self._queued = [cue for cue in self._queued if cue.end > self.now]

    def draw(self, surface: pygame.Surface) -> pygame.Rect | None:
        """Draw the rows on show; return where (None if nothing is on show)."""
        s = self.options.style
        area = (self.rect or surface.get_rect()).inflate(-2 * s.margin, -2 * s.margin)
        text = self._renderer()
        wanted = self.rows(area.width - 2 * s.outline_width)
        if not wanted:
            return None
        images = text.rows(wanted)
        return blit_rows(
            surface, images, area, row_height=text.row_height, bottom=s.position == "bottom"
        )

    # -- inside -----------------------------------------------------------------------------

    def _renderer(self) -> OutlinedText:
        if self._text is None:
            s = self.options.style
            font = self._font or load_font(s.font, s.font_size)
            self._text = OutlinedText(
                font,
                outline_color=s.outline_color,
                outline_width=s.outline_width,
                antialias=self.options.antialias,
            )
        return self._text

    def _break(self, text: str, room: int | None) -> list[str]:
        o = self.options.captions
        lines = break_lines(text, max_chars=o.max_chars_per_line, max_lines=o.max_lines)
        if lines is None:  # longer than one caption (a long live phrase): plain rows
            lines = tuple(wrap_text(text, lambda t: len(t) <= o.max_chars_per_line))
        if room is None:
            return list(lines)
        font = self._renderer().font
        fits = lambda t: font.size(t)[0] <= room  # noqa: E731
        return [row for line in lines for row in wrap_text(line, fits)]
