"""A one-line text input for what the player says.

Text comes from ``pygame.TEXTINPUT`` events, so keyboard layouts, dead keys and input
methods (Japanese, Chinese, Korean IMEs) all work; the IME's unfinished composition
(``pygame.TEXTEDITING``) is drawn at the caret, underlined, until the IME commits it.
``KEYDOWN`` handles editing: Backspace/Delete (with Ctrl: a word), Left/Right (with Ctrl: a
word), Home/End, Enter submits, Up/Down walk the history, Ctrl+V pastes (through
``pygame.scrap`` where the platform has a clipboard; otherwise nothing happens), Esc lets go
of the focus. While focused it takes the keyboard (the player's WASD does not walk) except
the ``pass_keys`` (F1-F12 by default). Clicking it focuses it; clicking elsewhere unfocuses::

    line = TextInput(pygame.Rect(20, 560, 600, 32), on_submit=lambda text: runtime.say(npc, text))
    line.focus()                        # pygame.key.start_text_input()
    while running:
        for event in pygame.event.get():
            if line.process_event(event):
                continue                # typed into the line, not the game
            ...
        line.update(dt)                 # the caret blinks
        line.draw(screen)
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field

import pygame

from npc_ai.errors import InputError
from npc_ai.pygame.text import load_font
from npc_ai.subtitles.board import parse_color

__all__ = ["InputOptions", "TextInput"]

log = logging.getLogger(__name__)


def _function_keys() -> frozenset[int]:
    return frozenset(getattr(pygame, f"K_F{n}") for n in range(1, 13))


@dataclass(frozen=True, slots=True, kw_only=True)
class InputOptions:
    """How a text input behaves and looks. Build once at the edge."""

    #: Most characters in the line (typed or pasted; the rest is dropped).
    max_length: int = 200
    #: Submitted lines kept for Up/Down.
    history: int = 50
    font_size: int = 20
    padding: int = 6
    #: Seconds the caret is shown, then hidden.
    blink_seconds: float = 0.5
    #: Shown in the empty line while it is not focused.
    placeholder: str = "Say something..."
    text_color: str = "#F2EDE4"
    placeholder_color: str = "#8A8478"
    composition_color: str = "#FFD27F"
    background: str = "#2A2622"
    border: str = "#5A544C"
    focus_border: str = "#FFD27F"
    #: Keys that reach the game even while the input is focused.
    pass_keys: frozenset[int] = field(default_factory=_function_keys)

    def __post_init__(self) -> None:
        for name in (
            "text_color",
            "placeholder_color",
            "composition_color",
            "background",
            "border",
            "focus_border",
        ):
            parse_color(getattr(self, name))
        if self.max_length < 1 or self.history < 0 or self.blink_seconds <= 0:
            raise InputError("need max_length >= 1, history >= 0 and blink_seconds > 0")


def _clean(text: str) -> str:
    """Text fit for one line: line breaks and tabs become spaces, other control
    characters go."""
    text = text.replace("\r\n", " ").replace("\n", " ").replace("\r", " ").replace("\t", " ")
    return "".join(c for c in text if unicodedata.category(c) != "Cc")


def clipboard_text() -> str:
    """The clipboard's text, or ``""`` when there is no clipboard (headless, no window)."""
    get_text = getattr(pygame.scrap, "get_text", None)  # pygame-ce: SDL's clipboard
    try:
        if get_text is not None:
            return str(get_text())
        if not pygame.scrap.get_init():
            pygame.scrap.init()  # needs a window; pygame.error without one
        data = pygame.scrap.get(pygame.SCRAP_TEXT)
    except (pygame.error, NotImplementedError, AttributeError) as exc:
        log.debug("no clipboard to paste from: %s", exc)
        return ""
    if not data:
        return ""
    return data.decode("utf-8", "replace").rstrip("\0")


class TextInput:
    """One line of text the player types. See the module docs for a loop.

    ``on_submit`` is called with each line submitted with Enter (stripped, never empty);
    the lines are also kept for :meth:`take_submitted`.
    """

    def __init__(
        self,
        rect: pygame.Rect | tuple[int, int, int, int],
        options: InputOptions | None = None,
        *,
        font: pygame.font.Font | None = None,
        on_submit: Callable[[str], object] | None = None,
    ) -> None:
        self.rect = pygame.Rect(rect)
        self.options = options or InputOptions()
        self.on_submit = on_submit
        self.text = ""
        #: Caret position, in characters from the start.
        self.caret = 0
        #: The IME's unfinished text (shown at the caret, not yet part of :attr:`text`).
        self.composition = ""
        self.focused = False
        self.history: list[str] = []
        self._font = font
        self._browsing: int | None = None  # index into history while Up/Down browse it
        self._draft = ""
        self._blink = 0.0
        self._submitted: list[str] = []
        self._scroll = 0  # pixels of text hidden at the left

    @property
    def font(self) -> pygame.font.Font:
        if self._font is None:
            self._font = load_font(None, self.options.font_size)
        return self._font

    # -- focus ------------------------------------------------------------------------------

    def focus(self) -> None:
        """Take the keyboard: start SDL's text input (IME) with its window at this line."""
        self.focused = True
        self._blink = 0.0
        try:
            pygame.key.start_text_input()
            pygame.key.set_text_input_rect(self.rect)
        except pygame.error as exc:  # no video system: events can still be fed
            log.debug("no text input to start: %s", exc)

    def blur(self) -> None:
        """Let go of the keyboard; an unfinished composition is dropped."""
        self.focused = False
        self.composition = ""
        try:
            pygame.key.stop_text_input()
        except pygame.error as exc:
            log.debug("no text input to stop: %s", exc)

    # -- editing ----------------------------------------------------------------------------

    def set_text(self, text: str) -> None:
        """Replace the line (cut to ``max_length``); the caret goes to its end."""
        self.text = _clean(text)[: self.options.max_length]
        self.caret = len(self.text)
        self._blink = 0.0

    def insert(self, text: str) -> None:
        """Type ``text`` at the caret (what does not fit ``max_length`` is dropped)."""
        room = self.options.max_length - len(self.text)
        text = _clean(text)[: max(0, room)]
        if text:
            self.text = self.text[: self.caret] + text + self.text[self.caret :]
            self.caret += len(text)
        self._blink = 0.0

    def paste(self) -> None:
        """Insert the clipboard's text, if there is a clipboard."""
        self.insert(clipboard_text())

    def submit(self) -> str | None:
        """Submit the line: returns it (None if blank), keeps it in the history, empties
        the input and calls ``on_submit``."""
        line = self.text.strip()
        self._browsing = None
        if not line:
            return None
        if not self.history or self.history[-1] != line:
            self.history.append(line)
            del self.history[: max(0, len(self.history) - self.options.history)]
        self.set_text("")
        self._submitted.append(line)
        if self.on_submit is not None:
            self.on_submit(line)
        return line

    def take_submitted(self) -> list[str]:
        """The lines submitted since the last call, oldest first."""
        lines, self._submitted = self._submitted, []
        return lines

    # -- the frame --------------------------------------------------------------------------

    def process_event(self, event: pygame.event.Event) -> bool:
        """Handle one pygame event; True if the input used it (the game should not)."""
        if event.type == pygame.MOUSEBUTTONDOWN and event.button == 1:
            if self.rect.collidepoint(event.pos):
                if not self.focused:
                    self.focus()
                self._caret_to_x(event.pos[0])
                return True
            if self.focused:
                self.blur()
            return False
        if not self.focused:
            return False
        if event.type == pygame.TEXTEDITING:
            self.composition = event.text
            return True
        if event.type == pygame.TEXTINPUT:
            self.composition = ""
            self.insert(event.text)
            return True
        if event.type in (pygame.KEYDOWN, pygame.KEYUP):
            if event.key in self.options.pass_keys:
                return False
            if event.type == pygame.KEYDOWN and not self.composition:
                self._key(event.key, event.mod)  # while composing, keys belong to the IME
            return True
        return False

    def update(self, dt: float) -> None:
        """Advance the caret's blink by ``dt`` seconds."""
        self._blink += dt

    @property
    def caret_visible(self) -> bool:
        """Whether the caret shows this frame (it blinks while focused)."""
        period = self.options.blink_seconds
        return self.focused and self._blink % (2 * period) < period

    def draw(self, surface: pygame.Surface) -> None:
        """Draw the box, the text (scrolled to keep the caret in view), the composition
        and the caret."""
        o = self.options
        font = self.font
        pygame.draw.rect(surface, parse_color(o.background), self.rect)
        border = o.focus_border if self.focused else o.border
        pygame.draw.rect(surface, parse_color(border), self.rect, width=2)
        inner = self.rect.inflate(-2 * o.padding, -2 * o.padding)
        baseline = inner.y + (inner.height - font.get_height()) // 2
        if not self.text and not self.composition and not self.focused:
            if o.placeholder:
                hint = font.render(o.placeholder, True, parse_color(o.placeholder_color))
                self._blit_clipped(surface, hint, (inner.x, baseline), inner)
            return
        before = self.text[: self.caret]
        caret_x = font.size(before)[0] + font.size(self.composition)[0]
        if caret_x - self._scroll > inner.width - 2:
            self._scroll = caret_x - inner.width + 2
        elif caret_x - self._scroll < 0:
            self._scroll = caret_x
        x = inner.x - self._scroll
        # The composition sits at the caret, between the text before and after it.
        color = parse_color(o.text_color)
        after = self.text[self.caret :]
        if before:
            self._blit_clipped(surface, font.render(before, True, color), (x, baseline), inner)
        if after:
            right_x = x + caret_x
            self._blit_clipped(surface, font.render(after, True, color), (right_x, baseline), inner)
        if self.composition:
            comp_x = x + font.size(before)[0]
            color = parse_color(o.composition_color)
            comp = font.render(self.composition, True, color)
            self._blit_clipped(surface, comp, (comp_x, baseline), inner)
            under = baseline + font.get_ascent() + 2
            pygame.draw.line(surface, color, (comp_x, under), (comp_x + comp.get_width(), under), 1)
        if self.caret_visible:
            cx = x + caret_x
            if inner.left <= cx <= inner.right:
                top, bottom = baseline, baseline + font.get_height()
                pygame.draw.line(surface, parse_color(o.text_color), (cx, top), (cx, bottom), 2)

    # -- keys -------------------------------------------------------------------------------

    def _key(self, key: int, mod: int) -> None:
        ctrl = bool(mod & (pygame.KMOD_CTRL | pygame.KMOD_META))
        self._blink = 0.0
        if key in (pygame.K_RETURN, pygame.K_KP_ENTER):
            self.submit()
        elif key == pygame.K_ESCAPE:
            self.blur()
        elif key == pygame.K_BACKSPACE and self.caret:
            start = self._word_left() if ctrl else self.caret - 1
            self.text = self.text[:start] + self.text[self.caret :]
            self.caret = start
        elif key == pygame.K_DELETE and self.caret < len(self.text):
            end = self._word_right() if ctrl else self.caret + 1
            self.text = self.text[: self.caret] + self.text[end:]
        elif key == pygame.K_LEFT:
            self.caret = self._word_left() if ctrl else max(0, self.caret - 1)
        elif key == pygame.K_RIGHT:
            self.caret = self._word_right() if ctrl else min(len(self.text), self.caret + 1)
        elif key == pygame.K_HOME:
            self.caret = 0
        elif key == pygame.K_END:
            self.caret = len(self.text)
        elif key == pygame.K_UP:
            self._browse(-1)
        elif key == pygame.K_DOWN:
            self._browse(+1)
        elif key == pygame.K_v and ctrl:
            self.paste()

    def _browse(self, step: int) -> None:
        if not self.history:
            return
        if self._browsing is None:
            if step > 0:
                return
            self._draft = self.text
            self._browsing = len(self.history)
        index = self._browsing + step
        if index < 0:
            return
        if index >= len(self.history):
            self._browsing = None
            self.set_text(self._draft)
            return
        self._browsing = index
        self.set_text(self.history[index])

    def _word_left(self) -> int:
        i = self.caret
        while i and self.text[i - 1] == " ":
            i -= 1
        while i and self.text[i - 1] != " ":
            i -= 1
        return i

    def _word_right(self) -> int:
        i, n = self.caret, len(self.text)
        while i < n and self.text[i] == " ":
            i += 1
        while i < n and self.text[i] != " ":
            i += 1
        return i

    def _caret_to_x(self, x: int) -> None:
        offset = x - (self.rect.x + self.options.padding) + self._scroll
        font = self.font
        best = 0
        for i in range(len(self.text) + 1):
            if font.size(self.text[:i])[0] <= offset:
                best = i
        self.caret = best

    @staticmethod
    def _blit_clipped(
        surface: pygame.Surface, image: pygame.Surface, at: tuple[int, int], clip: pygame.Rect
    ) -> None:
        previous = surface.get_clip()
        surface.set_clip(clip.clip(previous))
        surface.blit(image, at)
        surface.set_clip(previous)
