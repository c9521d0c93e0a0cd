"""The optional pygame kit: the one place in npc_ai that imports pygame."""
