"""The player's conversations, wired to the runtime.

Each NPC of the cast is added once with structured replies (an emotion and an action
with every line). As the player walks, NPCs near them are read into the model's cache
(``Runtime.prepare``) and get a higher priority, so the first reply starts quickly; the
NPC the player talks to is ``FOCUSED``. NPCs within earshot overhear what is said
(``heard_by``), and remember it.
"""

from __future__ import annotations

from collections.abc import Sequence

from npc_ai import DialogueOptions, NpcAiError, Priority, ReplyHandle
from sample_game.backend import Npcs
from sample_game.cast import CastMember
from sample_game.languages import Languages
from sample_game.world import EARSHOT, NEARBY, World

__all__ = ["Conversations"]


class Conversations:
    """Who the player talks to, the replies on their way, and each NPC's priority."""

    def __init__(self, runtime: Npcs, cast: Sequence[CastMember], languages: Languages):
        self.runtime = runtime
        self.cast = {member.npc_id: member for member in cast}
        self.languages = languages
        #: The NPC the player is talking to, if any.
        self.focus: str | None = None
        #: The reply each NPC is giving the player, until it is done.
        self.replies: dict[str, ReplyHandle] = {}
        self._prepared: set[str] = set()
        self._priority: dict[str, Priority] = {}
        for member in cast:
            runtime.add_npc(
                member.persona,
                npc_id=member.npc_id,
                priority=Priority.BACKGROUND,
                dialogue=DialogueOptions(structured=True),
                interpreter=languages.interpreter(member.persona),
            )
            self._priority[member.npc_id] = Priority.BACKGROUND

    def name(self, npc_id: str) -> str:
        return self.cast[npc_id].persona.short_name

    # -- a frame ----------------------------------------------------------------------------

    def track(self, world: World) -> None:
        """Prepare NPCs the player comes near; focused, nearby, background priorities."""
        for npc_id in self.cast:
            distance = world.distance(npc_id)
            if distance <= NEARBY and npc_id not in self._prepared:
                self._prepared.add(npc_id)
                self.runtime.prepare(npc_id)
            if npc_id == self.focus:
                wanted = Priority.FOCUSED
            elif distance <= NEARBY:
                wanted = Priority.NEARBY
            else:
                wanted = Priority.BACKGROUND
            if self._priority[npc_id] != wanted:
                self._priority[npc_id] = wanted
                self.runtime.set_priority(npc_id, wanted)
        for npc_id, handle in list(self.replies.items()):
            if handle.done:
                del self.replies[npc_id]

    @property
    def generating(self) -> int:
        """How many of the player's replies are on their way."""
        return sum(not h.done for h in self.replies.values())

    # -- talking ----------------------------------------------------------------------------

    def open(self, npc_id: str) -> str:
        """Start talking to ``npc_id``; return its greeting (in its own language)."""
        self.focus = npc_id
        self._priority[npc_id] = Priority.FOCUSED
        self.runtime.set_priority(npc_id, Priority.FOCUSED)
        return self.cast[npc_id].persona.greeting

    def close(self) -> None:
        """The player walks away; a reply on its way still finishes."""
        self.focus = None

    def say(self, text: str, world: World) -> ReplyHandle:
        """The player says ``text`` to the focused NPC; NPCs within earshot overhear."""
        if self.focus is None:
            raise RuntimeError("say() needs a conversation: open() one first")
        listeners = world.within(EARSHOT, besides=self.focus)
        handle = self.runtime.say(self.focus, text, heard_by=listeners)
        self.replies[self.focus] = handle
        return handle

    def set_language(self, language: str) -> list[str]:
        """The player now talks in ``language``; return a message for each NPC that cannot
        follow (it keeps the language it had)."""
        self.languages.set(language)
        problems = []
        for npc_id, member in self.cast.items():
            try:
                self.runtime.set_interpreter(npc_id, self.languages.interpreter(member.persona))
            except NpcAiError as exc:
                problems.append(f"{member.persona.short_name} cannot talk in {language}: {exc}")
        return problems

    def reset(self) -> None:
        """After a load: no conversation, no replies pending (the runtime cancelled them)."""
        self.focus = None
        self.replies.clear()
