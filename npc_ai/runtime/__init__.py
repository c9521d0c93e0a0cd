"""NPC dialogue inside a game loop: many NPCs, one model, a frame budget.

:class:`Runtime` (``runtime``) is what the game talks to: its NPCs, their
memory and saves, and ``update()`` once a frame. The worker side that runs
each reply as engine jobs is :mod:`npc_ai.runtime.scheduler`; the events the
game receives are in :mod:`npc_ai.runtime.events`.
"""

from __future__ import annotations

from npc_ai.engine import Priority
from npc_ai.runtime.events import Event, ReplyDelta, ReplyDone, ReplyError, ReplyHandle
from npc_ai.runtime.runtime import Runtime, RuntimeOptions

__all__ = [
    "Event",
    "Priority",
    "ReplyDelta",
    "ReplyDone",
    "ReplyError",
    "ReplyHandle",
    "Runtime",
    "RuntimeOptions",
]
