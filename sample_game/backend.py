"""What Thornvale needs of its NPCs, in-process or over the bridge.

The game talks to its NPCs through :class:`Npcs`: :class:`npc_ai.Runtime` has that shape
(the game's default, in-process), and so has :class:`sample_game.remote.RemoteRuntime`
(``--bridge``: the same calls as requests to ``npc-ai serve``). What the NPCs' small talk
leaves in their memory goes through :class:`Hearsay`, the one place where the two differ:
in-process it writes the NPCs' memory directly (:class:`LocalHearsay`); the bridge has no
call that writes an overheard line, so over the bridge only facts travel (see
:class:`sample_game.remote.RemoteHearsay`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from npc_ai import (
    DialogueOptions,
    Event,
    Interpreter,
    Persona,
    Priority,
    ReplyHandle,
    Runtime,
)

__all__ = ["Hearsay", "LocalHearsay", "Npcs"]


class Npcs(Protocol):
    """The calls the game makes on its NPCs (a subset of :class:`npc_ai.Runtime`'s)."""

    def add_npc(
        self,
        persona: Persona,
        *,
        npc_id: str | None = None,
        priority: Priority = ...,
        dialogue: DialogueOptions | None = None,
        interpreter: Interpreter | None = None,
    ) -> str: ...

    def prepare(self, npc_id: str) -> object: ...

    def set_priority(self, npc_id: str, priority: Priority) -> None: ...

    def set_interpreter(self, npc_id: str, interpreter: Interpreter | None) -> None: ...

    def say(self, npc_id: str, text: str, *, heard_by: Sequence[str] = ()) -> ReplyHandle: ...

    def update(self, dt: float = 0.0) -> list[Event]: ...

    def export_memory(self, npc_ids: Sequence[str] | None = None) -> bytes: ...

    def import_memory(self, blob: bytes, *, clear_others: bool = False) -> list[str]: ...

    def close(self) -> None: ...


class Hearsay(Protocol):
    """What small talk leaves in the NPCs' memory."""

    def said(self, speaker: str, listener: str, text: str, earshot: Sequence[str]) -> None:
        """``speaker`` said ``text`` to ``listener``; the NPCs in ``earshot`` overheard it."""

    def gossip(self, teller: str, listener: str) -> None:
        """``teller`` passes on to ``listener`` what it knows of the player (once each)."""

    def reset(self) -> None:
        """After a load: what was passed on is forgotten with the memory."""


class LocalHearsay:
    """Small talk remembered in-process: every line, and facts and the player's last lines
    passed on in gossip."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._told: set[tuple[str, str, str]] = set()

    def said(self, speaker: str, listener: str, text: str, earshot: Sequence[str]) -> None:
        self.runtime.memory(speaker).said(text)
        self.runtime.memory(listener).heard(text, speaker=speaker)
        for other in earshot:
            self.runtime.memory(other).heard(text, speaker=speaker, source=f"earshot:{speaker}")

    def gossip(self, teller: str, listener: str) -> None:
        memory, other = self.runtime.memory(teller), self.runtime.memory(listener)
        facts = list(memory.facts().values())
        heard = [
            m
            for m in memory.memories()
            if m.kind == "heard" and m.speaker == "player" and not m.source
        ][-2:]
        fresh = [m for m in [*facts, *heard] if (teller, listener, m.text) not in self._told]
        for m in fresh:
            self._told.add((teller, listener, m.text))
        if fresh:
            memory.tell(other, fresh)

    def reset(self) -> None:
        """After a load: what was passed on is forgotten with the memory."""
        self._told.clear()
