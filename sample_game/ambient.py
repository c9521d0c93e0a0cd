"""NPCs talking among themselves when the player is near two of them.

An exchange is three lines: one NPC opens with a line of small talk (from a short list),
the other answers, and the first answers back; the answers are generated live, at
``BACKGROUND`` priority, so they never slow a reply to the player. To hear a line as
said by a neighbour rather than by the player, each NPC answers a neighbour through a
second runtime NPC of the same persona (``"<npc>~<neighbour>"``) whose transcript names
the neighbour where it would name the player.

What is said is remembered by the NPCs themselves (their memory, under their own ids):
the one spoken to hears it, the speaker said it, NPCs within earshot overhear it. After
the exchange each passes on what it knows of the player and the last things the player
told it: tell the innkeeper a secret, and the guard may know it later. Both go through a
:class:`~sample_game.backend.Hearsay` (in-process: the NPCs' memory; over the bridge:
facts only).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from npc_ai import (
    DialogueOptions,
    NpcAiError,
    Priority,
    ReplyDelta,
    ReplyError,
    ReplyHandle,
)
from npc_ai import Event as ReplyEvent
from sample_game.backend import Hearsay, Npcs
from sample_game.cast import CastMember
from sample_game.languages import Languages
from sample_game.world import EARSHOT, World

__all__ = ["OPENERS", "Ambient", "Exchange"]

#: How an exchange opens; ``{name}`` is the neighbour's short name.
OPENERS = (
    "{name}, any news today?",
    "Quiet day, isn't it, {name}?",
    "Have you heard what travellers say about the Harvest Fair, {name}?",
    "{name}, did you see anyone strange on the road today?",
    "Busy day, {name}?",
)

#: Shows an NPC's line: (npc id, text in the player's language, finished).
Show = Callable[[str, str, bool], None]


@dataclass(slots=True)
class Exchange:
    """One ambient exchange under way: who opened it, who answers, what was said."""

    first: str
    second: str
    lines: list[tuple[str, str]] = field(default_factory=list)
    handle: ReplyHandle | None = None
    speaker: str = ""  # whose line is on its way
    partial: str = ""


class Ambient:
    """Starts exchanges between NPCs near the player and shows and remembers their lines."""

    def __init__(
        self,
        runtime: Npcs,
        cast: Sequence[CastMember],
        languages: Languages,
        show: Show,
        hearsay: Hearsay,
        *,
        pair_cooldown: float = 40.0,
        gap: float = 6.0,
        seed: int | None = None,
    ) -> None:
        self.runtime = runtime
        self.cast = {member.npc_id: member for member in cast}
        self.languages = languages
        self.show = show
        self.hearsay = hearsay
        self.pair_cooldown = pair_cooldown
        self.gap = gap
        self.enabled = True
        self.exchange: Exchange | None = None
        #: Every finished exchange, as (speaker id, text) lines (for the transcript).
        self.done: list[list[tuple[str, str]]] = []
        self._rng = random.Random(seed)
        self._last: dict[frozenset[str], float] = {}
        self._quiet_until = gap / 2
        self._added: set[str] = set()

    @property
    def generating(self) -> int:
        return int(self.exchange is not None and self.exchange.handle is not None)

    # -- a frame ----------------------------------------------------------------------------

    def update(self, world: World, talking_to: str | None) -> None:
        """Start an exchange between two NPCs within earshot of the player, when due."""
        if not self.enabled or self.exchange is not None or world.clock < self._quiet_until:
            return
        near = [n for n in world.within(EARSHOT) if n != talking_to]
        pairs = [
            frozenset((a, b))
            for i, a in enumerate(near)
            for b in near[i + 1 :]
            if world.clock >= self._last.get(frozenset((a, b)), -1e9) + self.pair_cooldown
        ]
        if not pairs:
            return
        pair = pairs[0]  # the nearest two
        first, second = self._rng.sample(sorted(pair), 2)
        self._last[pair] = world.clock
        self.start(first, second, world)

    def start(self, first: str, second: str, world: World) -> None:
        """``first`` opens an exchange with ``second``."""
        opener = self._rng.choice(OPENERS).format(name=self.cast[second].persona.short_name)
        self.exchange = Exchange(first, second)
        self._said(first, second, opener, world)
        self._ask(second, first, opener)

    def handle(self, event: ReplyEvent, world: World) -> bool:
        """Take a runtime event if it belongs to the exchange; True if it did."""
        ex = self.exchange
        if ex is None or ex.handle is None or event.reply != ex.handle.id:
            return "~" in event.npc  # an old exchange's line: dropped
        if isinstance(event, ReplyDelta):
            ex.partial += event.text
            if self.languages.current == self.languages.home:
                self.show(ex.speaker, ex.partial, False)
            return True
        if isinstance(event, ReplyError) or not event.text.strip():
            self._end(world)  # a failed or empty line ends the exchange
            return True
        speaker = ex.speaker
        listener = ex.second if speaker == ex.first else ex.first
        self._said(speaker, listener, event.text, world)
        if len(ex.lines) < 3:
            self._ask(listener, speaker, event.text)
        else:
            self._end(world)
        return True

    def interrupt(self, npc_id: str, world: World) -> None:
        """The player speaks to ``npc_id``: an exchange it is part of stops here."""
        ex = self.exchange
        if ex is not None and npc_id in (ex.first, ex.second):
            if ex.handle is not None:
                ex.handle.cancel()
            self._end(world)

    def reset(self) -> None:
        """After a load: drop the exchange under way (its replies were cancelled)."""
        self.exchange = None
        self.hearsay.reset()

    # -- inside -----------------------------------------------------------------------------

    def _said(self, speaker: str, listener: str, text: str, world: World) -> None:
        ex = self.exchange
        assert ex is not None
        ex.lines.append((speaker, text))
        ex.handle, ex.partial = None, ""
        self.languages.show(text, lambda shown: self.show(speaker, shown, True))
        where = world.villagers[speaker].person
        earshot = [
            other
            for other, villager in world.villagers.items()
            if other not in (speaker, listener)
            and other in self.cast
            and villager.person.distance(where) <= EARSHOT
        ]
        self.hearsay.said(speaker, listener, text, earshot)

    def _ask(self, npc: str, neighbour: str, line: str) -> None:
        """``npc`` answers ``neighbour``'s ``line`` (through its neighbour-facing twin)."""
        ex = self.exchange
        assert ex is not None
        twin = f"{npc}~{neighbour}"
        if twin not in self._added:
            self.runtime.add_npc(
                self.cast[npc].persona,
                npc_id=twin,
                priority=Priority.BACKGROUND,
                dialogue=DialogueOptions(
                    player_name=self.cast[neighbour].persona.short_name,
                    max_sentences=2,
                    max_tokens=40,
                ),
            )
            self._added.add(twin)
        try:
            ex.handle = self.runtime.say(twin, line)
        except NpcAiError:
            self.exchange = None
            return
        ex.speaker = npc

    def _end(self, world: World) -> None:
        ex = self.exchange
        assert ex is not None
        self.exchange = None
        self._quiet_until = world.clock + self.gap
        self.done.append(ex.lines)
        self.hearsay.gossip(ex.first, ex.second)
        self.hearsay.gossip(ex.second, ex.first)
