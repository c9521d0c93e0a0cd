"""Caption overlays for streams: a pygame window and a page for an OBS Browser Source.

Both draw from a :class:`CaptionBoard` (``state``), the pure logic of which caption lines are
on screen. The window (``window``) imports pygame only when it opens; the page (``web``) is
served by the standard library on 127.0.0.1.
"""

from __future__ import annotations

from npc_ai.overlay.state import (
    BoardLine,
    BoardOptions,
    CaptionBoard,
    LineKind,
    OverlayStyle,
    parse_color,
)
from npc_ai.overlay.web import CaptionServer, WebOptions
from npc_ai.overlay.window import CaptionWindow, WindowOptions

__all__ = [
    "BoardLine",
    "BoardOptions",
    "CaptionBoard",
    "CaptionServer",
    "CaptionWindow",
    "LineKind",
    "OverlayStyle",
    "WebOptions",
    "WindowOptions",
    "parse_color",
]
