"""The optional pygame kit: the one place in npc_ai that imports pygame.

Widgets a game drops into its loop, each with pygame_gui-style ``process_event(event) ->
bool`` (True: the widget used it), ``update(dt)`` and ``draw(surface)``; none of them
blocks, and none of them calls the runtime (they show the events the game hands them):

- :class:`SpeechBubble`: a streaming reply above a sprite (wraps, scrolls, fades, shows
  the emotion of a structured reply);
- :class:`TextInput`: the player's line (IME-safe, history, paste);
- :class:`DialoguePanel`: name, portrait slot, transcript, and a hosted text input;
- :class:`CaptionStrip`: subtitles and NPC lines as captions at the bottom of the screen;
- :class:`Hud`: FPS, frame time p99, reply tokens a second, the runtime's ms per frame;
- :class:`DialogueView`: polls a ``Runtime`` once a frame and routes its events to them;
- :class:`CaptionWindow`: live captions in their own window, for OBS.

Fonts are pygame's default font unless the game passes its own. docs/PYGAME.md has a
complete loop. Names load on first use: importing this package does not import pygame
(the subtitles command imports the caption window's module without opening a window).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Public name -> the module that defines it.
_EXPORTS: dict[str, str] = {
    "BubbleOptions": "npc_ai.pygame.bubble",
    "SpeechBubble": "npc_ai.pygame.bubble",
    "emotion_color": "npc_ai.pygame.bubble",
    "InputOptions": "npc_ai.pygame.text_input",
    "TextInput": "npc_ai.pygame.text_input",
    "DialoguePanel": "npc_ai.pygame.panel",
    "PanelOptions": "npc_ai.pygame.panel",
    "CaptionStrip": "npc_ai.pygame.caption_strip",
    "StripOptions": "npc_ai.pygame.caption_strip",
    "Hud": "npc_ai.pygame.hud",
    "HudOptions": "npc_ai.pygame.hud",
    "DialogueView": "npc_ai.pygame.view",
    "CaptionWindow": "npc_ai.pygame.caption_window",
    "WindowOptions": "npc_ai.pygame.caption_window",
    "load_font": "npc_ai.pygame.text",
}

__all__ = [
    "BubbleOptions",
    "CaptionStrip",
    "CaptionWindow",
    "DialoguePanel",
    "DialogueView",
    "Hud",
    "HudOptions",
    "InputOptions",
    "PanelOptions",
    "SpeechBubble",
    "StripOptions",
    "TextInput",
    "WindowOptions",
    "emotion_color",
    "load_font",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'npc_ai.pygame' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next look-up is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


if TYPE_CHECKING:
    from npc_ai.pygame.bubble import BubbleOptions, SpeechBubble, emotion_color
    from npc_ai.pygame.caption_strip import CaptionStrip, StripOptions
    from npc_ai.pygame.caption_window import CaptionWindow, WindowOptions
    from npc_ai.pygame.hud import Hud, HudOptions
    from npc_ai.pygame.panel import DialoguePanel, PanelOptions
    from npc_ai.pygame.text import load_font
    from npc_ai.pygame.text_input import InputOptions, TextInput
    from npc_ai.pygame.view import DialogueView
