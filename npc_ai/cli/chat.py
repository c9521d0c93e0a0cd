"""``npc-ai chat``: talk to an NPC in the terminal."""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from npc_ai.dialogue.npc import Npc
from npc_ai.errors import InputError

__all__ = ["add_parser"]


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "chat",
        help="talk to an NPC in the terminal",
        description=(
            "Talk to the NPC a persona file describes; its replies stream as they are "
            "generated. Type a line and press Enter; Ctrl-C stops a reply, Ctrl-D (or /quit) "
            "leaves, /reset forgets the conversation."
        ),
        epilog="example: npc-ai chat sample_game/personas/blacksmith.toml --once 'Hello!' --seed 7",
    )
    p.add_argument("persona", help="the persona TOML file (see docs/PERSONA.md)")
    p.add_argument("--once", metavar="TEXT", help="say TEXT, print the one reply and exit")
    p.add_argument("--seed", type=int, help="make replies reproducible (same seed, same reply)")
    p.add_argument("--model", metavar="PATH", help="a GGUF file instead of the default model")
    p.add_argument("--threads", type=int, help="generation threads (default: leave one core free)")
    p.add_argument("--context", type=int, default=2048, help="context size in tokens")
    p.add_argument("--player-name", default="Player", help="how the player is named in the scene")
    p.add_argument("--max-tokens", type=int, default=60, help="longest reply in tokens")
    p.add_argument("--temperature", type=float, default=0.3, help="sampling temperature")
    p.add_argument(
        "--language",
        metavar="CODE",
        help="talk in this language (e.g. es): your lines are translated for the NPC and its "
        "replies back, with apertium or an installed Argos pack",
    )
    p.add_argument(
        "--translator",
        choices=("auto", "argos", "apertium"),
        default="auto",
        help="translation backend for --language (default: auto)",
    )
    p.add_argument(
        "--memory",
        metavar="FILE",
        help="remember across sessions in this SQLite file (facts, what was said)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from npc_ai.backends.llama_cpp import LlamaCppGenerator, LlamaOptions
    from npc_ai.cli.models import progress_bar
    from npc_ai.dialogue.npc import DialogueOptions
    from npc_ai.dialogue.persona import load_persona
    from npc_ai.models import DEFAULT_MODEL, resolve_model

    persona = load_persona(args.persona)
    dialogue = DialogueOptions(
        player_name=args.player_name,
        max_tokens=args.max_tokens,
        temperature=args.temperature,
    )
    llama = LlamaOptions(context_size=args.context, threads=args.threads)
    with progress_bar() as progress:
        path = resolve_model(DEFAULT_MODEL, path=args.model, progress=progress)
    interpreter = None
    if args.language:
        from npc_ai.dialogue.interpret import Interpreter
        from npc_ai.translation import open_translator

        translator = open_translator(args.translator)
        interpreter = Interpreter(translator, player=args.language, npc=persona.language)
    memory = None
    if args.memory:
        from npc_ai.memory import MemoryStore, NpcMemory

        memory = NpcMemory(
            MemoryStore(args.memory), persona.name, persona=persona, player=args.player_name
        )
    with LlamaCppGenerator(path, options=llama) as model:
        npc = Npc(persona, model, options=dialogue, memory=memory, interpreter=interpreter)
        if args.once is not None:
            print(npc.reply(args.once, seed=args.seed))
            return 0
        return _interactive(npc, args.seed, sys.stdin, sys.stdout)


def _interactive(npc: Npc, seed: int | None, stdin: TextIO, out: TextIO) -> int:
    name = npc.persona.name
    tty = stdin.isatty()
    if npc.greet():
        print(f"{name}: {npc.greet()}", file=out)
    if tty:
        print("(type a line and press Enter; Ctrl-C stops a reply, Ctrl-D leaves)", file=out)
    turn = 0
    while True:
        try:
            line = input("> ") if tty else stdin.readline()
        except (EOFError, KeyboardInterrupt):
            print(file=out)
            return 0
        if not tty and line == "":
            return 0
        line = line.strip()
        if not line:
            continue
        if line in ("/quit", "/exit"):
            return 0
        if line == "/reset":
            npc.reset()
            print("(conversation forgotten)", file=out)
            continue
        try:
            reply = npc.say(line, seed=None if seed is None else seed + turn)
        except InputError as exc:
            print(f"({exc.message})", file=out)
            continue
        turn += 1
        print(f"{name}: ", end="", file=out, flush=True)
        try:
            for piece in reply:
                print(piece, end="", file=out, flush=True)
        except KeyboardInterrupt:
            reply.cancel()
            print(" —", end="", file=out)
        print(file=out, flush=True)
