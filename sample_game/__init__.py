"""The sample pygame village of Thornvale, built on npc-ai."""
