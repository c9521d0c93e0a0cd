"""Translation: one protocol for every translator, caching, and several targets at once."""
