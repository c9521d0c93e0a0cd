"""Live subtitles: speech in, captions out, and the caption board the overlays draw."""
