"""npc-ai: local NPC dialogue, memory, live subtitles and translation for games."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
