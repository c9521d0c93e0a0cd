"""A dialogue panel: the NPC's name, a portrait slot, the transcript, and the player's line.

The transcript holds the player's and the NPC's lines, wrapped to the panel, newest at the
bottom; the mouse wheel (or Page Up / Page Down) scrolls back. The NPC's reply streams into
it from the runtime's events; the player's lines are added by the game, typically from the
hosted :class:`~npc_ai.pygame.text_input.TextInput`::

    panel = DialoguePanel(pygame.Rect(10, 380, 620, 250), name="Brakka Ironhand", npc=smith)
    panel.input = TextInput(panel.input_rect, on_submit=lambda text: (
        panel.add_line("You", text, kind="player"), runtime.say(smith, text)))
    panel.input.focus()
    while running:
        for event in pygame.event.get():
            panel.process_event(event)      # scrolling, then the input
        for event in runtime.update(dt):
            panel.handle(event)             # the NPC's reply streams in
        panel.update(dt)
        panel.draw(screen)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pygame

from npc_ai.errors import InputError
from npc_ai.pygame.text import load_font, wrap_lines
from npc_ai.pygame.text_input import TextInput
from npc_ai.runtime.events import Event, ReplyDelta, ReplyDone, ReplyError
from npc_ai.subtitles.board import parse_color

__all__ = ["DialoguePanel", "PanelOptions", "TranscriptLine"]

Kind = Literal["player", "npc", "note"]


@dataclass(frozen=True, slots=True, kw_only=True)
class PanelOptions:
    """How a dialogue panel looks. Build once at the edge."""

    font_size: int = 18
    name_size: int = 22
    #: Side of the square portrait slot, in pixels; 0 for none.
    portrait_size: int = 72
    padding: int = 10
    #: Height of the hosted text input, in pixels.
    input_height: int = 32
    #: Lines kept in the transcript (the oldest go).
    max_entries: int = 200
    background: str = "#1E1B18"
    #: 0 (see-through) to 255 (opaque).
    opacity: int = 225
    border: str = "#5A544C"
    name_color: str = "#FFD27F"
    player_color: str = "#9FD3FF"
    npc_color: str = "#F2EDE4"
    note_color: str = "#C08080"

    def __post_init__(self) -> None:
        for name in (
            "background",
            "border",
            "name_color",
            "player_color",
            "npc_color",
            "note_color",
        ):
            parse_color(getattr(self, name))
        if not 0 <= self.opacity <= 255 or self.max_entries < 1 or self.portrait_size < 0:
            raise InputError("need opacity 0 to 255, max_entries >= 1 and portrait_size >= 0")


@dataclass(slots=True, kw_only=True)
class TranscriptLine:
    """One line of the transcript (an NPC's line grows while its reply streams)."""

    speaker: str
    text: str
    kind: Kind = "npc"
    reply: int | None = None


class DialoguePanel:
    """A conversation with one NPC. See the module docs for a loop.

    ``npc``: the NPC id whose events :meth:`handle` takes (``None``: any NPC's).
    ``portrait``: a Surface shown in the slot (scaled to fit), or None for an empty frame.
    ``input``: a hosted :class:`TextInput`, placed at :attr:`input_rect`.
    """

    def __init__(
        self,
        rect: pygame.Rect | tuple[int, int, int, int],
        options: PanelOptions | None = None,
        *,
        name: str = "",
        npc: str | None = None,
        portrait: pygame.Surface | None = None,
        input: TextInput | None = None,
        font: pygame.font.Font | None = None,
        name_font: pygame.font.Font | None = None,
    ) -> None:
        self.options = options or PanelOptions()
        self.rect = pygame.Rect(rect)
        self.name = name
        self.npc = npc
        self.portrait = portrait
        self.lines: list[TranscriptLine] = []
        #: Rows scrolled back from the newest (0: the newest row is at the bottom).
        self.scroll = 0
        self._font = font
        self._name_font = name_font
        self._input: TextInput | None = None
        self._version = 0
        self._rows: tuple[tuple[int, int], list[tuple[str, Kind]]] = ((-1, -1), [])
        self._portrait_image: tuple[pygame.Surface, pygame.Surface] | None = None
        self.input = input

    # -- layout -----------------------------------------------------------------------------

    @property
    def input(self) -> TextInput | None:
        """The hosted text input (placed at :attr:`input_rect` when set)."""
        return self._input

    @input.setter
    def input(self, value: TextInput | None) -> None:
        self._input = value
        if value is not None:
            value.rect = self.input_rect

    @property
    def input_rect(self) -> pygame.Rect:
        """Where a hosted text input goes: along the bottom of the panel."""
        o = self.options
        r = self.rect
        return pygame.Rect(
            r.x + o.padding,
            r.bottom - o.padding - o.input_height,
            r.width - 2 * o.padding,
            o.input_height,
        )

    @property
    def transcript_rect(self) -> pygame.Rect:
        """Where the transcript is drawn."""
        o = self.options
        r = self.rect
        left = r.x + o.padding + (o.portrait_size + o.padding if o.portrait_size else 0)
        top = r.y + o.padding + self.name_font.get_linesize() + o.padding // 2
        bottom = r.bottom - o.padding
        if self._input is not None:
            bottom -= o.input_height + o.padding
        return pygame.Rect(left, top, r.right - o.padding - left, max(0, bottom - top))

    @property
    def font(self) -> pygame.font.Font:
        if self._font is None:
            self._font = load_font(None, self.options.font_size)
        return self._font

    @property
    def name_font(self) -> pygame.font.Font:
        if self._name_font is None:
            self._name_font = load_font(None, self.options.name_size)
        return self._name_font

    # -- the transcript ---------------------------------------------------------------------

    def add_line(self, speaker: str, text: str, *, kind: Kind = "npc") -> TranscriptLine:
        """Add a finished line (the player's, or any speaker's)."""
        line = TranscriptLine(speaker=speaker, text=text, kind=kind)
        self._append(line)
        return line

    def handle(self, event: Event) -> bool:
        """Take a runtime event of this panel's NPC: its reply streams into the transcript."""
        if self.npc is not None and event.npc != self.npc:
            return False
        line = self._reply_line(event.reply)
        if isinstance(event, ReplyDelta):
            if line is None:
                line = TranscriptLine(speaker=self.name or event.npc, text="", reply=event.reply)
                self._append(line)
            line.text += event.text
        elif isinstance(event, ReplyDone):
            if line is None and event.text:
                self._append(TranscriptLine(speaker=self.name or event.npc, text=event.text))
            elif line is not None:
                line.text = event.text
                line.reply = None
        elif isinstance(event, ReplyError):
            if line is not None:
                line.reply = None
            self._append(TranscriptLine(speaker="", text=f"({event.error.message})", kind="note"))
        self._version += 1
        return True

    def rows(self) -> list[tuple[str, Kind]]:
        """Every transcript row, wrapped to the transcript's width, oldest first."""
        width = self.transcript_rect.width
        if self._rows[0] != (self._version, width):
            rows: list[tuple[str, Kind]] = []
            for line in self.lines:
                text = f"{line.speaker}: {line.text}" if line.speaker else line.text
                rows.extend((row, line.kind) for row in wrap_lines(text, self.font, width))
            if self.scroll and self._rows[0][1] == width:
                # Reading back: the same rows stay in view while new ones arrive below.
                self.scroll = max(0, self.scroll + len(rows) - len(self._rows[1]))
            self._rows = ((self._version, width), rows)
        return self._rows[1]

    @property
    def visible_rows(self) -> list[tuple[str, Kind]]:
        """The rows on show, given :attr:`scroll`."""
        fit = max(1, self.transcript_rect.height // self.font.get_linesize())
        rows = self.rows()
        end = len(rows) - self.scroll
        return rows[max(0, end - fit) : end]

    def scroll_by(self, rows: int) -> None:
        """Scroll back (positive) or forward (negative) by ``rows``."""
        fit = max(1, self.transcript_rect.height // self.font.get_linesize())
        self.scroll = min(max(0, self.scroll + rows), max(0, len(self.rows()) - fit))

    # -- the frame --------------------------------------------------------------------------

    def process_event(self, event: pygame.event.Event) -> bool:
        """Scrolling first, then the hosted input; True if the event was used."""
        if event.type == pygame.MOUSEWHEEL and self.rect.collidepoint(pygame.mouse.get_pos()):
            self.scroll_by(3 * event.y)
            return True
        if event.type == pygame.KEYDOWN and event.key in (pygame.K_PAGEUP, pygame.K_PAGEDOWN):
            page = max(1, self.transcript_rect.height // self.font.get_linesize() - 1)
            self.scroll_by(page if event.key == pygame.K_PAGEUP else -page)
            return True
        if self._input is not None:
            return self._input.process_event(event)
        return False

    def update(self, dt: float) -> None:
        if self._input is not None:
            self._input.update(dt)

    def draw(self, surface: pygame.Surface) -> None:
        o = self.options
        back = pygame.Surface(self.rect.size, pygame.SRCALPHA)
        back.fill((*parse_color(o.background), o.opacity))
        surface.blit(back, self.rect.topleft)
        pygame.draw.rect(surface, parse_color(o.border), self.rect, width=2)
        x, y = self.rect.x + o.padding, self.rect.y + o.padding
        if o.portrait_size:
            self._draw_portrait(surface, pygame.Rect(x, y, o.portrait_size, o.portrait_size))
            x += o.portrait_size + o.padding
        if self.name:
            surface.blit(self.name_font.render(self.name, True, parse_color(o.name_color)), (x, y))
        area = self.transcript_rect
        colors = {"player": o.player_color, "npc": o.npc_color, "note": o.note_color}
        previous = surface.get_clip()
        surface.set_clip(area.clip(previous))
        row_y = area.y
        for row, kind in self.visible_rows:
            surface.blit(self.font.render(row, True, parse_color(colors[kind])), (area.x, row_y))
            row_y += self.font.get_linesize()
        surface.set_clip(previous)
        if self.scroll:
            mark = self.font.render("...", True, parse_color(o.name_color))
            surface.blit(mark, (area.right - mark.get_width(), area.bottom - mark.get_height()))
        if self._input is not None:
            self._input.draw(surface)

    # -- inside -----------------------------------------------------------------------------

    def _append(self, line: TranscriptLine) -> None:
        self.lines.append(line)
        del self.lines[: max(0, len(self.lines) - self.options.max_entries)]
        self._version += 1

    def _reply_line(self, reply: int) -> TranscriptLine | None:
        for line in reversed(self.lines):
            if line.reply == reply:
                return line
        return None

    def _draw_portrait(self, surface: pygame.Surface, slot: pygame.Rect) -> None:
        o = self.options
        if self.portrait is None:
            pygame.draw.rect(surface, parse_color(o.border), slot, width=2)
            if self.name:
                initial = self.name_font.render(self.name[:1], True, parse_color(o.name_color))
                surface.blit(initial, initial.get_rect(center=slot.center))
            return
        cached = self._portrait_image
        if cached is None or cached[0] is not self.portrait:
            image = self.portrait
            if image.get_size() != slot.size:
                try:
                    image = pygame.transform.smoothscale(image, slot.size)
                except ValueError:  # smoothscale takes 24- and 32-bit images only
                    image = pygame.transform.scale(image, slot.size)
            self._portrait_image = cached = (self.portrait, image)
        surface.blit(cached[1], slot.topleft)
        pygame.draw.rect(surface, parse_color(o.border), slot, width=2)
