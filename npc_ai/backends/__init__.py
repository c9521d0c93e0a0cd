"""Generation backends behind one small protocol.

Heavy libraries are imported only by the module that wraps them
(:mod:`npc_ai.backends.llama_cpp`), and only when a backend is created.
"""

from __future__ import annotations

from npc_ai.backends.fake import ScriptedGenerator
from npc_ai.generation import Generator, SamplingParams

__all__ = ["Generator", "SamplingParams", "ScriptedGenerator"]
