"""The game's own screen furniture: the Esc menu, messages and the status bar.

Each has the kit's frame methods (``process_event`` / ``update`` / ``draw``) and caches
what it renders, so a frame costs the same whether anything changed or not.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pygame

from npc_ai.pygame import load_font

__all__ = ["Menu", "MessageLog", "StatusBar"]

INK = (245, 240, 225)
SHADE = (20, 24, 28, 190)


class _TextCache:
    """Rendered text, made once per (text, colour)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._font: pygame.font.Font | None = None
        self._images: dict[tuple[str, tuple[int, int, int]], pygame.Surface] = {}

    @property
    def font(self) -> pygame.font.Font:
        if self._font is None:
            self._font = load_font(None, self.size)
        return self._font

    def render(self, text: str, color: tuple[int, int, int] = INK) -> pygame.Surface:
        key = (text, color)
        image = self._images.get(key)
        if image is None:
            if len(self._images) > 256:
                self._images.clear()
            image = self.font.render(text, True, color)
            self._images[key] = image
        return image


class Menu:
    """The Esc menu: a short list of choices, walked with the arrows, taken with Enter."""

    def __init__(self, items: Sequence[tuple[str, Callable[[], object]]]) -> None:
        self.items = list(items)
        self.open = False
        self.selected = 0
        self._text = _TextCache(28)

    def show(self) -> None:
        self.open, self.selected = True, 0

    def process_event(self, event: pygame.event.Event) -> bool:
        """While open, the menu takes every key."""
        if not self.open or event.type not in (pygame.KEYDOWN, pygame.KEYUP):
            return False
        if event.type == pygame.KEYDOWN:
            if event.key == pygame.K_ESCAPE:
                self.open = False
            elif event.key in (pygame.K_UP, pygame.K_w):
                self.selected = (self.selected - 1) % len(self.items)
            elif event.key in (pygame.K_DOWN, pygame.K_s):
                self.selected = (self.selected + 1) % len(self.items)
            elif event.key in (pygame.K_RETURN, pygame.K_KP_ENTER, pygame.K_SPACE):
                self.open = False
                self.items[self.selected][1]()
        return True

    def update(self, dt: float) -> None:
        del dt

    def draw(self, surface: pygame.Surface) -> None:
        if not self.open:
            return
        rows = [self._text.render(label) for label, _ in self.items]
        height = self._text.font.get_linesize()
        box = pygame.Rect(0, 0, 260, height * len(rows) + 60)
        box.center = surface.get_rect().center
        shade = pygame.Surface(box.size, pygame.SRCALPHA)
        shade.fill(SHADE)
        surface.blit(shade, box)
        pygame.draw.rect(surface, INK, box, 2, border_radius=6)
        surface.blit(self._text.render("Thornvale"), (box.x + 20, box.y + 12))
        for i, image in enumerate(rows):
            y = box.y + 24 + height * (i + 1)
            if i == self.selected:
                pygame.draw.rect(surface, (90, 110, 90), (box.x + 10, y - 2, box.w - 20, height))
            surface.blit(image, (box.x + 30, y))


@dataclass(slots=True)
class _Message:
    text: str
    left: float


class MessageLog:
    """Short messages (what an action did, a save, a problem) that fade after a while."""

    def __init__(self, *, seconds: float = 6.0, keep: int = 4) -> None:
        self.seconds = seconds
        self.keep = keep
        self.messages: list[_Message] = []
        self._text = _TextCache(20)

    def add(self, text: str) -> None:
        self.messages.append(_Message(text, self.seconds))
        del self.messages[: -self.keep]

    def process_event(self, event: pygame.event.Event) -> bool:
        del event
        return False

    def update(self, dt: float) -> None:
        for message in self.messages:
            message.left -= dt
        self.messages = [m for m in self.messages if m.left > 0]

    def draw(self, surface: pygame.Surface) -> None:
        """Each message on a dark band of its own width, so it stays readable over the
        village's labels and roofs."""
        y = 32
        for message in self.messages:
            image = self._text.render(message.text[:110])
            alpha = min(255, int(255 * message.left))
            band = pygame.Surface((image.get_width() + 12, image.get_height() + 4), pygame.SRCALPHA)
            band.fill(SHADE)
            band.blit(image, (6, 2))
            band.set_alpha(alpha)
            surface.blit(band, (6, y))
            y += band.get_height() + 2


class StatusBar:
    """The top line: what the player carries, the language, and the keys."""

    def __init__(self) -> None:
        self.text = ""
        self._text = _TextCache(18)
        self._bar: pygame.Surface | None = None

    def set(self, text: str) -> None:
        self.text = text

    def draw(self, surface: pygame.Surface) -> None:
        if self._bar is None or self._bar.get_width() != surface.get_width():
            self._bar = pygame.Surface((surface.get_width(), 28), pygame.SRCALPHA)
            self._bar.fill(SHADE)
        surface.blit(self._bar, (0, 0))
        surface.blit(self._text.render(self.text[:160]), (10, 6))
