"""A small HUD: frame rate, frame time p99, reply tokens a second, and the runtime's cost.

- **FPS** and **frame p99** (ms): over the last ``frames`` frames, from the ``dt`` given to
  :meth:`Hud.update`; the p99 is the nearest-rank 99th percentile.
- **tok/s**: the replies' text delivered in the last ``rate_seconds``, in tokens estimated
  as characters / 4 (the runtime's events carry text, not tokens, and the reply's
  clean-up may merge pieces, so counting events would undercount).
- **npc-ai ms**: the time spent inside ``Runtime.update()`` on the game thread, per frame
  (mean and max over the last ``frames`` frames). The HUD measures it by making the call
  itself: :meth:`Hud.poll` calls ``runtime.update(dt)`` and returns its events.

F3 (``toggle_key``) shows and hides it::

    hud = Hud()
    while running:
        for event in pygame.event.get():
            hud.process_event(event)
        for event in hud.poll(runtime, dt):     # runtime.update(dt), timed
            ...
        hud.update(dt)
        hud.draw(screen)
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

import pygame

from npc_ai.errors import InputError
from npc_ai.pygame.text import load_font
from npc_ai.runtime.events import Event, ReplyDelta
from npc_ai.subtitles.board import parse_color

__all__ = ["Hud", "HudOptions", "Updates"]


class Updates(Protocol):
    """What :meth:`Hud.poll` calls: ``Runtime.update`` (or a fake of it)."""

    def update(self, dt: float = ...) -> Sequence[Event]: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class HudOptions:
    """What the HUD measures over and how it looks. Build once at the edge."""

    #: Frames the FPS, the p99 and the runtime's cost are taken over.
    frames: int = 120
    #: Seconds the tokens a second are taken over.
    rate_seconds: float = 2.0
    #: Shown from the start.
    visible: bool = True
    #: The key that shows and hides it (None: none).
    toggle_key: int | None = pygame.K_F3
    font_size: int = 16
    #: Top-left corner on the screen.
    position: tuple[int, int] = (8, 8)
    text_color: str = "#E8FFE8"
    background: str = "#000000"
    opacity: int = 160

    def __post_init__(self) -> None:
        parse_color(self.text_color)
        parse_color(self.background)
        if self.frames < 1 or self.rate_seconds <= 0 or not 0 <= self.opacity <= 255:
            raise InputError("need frames >= 1, rate_seconds > 0 and opacity 0 to 255")


class Hud:
    """Frame and runtime numbers in a corner. See the module docs for a loop.

    ``clock``: seconds, for timing ``runtime.update`` (a fake one in tests).
    """

    def __init__(
        self,
        options: HudOptions | None = None,
        *,
        font: pygame.font.Font | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.options = options or HudOptions()
        self.visible = self.options.visible
        self._font = font
        self._clock = clock
        self._frames: deque[float] = deque(maxlen=self.options.frames)
        self._runtime: deque[float] = deque(maxlen=self.options.frames)
        self._pending_ms = 0.0  # runtime time measured this frame so far
        self._chars: deque[tuple[float, int]] = deque()
        self._now = 0.0

    # -- measuring --------------------------------------------------------------------------

    def poll(self, runtime: Updates, dt: float = 0.0) -> list[Event]:
        """``runtime.update(dt)``, timed and counted; returns its events."""
        started = self._clock()
        events = list(runtime.update(dt))
        self._pending_ms += (self._clock() - started) * 1000
        self.count(events)
        return events

    def count(self, events: Iterable[Event]) -> None:
        """Count the reply text in ``events`` (:meth:`poll` does it for its own)."""
        chars = sum(len(e.text) for e in events if isinstance(e, ReplyDelta))
        if chars:
            self._chars.append((self._now, chars))

    def handle(self, event: Event) -> bool:
        """Observe one event (for a router); never takes it: False."""
        self.count((event,))
        return False

    def process_event(self, event: pygame.event.Event) -> bool:
        """The toggle key shows or hides the HUD."""
        key = self.options.toggle_key
        if key is not None and event.type == pygame.KEYDOWN and event.key == key:
            self.visible = not self.visible
            return True
        return False

    def update(self, dt: float) -> None:
        """End of a frame that took ``dt`` seconds."""
        self._now += dt
        self._frames.append(dt)
        self._runtime.append(self._pending_ms)
        self._pending_ms = 0.0
        horizon = self._now - self.options.rate_seconds
        while self._chars and self._chars[0][0] < horizon:
            self._chars.popleft()

    # -- the numbers ------------------------------------------------------------------------

    @property
    def fps(self) -> float:
        total = sum(self._frames)
        return len(self._frames) / total if total > 0 else 0.0

    @property
    def frame_p99_ms(self) -> float:
        """The nearest-rank 99th percentile of the frame times, in milliseconds."""
        if not self._frames:
            return 0.0
        ordered = sorted(self._frames)
        return ordered[math.ceil(0.99 * len(ordered)) - 1] * 1000

    @property
    def tokens_per_second(self) -> float:
        """Reply tokens a second (characters / 4) over the last ``rate_seconds``."""
        span = min(self.options.rate_seconds, self._now)
        if span <= 0:
            return 0.0
        return sum(chars for _, chars in self._chars) / 4 / span

    @property
    def runtime_ms(self) -> float:
        """Mean time inside ``runtime.update`` a frame, in milliseconds."""
        return sum(self._runtime) / len(self._runtime) if self._runtime else 0.0

    @property
    def runtime_ms_max(self) -> float:
        return max(self._runtime, default=0.0)

    def lines(self) -> list[str]:
        """The HUD's text."""
        return [
            f"FPS {self.fps:5.1f}   frame p99 {self.frame_p99_ms:5.1f} ms",
            f"replies {self.tokens_per_second:5.1f} tok/s",
            f"npc-ai {self.runtime_ms:4.2f} ms/frame (max {self.runtime_ms_max:4.2f})",
        ]

    # -- drawing ----------------------------------------------------------------------------

    @property
    def font(self) -> pygame.font.Font:
        if self._font is None:
            self._font = load_font(None, self.options.font_size)
        return self._font

    def draw(self, surface: pygame.Surface) -> pygame.Rect | None:
        """Draw in the corner if visible; return where."""
        if not self.visible:
            return None
        o = self.options
        color = parse_color(o.text_color)
        rows = [self.font.render(line, True, color) for line in self.lines()]
        width = max(r.get_width() for r in rows) + 8
        height = sum(r.get_height() for r in rows) + 8
        back = pygame.Surface((width, height), pygame.SRCALPHA)
        back.fill((*parse_color(o.background), o.opacity))
        y = 4
        for row in rows:
            back.blit(row, (4, y))
            y += row.get_height()
        return surface.blit(back, o.position)
