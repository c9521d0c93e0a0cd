"""Model files: the manifest of default models, the cache that resolves them, derived builds."""
