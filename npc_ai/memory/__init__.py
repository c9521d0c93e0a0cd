"""NPC memory that lasts: a per-NPC SQLite store and versioned save blobs.

See :mod:`npc_ai.memory.store` and ``docs/SAVES.md``.
"""

from __future__ import annotations

from npc_ai.errors import MemoryFormatError, MemoryStoreError
from npc_ai.memory.blob import FORMAT_VERSION, SavedNpc, dump_state, load_state
from npc_ai.memory.facts import Fact, extract_facts, sentiment
from npc_ai.memory.npc_memory import MemoryOptions, Note, NpcMemory
from npc_ai.memory.recall import Bm25Index, RecallOptions, recall
from npc_ai.memory.records import KINDS, Memory, NewMemory, NpcState
from npc_ai.memory.store import MemoryStore, StoreOptions

__all__ = [
    "FORMAT_VERSION",
    "KINDS",
    "Bm25Index",
    "Fact",
    "Memory",
    "MemoryFormatError",
    "MemoryOptions",
    "MemoryStore",
    "MemoryStoreError",
    "NewMemory",
    "Note",
    "NpcMemory",
    "NpcState",
    "RecallOptions",
    "SavedNpc",
    "StoreOptions",
    "dump_state",
    "extract_facts",
    "load_state",
    "recall",
    "sentiment",
]
