"""Text drawing the kit shares: word wrap, the default font, outlined caption rows.

The caption window (:mod:`npc_ai.pygame.caption_window`) and the in-game caption strip
(:mod:`npc_ai.pygame.caption_strip`) draw the same caption rows, and the bubble and the panel
wrap text the same way; this is where that lives. pygame is imported when a function needs
it, not when this module is imported (the subtitles command imports the window's module
without opening a window).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

from npc_ai.errors import OverlayError
from npc_ai.subtitles.board import BoardLine, OverlayStyle, parse_color

if TYPE_CHECKING:
    import pygame

__all__ = ["OutlinedText", "blit_rows", "board_rows", "load_font", "wrap_lines", "wrap_text"]

Color = tuple[int, int, int]


def wrap_text(text: str, fits: Callable[[str], bool]) -> list[str]:
    """Break ``text`` into rows at spaces so that each row ``fits``; an overlong word is cut."""
    rows: list[str] = []
    row = ""
    for word in text.split():
        candidate = f"{row} {word}" if row else word
        if fits(candidate):
            row = candidate
            continue
        if row:
            rows.append(row)
        while not fits(word) and len(word) > 1:
            cut = len(word) - 1
            while cut > 1 and not fits(word[:cut]):
                cut -= 1
            rows.append(word[:cut])
            word = word[cut:]
        row = word
    if row:
        rows.append(row)
    return rows


def wrap_lines(text: str, font: pygame.font.Font, width: int) -> list[str]:
    """``text`` wrapped to ``width`` pixels in ``font``, keeping its own line breaks."""
    fits: Callable[[str], bool] = lambda t: font.size(t)[0] <= width  # noqa: E731
    rows: list[str] = []
    for paragraph in text.split("\n"):
        rows.extend(wrap_text(paragraph, fits))
    return rows


def load_font(name: str | None, size: int) -> pygame.font.Font:
    """A font ``size`` pixels high: pygame's default font for ``None``, else a font file
    (.ttf/.otf) or an installed font's name (an unknown name falls back to the default).

    A bad font file is an :class:`~npc_ai.errors.OverlayError` naming it.
    """
    import pygame as pg

    if not pg.font.get_init():
        pg.font.init()
    # pygame's default font (``Font(None, n)``) is drawn at 0.6875 of the size asked for;
    # the file itself gives the full height (48 -> 48 px rather than 33 px).
    default = os.path.join(os.path.dirname(pg.__file__), pg.font.get_default_font())
    if name is None:
        return pg.font.Font(default, size)
    if os.path.isfile(name):
        try:
            font = pg.font.Font(name, size)
            font.size("Ag")  # pygame hands back a broken font for a bad file; this raises
            return font
        except (pg.error, OSError) as exc:
            raise OverlayError(f"cannot load font file {name}: {exc}") from exc
    found = pg.font.match_font(name)
    if found is None:
        import logging

        logging.getLogger(__name__).warning(
            "no installed font named %r; using the default font", name
        )
        return pg.font.Font(default, size)
    return pg.font.Font(found, size)


def _disc_offsets(radius: int) -> list[tuple[int, int]]:
    """The points of a disc of ``radius`` around (0, 0) (slightly rounded out)."""
    return [
        (dx, dy)
        for dx in range(-radius, radius + 1)
        for dy in range(-radius, radius + 1)
        if dx * dx + dy * dy <= radius * radius + radius
    ]


class OutlinedText:
    """Rows of text with an outline, as captions are drawn, cached by (text, colour).

    ``background``: rows are composed on that flat colour and kept opaque (the caption
    window's chroma key: copying opaque rows is cheaper than blending); ``None``: rows
    have per-pixel alpha, to draw over a game picture.
    """

    def __init__(
        self,
        font: pygame.font.Font,
        *,
        outline_color: str,
        outline_width: int,
        antialias: bool = True,
        background: str | None = None,
    ) -> None:
        self.font = font
        self.outline_width = outline_width
        self.antialias = antialias
        self._outline = parse_color(outline_color)
        self._background = None if background is None else parse_color(background)
        self._disc: pygame.mask.Mask | None = None
        self._cache: dict[tuple[str, str], pygame.Surface] = {}

    @property
    def row_height(self) -> int:
        """Pixels from one row's top to the next one's."""
        return int(self.font.get_linesize()) + 2 * self.outline_width

    def rows(self, wanted: Sequence[tuple[str, str]]) -> list[pygame.Surface]:
        """An image for each (text, colour); the cache keeps only these afterwards."""
        cache = {key: self._cache[key] for key in wanted if key in self._cache}
        for key in wanted:
            if key not in cache:
                cache[key] = self.render(*key)
        self._cache = cache
        return [cache[key] for key in wanted]

    def clear(self) -> None:
        """Forget the cached rows."""
        self._cache.clear()

    def render(self, text: str, color: str) -> pygame.Surface:
        """One row: ``text`` filled with ``color`` over its outline."""
        import pygame as pg

        font = self.font
        r = self.outline_width
        fill = font.render(text, self.antialias, parse_color(color))
        size = (fill.get_width() + 2 * r, fill.get_height() + 2 * r)
        if self._background is not None:
            image = pg.Surface(size)
            if pg.display.get_surface() is not None:
                image = image.convert()
            image.fill(self._background)
        else:
            image = pg.Surface(size, pg.SRCALPHA)
        if r:
            if self._disc is None:
                self._disc = pg.mask.Mask((2 * r + 1, 2 * r + 1))
                for dx, dy in _disc_offsets(r):
                    self._disc.set_at((r + dx, r + dy))
            # The outline is the glyphs' shape widened by a disc of the outline's radius (one
            # mask convolution, ten times faster than blitting the glyphs at every offset),
            # drawn in the outline colour under the fill: a stroke pygame's fonts do not offer.
            # The shape comes from a plain (not antialiased) rendering, whose colour key gives
            # a mask three times faster than per-pixel alpha; the disc covers the soft edge.
            plain = fill if not self.antialias else font.render(text, False, "white")
            shape = pg.mask.from_surface(plain).convolve(self._disc)
            shape.to_surface(image, setcolor=(*self._outline, 255), unsetcolor=None)
        image.blit(fill, (r, r))
        return image


def board_rows(
    lines: Iterable[BoardLine], style: OverlayStyle, fits: Callable[[str], bool]
) -> list[tuple[str, str]]:
    """The board's lines wrapped into (row, colour) pairs, the newest ``style.max_lines``."""
    wanted: list[tuple[str, str]] = []
    for line in lines:
        color = style.color_for(line.kind)
        wanted.extend((row, color) for row in wrap_text(line.text, fits))
    return wanted[-style.max_lines :]


def blit_rows(
    surface: pygame.Surface,
    rows: Sequence[pygame.Surface],
    area: pygame.Rect,
    *,
    row_height: int,
    bottom: bool,
) -> pygame.Rect:
    """Draw ``rows`` centred in ``area``, against its bottom or its top; return where."""
    import pygame as pg

    top = area.bottom - len(rows) * row_height if bottom else area.top
    painted = pg.Rect(area.centerx, top, 0, 0)
    for i, image in enumerate(rows):
        x = area.x + (area.width - image.get_width()) // 2
        drawn = surface.blit(image, (x, top + i * row_height))
        painted = drawn if not painted.width else painted.union(drawn)
    return painted
