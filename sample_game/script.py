"""Scripted sessions: a player that follows a small text file, for headless runs and tests.

One command a line; ``#`` starts a comment::

    walk smith            walk up to an NPC (its id or a word of its name) or a place
    talk                  press E next to the nearest NPC (walk first)
    say Can you mend my sword?
                          type a line and press Enter (opens a conversation if none is open)
    speak FILE.wav        hold V while the file plays, as if the player said it into the
                          microphone (opens a conversation if none is open); the path is
                          relative to the script's folder
    wait-reply [SECONDS]  until the NPC's reply is finished (default 60 s)
    wait-ambient [SECONDS]
                          until NPCs near the player have had a chat (default 90 s)
    wait SECONDS          let the game run
    key NAME              press a key: L, C, F3, F5, F9, Escape, E...
    save / load           F5 / F9
    bye                   leave the conversation (Esc)
    expect ITEM           fail unless the player carries ITEM (part of its name will do)

The runner plays the way a player does: it presses keys and types through pygame events,
and walks by steering the player (as a gamepad's stick would) along a path of tiles.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pygame

from npc_ai import FileSource
from sample_game.game import Game
from sample_game.tilemap import PLACES, tile_center
from sample_game.world import TALK_RANGE

__all__ = ["COMMANDS", "Command", "ScriptError", "ScriptRunner", "load_script", "parse_script"]

COMMANDS = (
    "walk",
    "talk",
    "say",
    "speak",
    "wait-reply",
    "wait-ambient",
    "wait",
    "key",
    "save",
    "load",
    "bye",
    "expect",
)

Frames = Iterator[list[pygame.event.Event]]


class ScriptError(Exception):
    """A script that cannot be read, or a step that could not be done."""


@dataclass(frozen=True, slots=True)
class Command:
    """One line of a script."""

    name: str
    arg: str
    line: int

    def __str__(self) -> str:
        return f"{self.name} {self.arg}".strip()


def parse_script(text: str, *, source: str = "<script>") -> list[Command]:
    """The commands of a script; a :class:`ScriptError` names the first bad line."""
    commands = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip() if not raw.lstrip().startswith("say") else raw.strip()
        if not line:
            continue
        name, _, arg = line.partition(" ")
        name, arg = name.lower(), arg.strip()
        if name not in COMMANDS:
            raise ScriptError(
                f"{source}:{number}: unknown command {name!r} (known: {', '.join(COMMANDS)})"
            )
        if name in ("walk", "say", "key", "expect", "wait") and not arg:
            raise ScriptError(f"{source}:{number}: {name!r} needs an argument")
        if name.startswith("wait") and arg:
            try:
                if float(arg) <= 0:
                    raise ValueError
            except ValueError:
                raise ScriptError(
                    f"{source}:{number}: {arg!r} is not a number of seconds"
                ) from None
        if name == "key":
            try:
                pygame.key.key_code(arg.lower())
            except ValueError:
                raise ScriptError(f"{source}:{number}: unknown key {arg!r}") from None
        commands.append(Command(name, arg, number))
    return commands


def load_script(path: Path) -> list[Command]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScriptError(f"cannot read the script {path}: {exc}") from exc
    return parse_script(text, source=str(path))


def _press(key: int) -> list[pygame.event.Event]:
    return [
        pygame.event.Event(pygame.KEYDOWN, key=key, mod=0, unicode="", scancode=0),
        pygame.event.Event(pygame.KEYUP, key=key, mod=0, unicode="", scancode=0),
    ]


class ScriptRunner:
    """Plays ``commands`` on a game, one frame at a time: :meth:`step` gives the frame's
    events. ``error`` is set (and the run ends) when a step fails."""

    def __init__(
        self,
        commands: list[Command],
        *,
        walk_timeout: float = 40.0,
        folder: Path | None = None,
    ) -> None:
        self.commands = commands
        #: Where the script is: ``speak`` finds its files from there.
        self.folder = folder
        self.walk_timeout = walk_timeout
        self.done = False
        self.error: str | None = None
        self._game: Game | None = None
        self._frames: Frames | None = None
        self._dt = 0.0

    def step(self, game: Game, dt: float) -> list[pygame.event.Event]:
        """The events the scripted player makes this frame (and its steering, set on game)."""
        if self._frames is None:
            self._game, self._frames = game, self._play(game)
        self._dt = dt
        game.steer = None
        try:
            return next(self._frames)
        except StopIteration:
            self.done = True
        except ScriptError as exc:
            self.error, self.done = str(exc), True
            game.note(f"script stopped: {exc}")
        return []

    # -- the commands -----------------------------------------------------------------------

    def _play(self, game: Game) -> Frames:
        yield []  # the first frame draws the village before anything happens
        for command in self.commands:
            game.transcript.append(f"> {command}")
            yield from getattr(self, "_" + command.name.replace("-", "_"))(game, command)

    def _walk(self, game: Game, command: Command) -> Frames:
        world = game.world
        npc = self._npc(game, command.arg, required=False)
        place = PLACES.get(command.arg.lower()) or PLACES.get("the " + command.arg.lower())
        if npc is None and place is None:
            raise ScriptError(
                f"line {command.line}: no NPC or place called {command.arg!r} "
                f"(NPCs: {', '.join(game.cast)}; places: {', '.join(PLACES)})"
            )
        waited = 0.0
        while waited < self.walk_timeout:
            goal = world.villagers[npc].person.tile if npc else place
            assert goal is not None
            others = [v.person.tile for n, v in world.villagers.items()]
            path = world.tilemap.path(
                world.player.tile, goal, blocked=others, near=1.0 if npc else 0.0
            )
            if path is None:
                raise ScriptError(f"line {command.line}: no way to {command.arg!r}")
            stuck = 0.0
            for tile in [world.player.tile, *path]:
                tx, ty = tile_center(tile)
                while math.hypot(tx - world.player.x, ty - world.player.y) > 2.0:
                    if stuck > 1.5:
                        break  # someone in the way: plan again
                    before = (world.player.x, world.player.y)
                    reach = world.player.speed * max(self._dt, 1e-3)
                    game.steer = ((tx - world.player.x) / reach, (ty - world.player.y) / reach)
                    yield []
                    waited += self._dt
                    moved = (world.player.x, world.player.y) != before
                    stuck = 0.0 if moved else stuck + self._dt
                if stuck > 1.5:
                    break
            if npc is None and world.player.tile == place:
                return
            if npc is not None and world.distance(npc) <= TALK_RANGE:
                return
        raise ScriptError(f"line {command.line}: could not reach {command.arg!r} in time")

    def _talk(self, game: Game, command: Command) -> Frames:
        if game.panel is None:
            if game.world.nearest(TALK_RANGE) is None:
                raise ScriptError(f"line {command.line}: nobody close enough to talk to")
            yield _press(pygame.K_e)

    def _say(self, game: Game, command: Command) -> Frames:
        yield from self._talk(game, command)
        yield [
            pygame.event.Event(pygame.TEXTINPUT, text=command.arg),
            pygame.event.Event(pygame.KEYDOWN, key=pygame.K_RETURN, mod=0, unicode="\r"),
        ]

    def _speak(self, game: Game, command: Command) -> Frames:
        path = Path(command.arg)
        if not path.is_absolute() and self.folder is not None:
            path = self.folder / path
        if not path.is_file():
            raise ScriptError(f"line {command.line}: no sound file {path}")
        if game.panel is None:
            yield from self._talk(game, command)
            yield []
        # Played at its own pace, as a microphone delivers speech.
        game.voice_source = FileSource(path, realtime=True)
        yield [pygame.event.Event(pygame.KEYDOWN, key=pygame.K_v, mod=0, unicode="v", scancode=0)]
        waited = 0.0
        while game.voice.holding and game.voice.busy:  # until the file has played
            if waited > self.walk_timeout:
                raise ScriptError(f"line {command.line}: {path} did not finish playing")
            yield []
            waited += self._dt
        yield [pygame.event.Event(pygame.KEYUP, key=pygame.K_v, mod=0, unicode="v", scancode=0)]
        while game.voice.busy:  # the last phrase is understood
            yield []
        yield []  # the frame that takes the player's line

    def _wait_reply(self, game: Game, command: Command) -> Frames:
        limit = float(command.arg or 60)
        waited = 0.0
        while game.talk.generating:
            if waited > limit:
                raise ScriptError(f"line {command.line}: no reply within {limit:g} s")
            yield []
            waited += self._dt
        yield []  # the frame that shows the end of the reply

    def _wait_ambient(self, game: Game, command: Command) -> Frames:
        limit = float(command.arg or 90)
        waited, before = 0.0, len(game.ambient.done)
        while len(game.ambient.done) == before:
            if waited > limit:
                raise ScriptError(f"line {command.line}: the NPCs did not chat within {limit:g} s")
            yield []
            waited += self._dt

    def _wait(self, game: Game, command: Command) -> Frames:
        waited = 0.0
        while waited < float(command.arg):
            yield []
            waited += self._dt

    def _key(self, game: Game, command: Command) -> Frames:
        yield _press(pygame.key.key_code(command.arg.lower()))

    def _save(self, game: Game, command: Command) -> Frames:
        yield _press(pygame.K_F5)

    def _load(self, game: Game, command: Command) -> Frames:
        yield _press(pygame.K_F9)

    def _bye(self, game: Game, command: Command) -> Frames:
        if game.panel is not None:
            yield _press(pygame.K_ESCAPE)

    def _expect(self, game: Game, command: Command) -> Frames:
        want = command.arg.lower()
        if not any(want in item for item in game.world.inventory.items):
            raise ScriptError(
                f"line {command.line}: expected the player to carry {command.arg!r}; "
                f"they carry {game.world.inventory.describe()}"
            )
        yield []

    def _npc(self, game: Game, name: str, *, required: bool = True) -> str | None:
        wanted = name.lower()
        for npc_id, member in game.cast.items():
            words = member.persona.name.lower().split()
            if wanted == npc_id or wanted in npc_id or wanted in words:
                return npc_id
        if required:
            raise ScriptError(f"no NPC called {name!r} (NPCs: {', '.join(game.cast)})")
        return None
