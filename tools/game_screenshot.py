#!/usr/bin/env python3
"""A screenshot of Thornvale in a real window, mid-conversation.

    DISPLAY=:99 .venv/bin/python tools/game_screenshot.py --out docs/img/thornvale.png
    DISPLAY=:99 .venv/bin/python tools/game_screenshot.py --fake --out shot.png --info shot.json

Opens the game's window on the X display in ``DISPLAY`` (SDL's x11 driver, never the dummy
one: run it under Xvfb on a machine without a screen), plays a short script (walk up to the
smith, say a line, wait for the reply) with the game's own frame loop, and saves the
window's surface as a PNG on the frame the reply ends. ``--fake`` answers with npc-ai's
scripted generator (fast, the same picture every time) instead of the default model.
``--info`` writes JSON: the video driver, the screen size, and where the NPC's speech
bubble and the dialogue panel were drawn on that frame.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SCRIPT = """
walk smith
say Can you mend my sword? It is notched.
wait-reply 120
"""
#: The fake's lines and its structured choice: the smith mends the sword.
FAKE_LINES = (" Hmph. Leave it on the anvil, I will have the notch out by sundown.",)


def _acting(prompt: str, choices: tuple[str, ...]) -> str:
    del prompt
    return next((c for c in choices if c.strip().startswith("repair sword")), choices[0])


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="\n\n".join(__doc__.split("\n\n")[2:]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", type=Path, required=True, help="the PNG to write")
    parser.add_argument("--info", type=Path, help="JSON with where the bubble was drawn")
    parser.add_argument("--fake", action="store_true", help="the scripted generator, no model")
    parser.add_argument("--seed", type=int, default=3, help="seed of idle walks (default: 3)")
    parser.add_argument("--npc", default="blacksmith", help="whose bubble --info names")
    args = parser.parse_args()
    if not os.environ.get("DISPLAY"):
        print("game_screenshot: DISPLAY is not set (run it under Xvfb)", file=sys.stderr)
        return 2
    os.environ["SDL_VIDEODRIVER"] = "x11"  # a real window; fail rather than fall back
    os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

    import pygame

    from npc_ai import MemoryStore, Runtime, RuntimeOptions, ScriptedGenerator
    from npc_ai.engine import SerialEngine
    from sample_game.cast import load_cast
    from sample_game.game import SCREEN_SIZE, Game, GameOptions
    from sample_game.main import run_loop
    from sample_game.script import ScriptRunner, parse_script
    from sample_game.stats import FrameStats

    pygame.init()
    cast, _ = load_cast()
    store = MemoryStore()
    if args.fake:
        generator = ScriptedGenerator(FAKE_LINES, delay=0.002, choose=_acting)
        runtime = Runtime(SerialEngine(generator), memory=store, options=RuntimeOptions())
    else:
        runtime = Runtime.from_model(None, memory=store)
    drawn: dict[str, Any] = {}
    try:
        pygame.display.set_caption("Thornvale")
        screen = pygame.display.set_mode(SCREEN_SIZE)
        save = Path(tempfile.mkdtemp(prefix="thornvale-shot-")) / "slot1.json"
        game = Game(screen, runtime, cast, GameOptions(save_path=save, seed=args.seed))
        bubble = game.view.bubbles[args.npc]
        draw_bubble: Callable[[pygame.Surface], pygame.Rect | None] = bubble.draw

        def recorded(surface: pygame.Surface) -> pygame.Rect | None:
            rect = draw_bubble(surface)
            drawn["bubble"] = None if rect is None else list(rect)
            return rect

        bubble.draw = recorded  # type: ignore[method-assign]
        runner = ScriptRunner(parse_script(SCRIPT))
        run_loop(game, fps=60, script=runner, stats=FrameStats())
        if runner.error:
            print(f"game_screenshot: the script stopped: {runner.error}", file=sys.stderr)
            return 1
        args.out.parent.mkdir(parents=True, exist_ok=True)
        pygame.image.save(pygame.display.get_surface(), str(args.out))
        info = {
            "driver": pygame.display.get_driver(),
            "size": list(SCREEN_SIZE),
            "bubble": drawn.get("bubble"),
            "bubble_text": bubble.text,
            "panel": None if game.panel is None else list(game.panel.rect),
            "transcript": game.transcript,
        }
    finally:
        runtime.close()
        store.close()
        pygame.quit()
    if args.info:
        args.info.write_text(json.dumps(info, indent=2) + "\n")
    print(f"saved {args.out} ({info['driver']} window)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
