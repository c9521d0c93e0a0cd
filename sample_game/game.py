"""The game: one object that takes input, updates the village and draws it, a frame at a time.

:class:`Game` owns the world, the conversations, the NPCs' small talk and the screen's
widgets (the kit's bubbles, dialogue panel, caption strip and HUD; the game's menu,
messages and status bar). :meth:`Game.frame` is one pass of the loop: the events of
the frame in, ``False`` out when the player quits. The same game runs in a window and
headless (``SDL_VIDEODRIVER=dummy``), where a script plays it (:mod:`sample_game.script`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pygame

from npc_ai import Event as ReplyEvent
from npc_ai import NpcAiError, ReplyDone, ReplyError, Runtime, StructuredReply
from npc_ai.pygame import (
    CaptionStrip,
    DialoguePanel,
    DialogueView,
    Hud,
    HudOptions,
    TextInput,
    load_font,
)
from sample_game.actions import Outcome, apply_action
from sample_game.ambient import Ambient
from sample_game.backend import Hearsay, LocalHearsay, Npcs
from sample_game.cast import CastMember
from sample_game.entities import Person
from sample_game.languages import Languages
from sample_game.render import WorldRenderer
from sample_game.saves import SaveError, read_save, write_save
from sample_game.talk import Conversations
from sample_game.ui import Menu, MessageLog, StatusBar
from sample_game.voice import Heard, Voice
from sample_game.world import TALK_RANGE, World, WorldError

__all__ = ["SCREEN_SIZE", "Game", "GameOptions"]

SCREEN_SIZE = (960, 640)

MOVE_KEYS: dict[int, tuple[int, int]] = {
    pygame.K_LEFT: (-1, 0),
    pygame.K_a: (-1, 0),
    pygame.K_RIGHT: (1, 0),
    pygame.K_d: (1, 0),
    pygame.K_UP: (0, -1),
    pygame.K_w: (0, -1),
    pygame.K_DOWN: (0, 1),
    pygame.K_s: (0, 1),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class GameOptions:
    """How a game is set up. Built once, from the command line."""

    save_path: Path
    #: NPCs chat among themselves when the player is near two of them.
    ambient: bool = True
    #: Seconds before the same two NPCs chat again.
    ambient_cooldown: float = 40.0
    #: Seed of the NPCs' idle walks and small talk (None: a new one each game).
    seed: int | None = None
    #: Captions of NPC lines shown from the start.
    captions: bool = False


@dataclass(frozen=True, slots=True)
class Fonts:
    """The fonts of the game's widgets, loaded once (a font file read costs a frame's time)."""

    text: pygame.font.Font
    name: pygame.font.Font
    captions: pygame.font.Font

    @classmethod
    def load(cls) -> Fonts:
        return cls(load_font(None, 18), load_font(None, 22), load_font(None, 26))


def _local_hearsay(runtime: Npcs) -> Hearsay:
    if not isinstance(runtime, Runtime):
        raise TypeError("a game on another runtime than npc_ai.Runtime needs its own hearsay")
    return LocalHearsay(runtime)


def _above(person: Person) -> Callable[[], tuple[int, int]]:
    """Where a speech bubble's tail points: just above the person's head."""
    return lambda: (int(person.x), int(person.y) - 40)


class Game:
    """Thornvale. See the module docs; ``problems`` are shown as messages at the start.

    ``runtime`` is :class:`npc_ai.Runtime` or anything with its calls (``--bridge``:
    :class:`~sample_game.remote.RemoteRuntime`, with its ``hearsay`` and the ``notices``
    it leaves for the player, shown as messages as they come).
    """

    def __init__(
        self,
        screen: pygame.Surface,
        runtime: Npcs,
        cast: Sequence[CastMember],
        options: GameOptions,
        *,
        languages: Languages | None = None,
        voice: Voice | None = None,
        problems: Sequence[str] = (),
        hearsay: Hearsay | None = None,
        notices: deque[str] | None = None,
    ) -> None:
        self.screen = screen
        self.runtime = runtime
        self.options = options
        self.cast = {member.npc_id: member for member in cast}
        self.languages = languages or Languages(None)
        #: Push-to-talk (V held): the microphone through speech recognition.
        self.voice = voice or Voice()
        #: The source the next V press listens to instead of the microphone (a script's WAV).
        self.voice_source: object | None = None
        seed = options.seed or 0
        self.world = World.new(m.villager(seed) for m in cast)
        self.talk = Conversations(runtime, cast, self.languages)
        self.ambient = Ambient(
            runtime,
            cast,
            self.languages,
            self._show_ambient,
            hearsay or _local_hearsay(runtime),
            pair_cooldown=options.ambient_cooldown,
            seed=options.seed,
        )
        self.ambient.enabled = options.ambient
        self.fonts = Fonts.load()
        hud = Hud(HudOptions(visible=False, position=(SCREEN_SIZE[0] - 250, 36)))
        self.view = DialogueView(runtime, hud=hud)
        for npc_id, villager in self.world.villagers.items():
            self.view.bubble(npc_id, _above(villager.person), font=self.fonts.text)
        names = {n: m.persona.short_name for n, m in self.cast.items()}
        self.captions = CaptionStrip(names=names, font=self.fonts.captions)
        self.captions_on = options.captions
        self.panel: DialoguePanel | None = None
        self.menu = Menu(
            [
                ("Resume", lambda: None),
                ("Save (F5)", self.save),
                ("Load (F9)", self.load),
                ("Quit", self.quit),
            ]
        )
        self.messages = MessageLog()
        self.status = StatusBar()
        self.renderer = WorldRenderer(self.world)
        #: Everything said and done, one line each (printed after a headless run).
        self.transcript: list[str] = []
        #: Each structured reply to the player: (NPC id, the reply, what its action did).
        self.actions: list[tuple[str, StructuredReply, Outcome | None]] = []
        #: Set by a script: the direction to walk this frame (None: the keyboard decides).
        self.steer: tuple[float, float] | None = None
        self.running = True
        #: The frame saved or loaded (its time is disk and memory export, on purpose).
        self.did_io = False
        self._held: list[int] = []
        self._opened_at = -1  # the frame a conversation was opened with the E key
        self._v_down = False
        self._frame = 0
        self.notices = notices if notices is not None else deque()
        for problem in problems:
            self.note(problem)

    # -- the frame --------------------------------------------------------------------------

    def frame(self, dt: float, events: Sequence[pygame.event.Event]) -> bool:
        """Input, update and draw for one frame; False once the player has quit."""
        self._frame += 1
        self.did_io = False
        for event in events:
            self.process_event(event)
        if self.running:
            self.update(dt)
            self.draw()
        return self.running

    def process_event(self, event: pygame.event.Event) -> None:
        """One pygame event: quitting, the menu, save keys, the widgets, then walking."""
        if event.type == pygame.QUIT:
            self.quit()
            return
        if self.menu.process_event(event):
            return
        if event.type == pygame.KEYUP and event.key in self._held:
            self._held.remove(event.key)
        if event.type == pygame.KEYDOWN:
            if event.key == pygame.K_F5:
                self.save()
                return
            if event.key == pygame.K_F9:
                self.load()
                return
            if event.key == pygame.K_ESCAPE:
                if self.panel is not None:
                    self.close_conversation()
                else:
                    self._held.clear()
                    self.menu.show()
                return
        if (
            event.type == pygame.TEXTINPUT
            and self._frame - self._opened_at <= 1
            and event.text.lower() == "e"
        ):
            return  # the E that opened the conversation is not the first letter typed
        if self._push_to_talk(event):
            return
        if self.view.process_event(event):
            return
        if event.type == pygame.KEYDOWN:
            self._key(event.key)

    def _key(self, key: int) -> None:
        if key in MOVE_KEYS and key not in self._held:
            self._held.append(key)
        elif key == pygame.K_e:
            npc_id = self.world.nearest(TALK_RANGE)
            if npc_id is None:
                self.note("Nobody is close enough to talk to. Walk up to someone.")
            else:
                self._opened_at = self._frame
                self.open_conversation(npc_id)
        elif key == pygame.K_l:
            self.cycle_language()
        elif key == pygame.K_c:
            self.captions_on = not self.captions_on
            self.note(f"Captions {'on' if self.captions_on else 'off'} (C).")

    def _push_to_talk(self, event: pygame.event.Event) -> bool:
        """V down and up (and the letter it would type); True if the event was V's.

        V speaks when nothing is typed in the conversation's input; once a line is begun,
        V is a letter like any other.
        """
        if event.type == pygame.KEYDOWN and event.key == pygame.K_v:
            line = self.panel.input if self.panel is not None else None
            if line is not None and (line.text or line.composition):
                return False
            self._v_down = True
            self.listen()
            return True
        if event.type == pygame.KEYUP and event.key == pygame.K_v and self._v_down:
            self._v_down = False
            self.voice.release()
            return True
        return event.type == pygame.TEXTINPUT and self._v_down and event.text.lower() == "v"

    def listen(self) -> None:
        """V pressed: listen to the player, talking to the NPC next to them."""
        if self.panel is None:
            npc_id = self.world.nearest(TALK_RANGE)
            if npc_id is None:
                if self.voice.unavailable is None:
                    self.note("Nobody is close enough to hear you. Walk up to someone.")
                return
            self._opened_at = self._frame
            self.open_conversation(npc_id)
        source, self.voice_source = self.voice_source, None
        self.voice.press(source=source)

    def _on_voice(self) -> None:
        for event in self.voice.poll():
            if not isinstance(event, Heard):
                self.note(event.text)
            elif not event.text:
                self.note("(V) Nothing was understood; hold V while you speak.")
            elif self.panel is None:
                self.note(f"(V) You said {event.text!r} to nobody: the conversation had ended.")
            else:
                self.say(event.text)

    def direction(self) -> tuple[float, float]:
        """Where the player walks this frame: the script's steering, or the held keys."""
        if self.steer is not None:
            return self.steer
        if self.panel is not None or self.menu.open:
            return (0.0, 0.0)
        dx = sum(MOVE_KEYS[k][0] for k in self._held)
        dy = sum(MOVE_KEYS[k][1] for k in self._held)
        return (float(dx), float(dy))

    def update(self, dt: float) -> None:
        """The world moves (unless the menu is open); the NPCs' lines come in."""
        if not self.menu.open:
            self.world.update(dt, self.direction(), self.talk.focus)
            self.talk.track(self.world)
            self.ambient.update(self.world, self.talk.focus)
        for event in self.view.update(dt):
            self._on_reply_event(event)
        self._on_voice()
        while self.notices:
            self.note(self.notices.popleft())
        self.languages.poll()
        self.messages.update(dt)
        self.captions.rect = pygame.Rect(
            0, 0, SCREEN_SIZE[0], self.panel.rect.top if self.panel else SCREEN_SIZE[1]
        )
        self.captions.update(dt)
        heard = f"V: {self.voice.status}  |  " if self.voice.status else ""
        self.status.set(
            f"{heard}{self.world.inventory.describe()}  |  {self.languages.name} (L)  |  "
            f"captions {'on' if self.captions_on else 'off'} (C)  |  E talk, V speak, Esc menu"
        )

    def draw(self) -> None:
        self.renderer.draw(self.screen, talking_to=self.talk.focus)
        self.view.draw(self.screen)
        if self.captions_on:
            self.captions.draw(self.screen)
        self.status.draw(self.screen)
        self.messages.draw(self.screen)
        self.menu.draw(self.screen)

    @property
    def generating(self) -> int:
        """Replies being generated now (the player's and the NPCs' small talk)."""
        return self.talk.generating + self.ambient.generating

    # -- talking ----------------------------------------------------------------------------

    def open_conversation(self, npc_id: str) -> None:
        """Talk to ``npc_id``: a dialogue panel with its greeting and a text input."""
        if self.panel is not None:
            self.close_conversation()
        self._held.clear()
        self.ambient.interrupt(npc_id, self.world)
        name = self.cast[npc_id].persona.short_name
        panel = DialoguePanel(
            (170, SCREEN_SIZE[1] - 210, 620, 200),
            name=name,
            npc=npc_id,
            font=self.fonts.text,
            name_font=self.fonts.name,
        )
        panel.input = TextInput((0, 0, 0, 0), on_submit=self.say, font=self.fonts.text)
        panel.input.focus()
        self.view.add(panel)
        self.panel = panel
        greeting = self.talk.open(npc_id)
        if greeting:
            self.languages.show(greeting, lambda text: panel.add_line(name, text))

    def close_conversation(self) -> None:
        if self.panel is not None:
            if self.panel.input is not None:
                self.panel.input.blur()
            self.view.remove(self.panel)
            self.panel = None
        self.talk.close()

    def say(self, text: str) -> None:
        """The player's line to the NPC they talk to (from the panel's input)."""
        npc_id = self.talk.focus
        if npc_id is None or self.panel is None:
            return
        try:
            self.talk.say(text, self.world)
        except NpcAiError as exc:
            self.note(f"{exc}")
            return
        self.panel.add_line("You", text, kind="player")
        self.transcript.append(f"You -> {self.talk.name(npc_id)}: {text}")

    def _on_reply_event(self, event: ReplyEvent) -> None:
        if "~" in event.npc:
            self.ambient.handle(event, self.world)
            return
        member = self.cast.get(event.npc)
        if member is None:
            return
        name = member.persona.short_name
        if isinstance(event, ReplyError):
            self.note(f"{name} could not answer: {event.error}")
            return
        if not isinstance(event, ReplyDone) or event.finish_reason == "cancelled":
            return
        said = event.structured
        mood = ""
        if said is not None:
            mood = f" [{said.emotion}; {' '.join([said.action, *said.args.values()])}]"
        self.transcript.append(f"{name}: {event.text}{mood}")
        if self.captions_on and event.text.strip():
            self.captions.say(name, event.text)
        if said is not None:
            outcome = apply_action(event.npc, member.persona, said, self.world.inventory)
            self.actions.append((event.npc, said, outcome))
            if outcome is not None:
                self.world.apply(outcome)
                self.note(outcome.message)

    def _show_ambient(self, npc_id: str, text: str, done: bool) -> None:
        """A line of the NPCs' small talk, in the player's language."""
        bubble = self.view.bubbles.get(npc_id)
        if bubble is not None:
            bubble.set_text(text)
            if done:
                bubble.finish()
        if done:
            name = self.cast[npc_id].persona.short_name
            self.transcript.append(f"({name}, to a neighbour): {text}")
            if self.captions_on:
                self.captions.say(name, text)

    # -- settings, saves, quitting ----------------------------------------------------------

    def cycle_language(self) -> None:
        if len(self.languages.available) < 2:
            self.note("No translation is installed: English only (install apertium-eng-spa).")
            return
        language = self.languages.following()
        for problem in self.talk.set_language(language):
            self.note(problem)
        self.note(f"You now speak {self.languages.name} (L).")

    def save(self) -> None:
        """Save the world and the NPCs' memory to the slot (F5)."""
        self.did_io = True
        path = self.options.save_path
        try:
            blob = self.runtime.export_memory(list(self.cast))
            write_save(path, self.world.snapshot(), blob)
        except (SaveError, NpcAiError) as exc:
            self.note(f"Not saved: {exc}")
            return
        self.note(f"Saved to {path}.")

    def load(self) -> bool:
        """Load the slot (F9): the world and the NPCs' memory as they were saved.

        A damaged, older or newer save shows a message and changes nothing.
        """
        self.did_io = True
        path = self.options.save_path
        try:
            data = read_save(path)
            saved = self.world.check_saved(data.world)
        except (SaveError, WorldError) as exc:
            self.note(f"Not loaded: {exc}")
            return False
        try:
            self.runtime.import_memory(data.npc_memory, clear_others=True)
        except NpcAiError as exc:
            self.note(f"Not loaded: the NPCs' memory in {path} is damaged ({exc})")
            return False
        self.close_conversation()
        self.talk.reset()
        self.ambient.reset()
        for bubble in self.view.bubbles.values():
            bubble.clear()
        self.world.restore(saved)
        self.note(f"Loaded the save of {data.saved_at or path}.")
        return True

    def quit(self) -> None:
        self.running = False

    def note(self, text: str) -> None:
        """A message on screen, and a line of the transcript."""
        self.messages.add(text)
        self.transcript.append(f"* {text}")
