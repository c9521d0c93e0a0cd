"""The kit wired to a runtime: one object that polls it and routes its events.

:class:`DialogueView` calls ``runtime.update(dt)`` once a frame (through the HUD, when there
is one, which times it) and hands each event to the widgets that show it: the speech bubble
of that NPC, then every added widget with a ``handle(event)`` (a dialogue panel, the
caption strip). Input goes to the HUD first, then to the added widgets, the last added
first; drawing goes bubbles, widgets in the order added, then the HUD on top. A complete
loop on the scripted fake generator (no model needed)::

    import pygame
    from npc_ai import Runtime, ScriptedGenerator, load_persona
    from npc_ai.engine import SerialEngine
    from npc_ai.pygame import DialogueView, Hud, TextInput

    pygame.init()
    screen = pygame.display.set_mode((640, 480))
    runtime = Runtime(SerialEngine(ScriptedGenerator(["Hmph. Leave it on the anvil."])))
    smith = runtime.add_npc(load_persona("sample_game/personas/blacksmith.toml"))
    view = DialogueView(runtime, hud=Hud())
    view.bubble(smith, (320, 200))
    view.add(TextInput((20, 430, 600, 32), on_submit=lambda text: runtime.say(smith, text)))
    clock = pygame.time.Clock()
    for frame in range(120):  # a game loops until the player quits
        dt = clock.tick(60) / 1000
        for event in pygame.event.get():
            view.process_event(event)
        view.update(dt)  # runtime.update(dt), events routed
        screen.fill("darkslategray")
        view.draw(screen)
        pygame.display.flip()
    runtime.close()
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar, runtime_checkable

import pygame

from npc_ai.pygame.bubble import Anchor, BubbleOptions, SpeechBubble
from npc_ai.pygame.hud import Hud, Updates
from npc_ai.runtime.events import Event

__all__ = ["DialogueView", "Listener", "Widget"]


@runtime_checkable
class Widget(Protocol):
    """What every widget of the kit has: the pygame_gui-style frame methods."""

    def process_event(self, event: pygame.event.Event) -> bool: ...
    def update(self, dt: float) -> None: ...
    def draw(self, surface: pygame.Surface) -> object: ...


@runtime_checkable
class Listener(Protocol):
    """A widget that shows the runtime's events (a bubble, a panel, the caption strip)."""

    def handle(self, event: Event) -> bool: ...


W = TypeVar("W", bound=Widget)


class DialogueView:
    """A runtime's events shown by the kit's widgets. See the module docs for a loop.

    The view calls only ``runtime.update``, once a frame; the widgets never see the runtime.
    """

    def __init__(self, runtime: Updates, *, hud: Hud | None = None) -> None:
        self.runtime = runtime
        self.hud = hud
        #: NPC id -> its speech bubble.
        self.bubbles: dict[str, SpeechBubble] = {}
        self.widgets: list[Widget] = []

    def bubble(
        self,
        npc: str,
        anchor: Anchor,
        options: BubbleOptions | None = None,
        *,
        font: pygame.font.Font | None = None,
    ) -> SpeechBubble:
        """A speech bubble for ``npc`` at ``anchor`` (a point, or a function giving one)."""
        bubble = SpeechBubble(anchor, options, npc=npc, font=font)
        self.bubbles[npc] = bubble
        return bubble

    def add(self, widget: W) -> W:
        """Add a widget (drawn after those added before); return it."""
        self.widgets.append(widget)
        return widget

    def remove(self, widget: Widget) -> None:
        self.widgets.remove(widget)

    def handle(self, event: Event) -> bool:
        """Route one runtime event; True if some widget showed it."""
        used = False
        bubble = self.bubbles.get(event.npc)
        if bubble is not None:
            used = bubble.handle(event)
        for widget in self.widgets:
            if isinstance(widget, Listener):
                used = widget.handle(event) or used
        return used

    def update(self, dt: float) -> list[Event]:
        """One frame: ``runtime.update(dt)``, its events routed, the widgets advanced.
        Returns the events (for the game's own use: actions, sounds)."""
        events: Sequence[Event]
        if self.hud is not None:
            events = self.hud.poll(self.runtime, dt)
        else:
            events = self.runtime.update(dt)
        for event in events:
            self.handle(event)
        for bubble in self.bubbles.values():
            bubble.update(dt)
        for widget in self.widgets:
            widget.update(dt)
        if self.hud is not None:
            self.hud.update(dt)
        return list(events)

    def process_event(self, event: pygame.event.Event) -> bool:
        """Offer a pygame event to the HUD, then the widgets (last added first)."""
        if self.hud is not None and self.hud.process_event(event):
            return True
        return any(widget.process_event(event) for widget in reversed(self.widgets))

    def draw(self, surface: pygame.Surface) -> None:
        for bubble in self.bubbles.values():
            bubble.draw(surface)
        for widget in self.widgets:
            widget.draw(surface)
        if self.hud is not None:
            self.hud.draw(surface)
