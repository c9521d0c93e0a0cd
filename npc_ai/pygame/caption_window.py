"""A pygame window showing live captions, for OBS Window Capture.

Outlined text on a chroma-key background (default pure green, ``#00FF00``): in OBS add a
Window Capture of this window and a Chroma Key filter. On Windows, ``background="transparent"``
makes the key colour see-through on the desktop itself (a layered window); elsewhere SDL has no
per-pixel transparent windows, so it falls back to the chroma key with a warning.

pygame is imported only when the window opens. The loop drains events each frame and never
blocks on the caption source::

    with CaptionWindow(WindowOptions(width=1600)) as window:
        while window.frame(session.poll()):   # input, update, draw, flip, tick
            pass

or simply ``window.run(session.poll, until=lambda: session.done)``. Esc or closing the
window ends the loop (``frame`` returns False).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from npc_ai.errors import InputError, OverlayError
from npc_ai.pygame.text import OutlinedText, blit_rows, board_rows, load_font, wrap_text
from npc_ai.subtitles.board import BoardLine, BoardOptions, CaptionBoard, OverlayStyle, parse_color
from npc_ai.subtitles.speech.events import SubtitleEvent

if TYPE_CHECKING:
    import pygame

__all__ = ["CaptionWindow", "WindowOptions", "wrap_text"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class WindowOptions:
    """The caption window: size, place, background and look. Build once at the edge."""

    style: OverlayStyle = field(default_factory=OverlayStyle)
    width: int = 1280
    #: ``None``: tall enough for ``style.max_lines`` rows plus the margins.
    height: int | None = None
    #: Window position on the desktop; ``None`` lets the system place it.
    x: int | None = None
    y: int | None = None
    #: ``"chroma"``: fill with ``chroma_key``; ``"transparent"``: make that colour see-through
    #: where the platform allows it (Windows), else chroma.
    background: Literal["chroma", "transparent"] = "chroma"
    chroma_key: str = "#00FF00"
    #: Smooth glyph edges. Off gives hard edges that a colour key removes cleanly.
    antialias: bool = True
    borderless: bool = False
    fps: int = 30
    title: str = "npc-ai captions"

    def __post_init__(self) -> None:
        parse_color(self.chroma_key)
        if self.width < 64 or (self.height is not None and self.height < 32):
            raise InputError(f"window too small: {self.width}x{self.height}")
        if not 1 <= self.fps <= 240:
            raise InputError(f"fps must be 1 to 240, not {self.fps}")
        if self.background not in ("chroma", "transparent"):
            raise InputError(
                f"background must be 'chroma' or 'transparent', not {self.background!r}"
            )


class CaptionWindow:
    """A window drawing a :class:`~npc_ai.subtitles.board.CaptionBoard`. See the module docs."""

    def __init__(
        self,
        options: WindowOptions | None = None,
        *,
        board: CaptionBoard | None = None,
        board_options: BoardOptions | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.options = options or WindowOptions()
        self.board = board or CaptionBoard(board_options)
        self._clock = clock
        self._pg: Any = None
        self._screen: pygame.Surface | None = None
        self._font: pygame.font.Font | None = None
        self._text: OutlinedText | None = None
        self._tick: pygame.time.Clock | None = None
        self._drawn = -1
        self._painted: pygame.Rect | None = None  # where text was drawn; None: repaint all

    # -- life cycle -----------------------------------------------------------------------

    @property
    def size(self) -> tuple[int, int]:
        """The window size in pixels."""
        o = self.options
        if o.height is not None:
            return (o.width, o.height)
        s = o.style
        row = int(s.font_size * 1.25) + 2 * s.outline_width
        return (o.width, s.max_lines * row + 2 * s.margin)

    @property
    def surface(self) -> pygame.Surface:
        """The window's surface (for tests and screenshots); the window must be open."""
        if self._screen is None:
            raise OverlayError("the caption window is not open")
        return self._screen

    def open(self) -> None:
        """Open the window. Raises :class:`OverlayError` when there is no display."""
        if self._screen is not None:
            return
        os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")  # keeps stdout for captions
        import pygame

        o = self.options
        if o.x is not None and o.y is not None:
            # SDL reads the first window's place from its environment; pygame has no argument.
            os.environ["SDL_VIDEO_WINDOW_POS"] = f"{o.x},{o.y}"
        try:
            pygame.display.init()
            driver = pygame.display.get_driver()
            # With no display SDL falls back to an invisible window; that is only wanted when
            # asked for by name (headless tests and screenshots set SDL_VIDEODRIVER).
            if driver in ("offscreen", "dummy") and os.environ.get("SDL_VIDEODRIVER") != driver:
                raise pygame.error("no display found")
            pygame.font.init()
            flags = pygame.NOFRAME if o.borderless else 0
            screen = pygame.display.set_mode(self.size, flags)
        except pygame.error as exc:
            pygame.display.quit()
            raise OverlayError(
                f"cannot open the caption window: {exc} (is there a display? set DISPLAY, or "
                "use the browser page, --web, instead)"
            ) from exc
        pygame.display.set_caption(o.title)
        self._pg = pygame
        self._screen = screen
        s = o.style
        self._font = load_font(s.font, s.font_size)
        self._text = OutlinedText(
            self._font,
            outline_color=s.outline_color,
            outline_width=s.outline_width,
            antialias=o.antialias,
            background=o.chroma_key,
        )
        self._tick = pygame.time.Clock()
        if o.background == "transparent":
            self._make_transparent(pygame)
        self._drawn = -1
        self._painted = None
        log.info("caption window open, %dx%d", *self.size)

    def close(self) -> None:
        """Close the window (pygame's display only; the caller's own pygame stays)."""
        if self._screen is None:
            return
        self._screen = None
        self._font = None
        self._text = None
        self._pg.display.quit()

    def __enter__(self) -> CaptionWindow:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the frame ------------------------------------------------------------------------

    def handle_input(self) -> bool:
        """Drain the window's input events; False once Esc is pressed or the window closed."""
        pg = self._pg
        running = True
        for event in pg.event.get():
            if event.type == pg.QUIT or (event.type == pg.KEYDOWN and event.key == pg.K_ESCAPE):
                running = False
            elif event.type in (pg.WINDOWEXPOSED, pg.VIDEOEXPOSE):
                self._drawn = -1
                self._painted = None
        return running

    def update(self, events: Iterable[SubtitleEvent]) -> bool:
        """Feed caption events to the board; True if the lines changed."""
        return self.board.update(events, self._clock())

    def draw(self) -> None:
        """Redraw and flip if the board changed since the last draw."""
        if self._drawn == self.board.version:
            return
        screen = self.surface
        o = self.options
        key = parse_color(o.chroma_key)
        if self._painted is None:
            screen.fill(key)
        elif self._painted.width and self._painted.height:
            screen.fill(key, self._painted)  # only where the last rows were
        rows = self._layout(self.board.lines)
        s = o.style
        area = self._pg.Rect(0, s.margin, screen.get_width(), screen.get_height() - 2 * s.margin)
        painted = blit_rows(
            screen, rows, area, row_height=self._row_height(), bottom=s.position == "bottom"
        )
        self._painted = painted
        self._pg.display.flip()
        self._drawn = self.board.version

    def frame(self, events: Iterable[SubtitleEvent] = ()) -> bool:
        """One frame: input, update, draw, wait for the frame rate. False: the user closed it."""
        running = self.handle_input()
        self.update(events)
        self.draw()
        if self._tick is not None:
            self._tick.tick(self.options.fps)
        return running

    def run(
        self,
        poll: Callable[[], Iterable[SubtitleEvent]],
        *,
        until: Callable[[], bool] | None = None,
    ) -> bool:
        """Loop frames, feeding ``poll()`` (which must not block) until the user closes the
        window (returns False) or ``until()`` is true (returns True)."""
        self.open()
        while self.frame(poll()):
            if until is not None and until():
                self.frame(poll())  # show what the last poll brought
                return True
        return False

    # -- drawing --------------------------------------------------------------------------

    def _row_height(self) -> int:
        assert self._text is not None
        return self._text.row_height

    def _layout(self, lines: Iterable[BoardLine]) -> list[pygame.Surface]:
        text = self._text
        assert text is not None
        s = self.options.style
        room = self.surface.get_width() - 2 * s.margin - 2 * s.outline_width
        return text.rows(board_rows(lines, s, lambda t: text.font.size(t)[0] <= room))

    def _make_transparent(self, pg: Any) -> None:
        if sys.platform != "win32":
            log.warning(
                "transparent window backgrounds need Windows; showing the chroma key %s "
                "instead (use a Chroma Key filter in OBS)",
                self.options.chroma_key,
            )
            return
        import ctypes

        r, g, b = parse_color(self.options.chroma_key)
        hwnd = pg.display.get_wm_info()["window"]
        user32 = ctypes.windll.user32  # type: ignore[attr-defined]
        gwl_exstyle, ws_ex_layered, lwa_colorkey = -20, 0x80000, 0x1
        style = user32.GetWindowLongW(hwnd, gwl_exstyle)
        user32.SetWindowLongW(hwnd, gwl_exstyle, style | ws_ex_layered)
        if not user32.SetLayeredWindowAttributes(hwnd, r | (g << 8) | (b << 16), 0, lwa_colorkey):
            log.warning("could not make the caption window transparent; chroma key stays")
