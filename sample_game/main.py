"""``python -m sample_game``: the command line, the set-up, and the frame loop.

Everything is built here, once (the runtime on the model, the memory store, the
translator, the cast), and handed to :class:`~sample_game.game.Game`. Without a display
(no ``DISPLAY`` or ``WAYLAND_DISPLAY``) the game says so and plays its tour script
headless instead of failing.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import logging
import os
import sys
import tempfile
from collections import deque
from collections.abc import Sequence
from pathlib import Path

import pygame

from npc_ai import MemoryStore, NpcAiError, Runtime, open_translator
from sample_game.backend import Hearsay, Npcs
from sample_game.cast import DEFAULT_PERSONAS, load_cast
from sample_game.game import SCREEN_SIZE, Game, GameOptions
from sample_game.languages import LANGUAGE_NAMES, Languages
from sample_game.remote import RemoteHearsay, RemoteRuntime, parse_address
from sample_game.script import ScriptError, ScriptRunner, load_script
from sample_game.stats import FrameStats
from sample_game.voice import Voice

__all__ = ["DEFAULT_SCRIPT", "main", "run_loop"]

DEFAULT_SCRIPT = Path(__file__).resolve().parent / "scripts" / "tour.txt"

#: How long ``--bridge`` waits for the server's hello (a server the game starts loads its
#: model first).
BRIDGE_START_TIMEOUT = 180.0

HELP_KEYS = """\
keys:
  arrows / WASD   walk
  E               talk to the NPC next to you (type, Enter to say it, Esc to leave)
  V (hold)        push-to-talk: say your line aloud to the NPC next to you (microphone,
                  Whisper tiny.en); with nothing typed yet, V speaks instead of typing
  L               switch your language (NPC lines are translated; they think in theirs)
  C               captions of every NPC line on or off
  F3              frame and model numbers (HUD)
  F5 / F9         save / load the slot (the world and what the NPCs remember)
  Esc             menu: resume, save, load, quit

Walk up to the smith with your notched sword, ask the guard the way, ask Marta for a
room. Stand near two NPCs and they talk among themselves, and pass on what you told them.
"""


def _default_save() -> Path:
    data = os.environ.get("XDG_DATA_HOME") or os.path.join(Path.home(), ".local", "share")
    return Path(data) / "thornvale" / "slot1.json"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m sample_game",
        description="Thornvale: a small pygame village whose NPCs talk through npc-ai, "
        "on a local model.",
        epilog=HELP_KEYS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--model",
        metavar="PATH",
        help="a GGUF dialogue model (default: npc-ai's default model, Gemma 3 270M)",
    )
    parser.add_argument(
        "--personas",
        metavar="DIR",
        type=Path,
        default=DEFAULT_PERSONAS,
        help="folder of persona files, one NPC each (default: the four of Thornvale)",
    )
    parser.add_argument(
        "--save",
        metavar="FILE",
        type=Path,
        help=f"the save slot (default: {_default_save()}; headless: a temporary file)",
    )
    parser.add_argument(
        "--headless",
        action="store_true",
        help="no window (SDL's dummy driver): play a script and print the transcript "
        "and frame statistics",
    )
    parser.add_argument(
        "--script",
        metavar="FILE",
        type=Path,
        help=f"play this script (default with --headless: {DEFAULT_SCRIPT.name}); "
        "see sample_game/script.py for the commands",
    )
    parser.add_argument(
        "--language",
        metavar="CODE",
        help="the player's language at the start, e.g. es (default: en; L switches)",
    )
    parser.add_argument(
        "--bridge",
        nargs="?",
        const="spawn",
        metavar="ADDRESS",
        help="play as a client of `npc-ai serve` over the bridge: alone, the game starts the "
        "server (over stdio); or ADDRESS: a discovery file, 'auto' (the default discovery "
        "file), or HOST:PORT with --bridge-token",
    )
    parser.add_argument("--bridge-token", metavar="TOKEN", help="the token of --bridge HOST:PORT")
    parser.add_argument("--captions", action="store_true", help="captions on from the start")
    parser.add_argument(
        "--no-ambient", action="store_true", help="NPCs do not talk among themselves"
    )
    parser.add_argument("--seed", type=int, help="seed of idle walks and small talk")
    parser.add_argument("--fps", type=int, default=60, help="frame rate (default: 60)")
    return parser.parse_args(argv)


def has_display() -> bool:
    """Whether a window can be opened (always assumed off Linux)."""
    if not sys.platform.startswith("linux"):
        return True
    if os.environ.get("SDL_VIDEODRIVER") in ("dummy", "offscreen"):
        return False
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def run_loop(
    game: Game,
    *,
    fps: int,
    script: ScriptRunner | None,
    stats: FrameStats,
    speed: float = 1.0,
) -> None:
    """The frame loop: wait for the frame, then input, update, draw and flip, timed.

    ``speed`` runs the game's clock faster than the wall clock (tests walk quicker).
    """
    clock = pygame.time.Clock()
    while True:
        dt = clock.tick(fps) / 1000 * speed
        stats.start()
        events = pygame.event.get()
        if script is not None:
            events += script.step(game, dt)
        alive = game.frame(dt, events)
        if alive:
            pygame.display.flip()
        stats.stop(generating=game.generating, io=game.did_io)
        if not alive or (script is not None and script.done):
            return


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    headless = args.headless
    script_path = args.script
    if not headless and not has_display():
        print(
            "No display here (neither DISPLAY nor WAYLAND_DISPLAY is set): playing the "
            "scripted tour headless instead. Run it on a desktop to play.",
            file=sys.stderr,
        )
        headless = True
    if headless:
        os.environ["SDL_VIDEODRIVER"] = "dummy"
        script_path = script_path or DEFAULT_SCRIPT
    if headless or args.script:
        os.environ.setdefault("SDL_AUDIODRIVER", "dummy")  # no sound is played
    pygame.init()  # before parsing a script: key names need it
    try:
        script = (
            ScriptRunner(load_script(script_path), folder=script_path.parent)
            if script_path
            else None
        )
    except ScriptError as exc:
        print(f"thornvale: {exc}", file=sys.stderr)
        return 2
    cast, problems = load_cast(args.personas)
    for problem in problems:
        print(f"thornvale: {problem}", file=sys.stderr)
    if not cast:
        print(f"thornvale: no NPC could be loaded from {args.personas}", file=sys.stderr)
        return 2
    save = args.save or (
        Path(tempfile.mkdtemp(prefix="thornvale-")) / "slot1.json" if headless else _default_save()
    )
    try:
        translator = open_translator("auto")
    except NpcAiError as exc:
        translator = None
        problems.append(f"English only: no translator ({exc})")
    languages = Languages(translator)
    if args.language:
        try:
            languages.set(args.language)
        except ValueError as exc:
            print(f"thornvale: {exc}", file=sys.stderr)
            return 2
    store: MemoryStore | None = None
    hearsay: Hearsay | None = None
    notices: deque[str] | None = None
    runtime: Npcs
    if args.bridge:
        try:
            address = parse_address(args.bridge, token=args.bridge_token)
        except ValueError as exc:
            print(f"thornvale: {exc}", file=sys.stderr)
            return 2
        print(f"thornvale: connecting to {address.describe()}...", file=sys.stderr)
        remote = RemoteRuntime(address.connect(model=args.model))
        try:
            hello = remote.wait_ready(BRIDGE_START_TIMEOUT)
        except (NpcAiError, concurrent.futures.TimeoutError) as exc:
            remote.close()
            print(f"thornvale: cannot reach {address.describe()}: {exc}", file=sys.stderr)
            return 2
        problems.append(f"Playing over the bridge: {hello.get('server', 'npc-ai serve')}.")
        runtime, hearsay, notices = remote, RemoteHearsay(remote), remote.problems
    else:
        store = MemoryStore()  # this session's memory; the save slots keep it
        try:
            runtime = Runtime.from_model(args.model, memory=store)
        except NpcAiError as exc:
            print(f"thornvale: cannot load the dialogue model: {exc}", file=sys.stderr)
            return 2
    stats = FrameStats()
    voice = Voice()  # nothing is opened or loaded until V is pressed
    try:
        pygame.display.set_caption("Thornvale")
        screen = pygame.display.set_mode(SCREEN_SIZE)
        options = GameOptions(
            save_path=save, ambient=not args.no_ambient, seed=args.seed, captions=args.captions
        )
        game = Game(
            screen,
            runtime,
            cast,
            options,
            languages=languages,
            voice=voice,
            problems=problems,
            hearsay=hearsay,
            notices=notices,
        )
        if args.language:
            game.talk.set_language(args.language)
        game.note(f"You speak {LANGUAGE_NAMES.get(languages.current, languages.current)}.")
        run_loop(game, fps=args.fps, script=script, stats=stats)
    finally:
        voice.close()
        runtime.close()  # returns at once even while NPCs are mid-reply
        languages.close()
        if store is not None:
            store.close()
        if translator is not None:
            translator.close()
        pygame.quit()
    if headless:
        print("\n".join(game.transcript))
        print()
        print(stats.summary())
    if script is not None and script.error:
        print(f"thornvale: the script stopped: {script.error}", file=sys.stderr)
        return 1
    return 0
