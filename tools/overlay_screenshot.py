#!/usr/bin/env python3
"""Draw the caption window headless and save it as a PNG (the picture in docs/SUBTITLES.md).

.venv/bin/python tools/overlay_screenshot.py [docs/img/overlay_window.png]
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

import pygame  # noqa: E402

from npc_ai.pygame.caption_window import CaptionWindow, WindowOptions  # noqa: E402
from npc_ai.subtitles.speech.events import Caption, CaptionTranslation  # noqa: E402


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "img" / "overlay_window.png"
    events = [
        Caption(
            segment=0,
            revision=3,
            final=True,
            text="The guard opened the northern gate.",
            start=0.4,
            end=2.6,
        ),
        CaptionTranslation(
            segment=0, target="es", text="El guardia abrió la puerta del norte.", start=0.4, end=2.6
        ),
        Caption(segment=1, revision=1, final=False, text="Where is the", start=3.0, end=3.8),
    ]
    with CaptionWindow(WindowOptions(width=1280)) as window:
        window.frame(events)
        pygame.image.save(window.surface, str(out))
    print(out)


if __name__ == "__main__":
    main()
