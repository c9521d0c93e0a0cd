"""NPC dialogue: personas, prompts, the reply turn, structured replies, the guard."""
