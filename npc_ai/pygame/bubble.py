"""A speech bubble above a sprite, showing a reply as it streams in.

Text is word-wrapped to ``max_width``; only the newest ``max_lines`` rows show, so a long
reply scrolls up as it grows. Some seconds after the reply ends the bubble fades out. With a
structured reply (``ReplyDone.structured``) it shows the NPC's emotion under the text, as a
coloured dot and the word.

The anchor is where the bubble's tail points: a fixed ``(x, y)``, or a function giving the
sprite's anchor each frame (the bubble follows a walking NPC)::

    bubble = SpeechBubble(lambda: (smith_sprite.rect.centerx, smith_sprite.rect.top), npc=smith)
    while running:
        for event in pygame.event.get():
            bubble.process_event(event)
        for event in runtime.update(dt):
            bubble.handle(event)            # ReplyDelta, ReplyDone, ReplyError of its NPC
        bubble.update(dt)
        bubble.draw(screen)

Drawing never waits for anything: the bubble only holds text it was given.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass

import pygame

from npc_ai.errors import InputError
from npc_ai.pygame.text import load_font, wrap_lines
from npc_ai.runtime.events import Event, ReplyDelta, ReplyDone, ReplyError
from npc_ai.subtitles.board import parse_color

__all__ = ["EMOTION_COLORS", "BubbleOptions", "SpeechBubble", "emotion_color"]

Anchor = tuple[int, int] | Callable[[], tuple[int, int]]

#: The dot's colour for common emotions; others get a steady colour made from the word.
EMOTION_COLORS: dict[str, str] = {
    "calm": "#7FB3D5",
    "happy": "#F4D03F",
    "amused": "#F5B041",
    "proud": "#AF7AC5",
    "satisfied": "#58D68D",
    "sad": "#5D6D7E",
    "tired": "#99A3A4",
    "angry": "#E74C3C",
    "annoyed": "#EB984E",
    "stern": "#A04000",
    "afraid": "#8E44AD",
    "alarmed": "#C0392B",
    "surprised": "#48C9B0",
    "suspicious": "#7D6608",
}


def emotion_color(emotion: str) -> tuple[int, int, int]:
    """The colour of ``emotion``'s dot: from :data:`EMOTION_COLORS`, else from the word."""
    known = EMOTION_COLORS.get(emotion.lower())
    if known is not None:
        return parse_color(known)
    h = zlib.crc32(emotion.lower().encode())
    return (80 + h % 160, 80 + (h >> 8) % 160, 80 + (h >> 16) % 160)


@dataclass(frozen=True, slots=True, kw_only=True)
class BubbleOptions:
    """How a speech bubble looks and when it fades. Build once at the edge."""

    #: Widest text row, in pixels (the bubble adds its padding around it).
    max_width: int = 240
    #: Rows shown at once; older rows scroll off the top.
    max_lines: int = 4
    #: Text height in pixels (pygame's default font unless the bubble is given one).
    font_size: int = 18
    padding: int = 8
    #: Height of the tail pointing at the anchor.
    tail: int = 10
    #: Seconds the bubble stays after the reply ends, then seconds it takes to fade out.
    hold_seconds: float = 4.0
    fade_seconds: float = 0.8
    text_color: str = "#1E1E1E"
    background: str = "#FFFDF5"
    border: str = "#2E2E2E"
    #: Show the emotion of a structured reply under the text.
    show_emotion: bool = True

    def __post_init__(self) -> None:
        for name in ("text_color", "background", "border"):
            parse_color(getattr(self, name))
        if self.max_width < 16 or self.max_lines < 1 or not 6 <= self.font_size <= 200:
            raise InputError(
                "a bubble needs max_width >= 16, max_lines >= 1 and font_size 6 to 200, got "
                f"{self.max_width}, {self.max_lines}, {self.font_size}"
            )
        if self.padding < 0 or self.tail < 0 or self.hold_seconds < 0 or self.fade_seconds < 0:
            raise InputError("padding, tail, hold_seconds and fade_seconds must be 0 or more")


class SpeechBubble:
    """A reply streaming above a sprite. See the module docs for a loop.

    ``npc``: the NPC id whose events :meth:`handle` takes (``None``: any NPC's).
    ``font``: the game's font; by default pygame's default font at ``font_size``.
    """

    def __init__(
        self,
        anchor: Anchor,
        options: BubbleOptions | None = None,
        *,
        npc: str | None = None,
        font: pygame.font.Font | None = None,
    ) -> None:
        self.anchor = anchor
        self.options = options or BubbleOptions()
        self.npc = npc
        #: The whole text so far (rows that scrolled off included).
        self.text = ""
        #: The emotion of the last structured reply, shown under the text.
        self.emotion: str | None = None
        #: The reply id the bubble shows (from the runtime's events), if any.
        self.reply: int | None = None
        #: True once the reply ended; the bubble then fades out.
        self.done = False
        self._font = font
        self._small: pygame.font.Font | None = None
        self._since_done = 0.0
        self._version = 0
        self._wrapped: tuple[int, list[str]] = (-1, [])
        self._image: tuple[int, pygame.Surface] | None = None

    # -- what it shows --------------------------------------------------------------------

    def feed(self, text: str) -> None:
        """Add streamed text. After a finished reply, the bubble starts afresh."""
        if self.done:
            self.clear()
        self.text += text
        self._changed()

    def set_text(self, text: str) -> None:
        """Show ``text`` instead (the bubble stays until :meth:`finish`)."""
        self.text = text
        self.done = False
        self._changed()

    def finish(self, emotion: str | None = None) -> None:
        """The reply ended: show ``emotion`` (if any) and fade out after ``hold_seconds``."""
        self.done = True
        self._since_done = 0.0
        self.emotion = emotion
        self._changed()

    def clear(self) -> None:
        """Show nothing."""
        self.text = ""
        self.emotion = None
        self.reply = None
        self.done = False
        self._changed()

    def handle(self, event: Event) -> bool:
        """Take a runtime event of this bubble's NPC; True if it was one."""
        if self.npc is not None and event.npc != self.npc:
            return False
        if isinstance(event, ReplyDelta):
            if event.reply != self.reply:
                self.clear()
                self.reply = event.reply
            self.feed(event.text)
        elif isinstance(event, ReplyDone):
            self.reply = event.reply
            if event.text:
                self.set_text(event.text)  # the final text is the one that counts
            structured = event.structured
            self.finish(structured.emotion if structured is not None else None)
        elif isinstance(event, ReplyError):
            self.finish()
        else:  # pragma: no cover - the Event union has three members
            return False
        return True

    # -- what a frame needs -----------------------------------------------------------------

    @property
    def font(self) -> pygame.font.Font:
        """The text font (made on first use)."""
        if self._font is None:
            self._font = load_font(None, self.options.font_size)
        return self._font

    @property
    def lines(self) -> list[str]:
        """Every row of the text, wrapped to ``max_width``."""
        if self._wrapped[0] != self._version:
            self._wrapped = (
                self._version,
                wrap_lines(self.text, self.font, self.options.max_width),
            )
        return self._wrapped[1]

    @property
    def visible_lines(self) -> list[str]:
        """The rows on show: the newest ``max_lines``."""
        return self.lines[-self.options.max_lines :]

    @property
    def alpha(self) -> int:
        """Opacity now: 255 until ``hold_seconds`` after the end, then down to 0."""
        o = self.options
        if not self.done or self._since_done <= o.hold_seconds:
            return 255
        if o.fade_seconds == 0:
            return 0
        left = 1 - (self._since_done - o.hold_seconds) / o.fade_seconds
        return max(0, round(255 * left))

    @property
    def visible(self) -> bool:
        """Whether :meth:`draw` draws anything."""
        return bool(self.text.strip() or self.emotion) and self.alpha > 0

    def position(self) -> tuple[int, int]:
        """Where the tail points now."""
        anchor = self.anchor
        return anchor() if callable(anchor) else anchor

    def process_event(self, event: pygame.event.Event) -> bool:
        """A bubble takes no input; always False."""
        del event
        return False

    def update(self, dt: float) -> None:
        """Advance the fade clock by ``dt`` seconds."""
        if self.done:
            self._since_done += dt

    def draw(self, surface: pygame.Surface) -> pygame.Rect | None:
        """Draw onto ``surface`` above the anchor, kept inside it; return where (or None)."""
        if not self.visible:
            return None
        if self._image is None or self._image[0] != self._version:
            self._image = (self._version, self._render())
        image = self._image[1]
        x, y = self.position()
        bounds = surface.get_rect()
        left = min(max(x - image.get_width() // 2, bounds.left), bounds.right - image.get_width())
        top = max(y - image.get_height(), bounds.top)
        image.set_alpha(self.alpha)
        return surface.blit(image, (left, top))

    # -- drawing ----------------------------------------------------------------------------

    def _changed(self) -> None:
        self._version += 1

    def _small_font(self) -> pygame.font.Font:
        if self._small is None:
            self._small = load_font(None, max(6, self.options.font_size * 3 // 4))
        return self._small

    def _render(self) -> pygame.Surface:
        o = self.options
        font = self.font
        rows = [font.render(row, True, parse_color(o.text_color)) for row in self.visible_lines]
        tag: pygame.Surface | None = None
        if o.show_emotion and self.emotion:
            tag = self._emotion_tag(self.emotion)
        width = max([r.get_width() for r in rows] + [tag.get_width() if tag else 0, 24])
        height = len(rows) * font.get_linesize() + (tag.get_height() + 2 if tag else 0)
        body = pygame.Rect(0, 0, width + 2 * o.padding, height + 2 * o.padding)
        image = pygame.Surface((body.width, body.height + o.tail), pygame.SRCALPHA)
        radius = min(10, body.height // 2)
        pygame.draw.rect(image, parse_color(o.background), body, border_radius=radius)
        pygame.draw.rect(image, parse_color(o.border), body, width=2, border_radius=radius)
        if o.tail:
            mid = body.centerx
            tip = [(mid - o.tail, body.bottom - 2), (mid + o.tail, body.bottom - 2)]
            pygame.draw.polygon(image, parse_color(o.background), [*tip, (mid, image.get_height())])
            pygame.draw.line(image, parse_color(o.border), tip[0], (mid, image.get_height() - 1), 2)
            pygame.draw.line(image, parse_color(o.border), tip[1], (mid, image.get_height() - 1), 2)
        y = o.padding
        for row in rows:
            image.blit(row, (o.padding, y))
            y += font.get_linesize()
        if tag is not None:
            image.blit(tag, (o.padding, y + 2))
        return image

    def _emotion_tag(self, emotion: str) -> pygame.Surface:
        small = self._small_font()
        word = small.render(emotion, True, parse_color(self.options.text_color))
        dot = word.get_height() // 2
        tag = pygame.Surface((dot * 2 + 4 + word.get_width(), word.get_height()), pygame.SRCALPHA)
        pygame.draw.circle(tag, emotion_color(emotion), (dot, dot), max(2, dot - 2))
        tag.blit(word, (dot * 2 + 4, 0))
        return tag
