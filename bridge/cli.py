"""``npc-ai serve``: the msgpack bridge for Godot, Unity and other engines.

The core CLI (:mod:`npc_ai.cli`) must never import the bridge, so this
subcommand is a plug-in: pyproject.toml registers this module in the
``npc_ai.cli`` entry-point group, and the core CLI adds every module of that
group with its ``add_parser``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
from pathlib import Path
from typing import TYPE_CHECKING

from bridge.protocol import Limits
from npc_ai.errors import InputError

if TYPE_CHECKING:
    from bridge.media import SubtitleFactory
    from bridge.server import BridgeServer
    from npc_ai.subtitles.live import LiveSubtitles
    from npc_ai.subtitles.speech.audio import PushSource
    from npc_ai.translation import CachedTranslator

__all__ = ["add_parser"]

log = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "serve",
        help="serve NPCs to a game engine over the msgpack bridge",
        description=(
            "Serve NPC dialogue to Godot, Unity or any program that speaks the bridge "
            "protocol (docs/PROTOCOL.md): over TCP on 127.0.0.1, with a discovery file "
            "holding the port and a per-start token, or over stdin/stdout when the engine "
            "spawns this process."
        ),
        epilog="example: npc-ai serve --port 50123 --token secret --personas sample_game/personas",
    )
    how = p.add_mutually_exclusive_group()
    how.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (default: free)")
    how.add_argument(
        "--stdio", action="store_true", help="speak over stdin/stdout (one client) instead of TCP"
    )
    p.add_argument("--token", help="the token clients must send (default: a new random one)")
    p.add_argument(
        "--personas",
        metavar="DIR",
        action="append",
        default=[],
        help="a folder npc.load may read persona files from (repeatable)",
    )
    p.add_argument(
        "--discovery",
        metavar="PATH",
        help="write the discovery file here instead (run a second server with its own file)",
    )
    p.add_argument("--no-discovery", action="store_true", help="write no discovery file")
    p.add_argument("--max-frame", type=int, default=1 << 20, help="largest frame payload in bytes")
    p.add_argument(
        "--max-clients",
        type=int,
        default=Limits().max_clients,
        metavar="N",
        help="clients served at once; a hello past them is refused (default: %(default)s)",
    )
    p.add_argument("--model", metavar="PATH", help="a GGUF file instead of the default model")
    p.add_argument("--threads", type=int, help="generation threads (default: leave one core free)")
    p.add_argument("--context", type=int, default=2048, help="context size per NPC in tokens")
    p.add_argument(
        "--subtitle-model",
        default="tiny.en",
        choices=("tiny.en", "base"),
        help="speech model of subtitle sessions (base: multilingual)",
    )
    p.add_argument(
        "--subtitle-workers",
        type=int,
        default=1,
        choices=(1, 2, 3, 4),
        help="passes the shared speech model runs at once (2 keeps two sessions at their "
        "one-session latency, for about 30 MB more; docs/BENCHMARKS.md)",
    )
    p.add_argument("--no-subtitles", action="store_true", help="offer no subtitle.* methods")
    p.add_argument(
        "--memory",
        metavar="PATH",
        default=":memory:",
        help="NPC memory database file (default: in memory, kept while the server runs; "
        "games save it with npc.export)",
    )
    p.add_argument(
        "--translator",
        default="auto",
        choices=("auto", "argos", "apertium", "none"),
        help="translation backend of translate.text and subtitle translations",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from bridge.discovery import check_discovery_free, default_discovery_path
    from bridge.server import BridgeServer, ServerOptions, claim_stdout
    from npc_ai.backends.llama_cpp import LlamaOptions
    from npc_ai.backends.llama_engine import EngineOptions
    from npc_ai.memory import MemoryStore
    from npc_ai.runtime import Runtime, RuntimeOptions

    for folder in args.personas:
        if not Path(folder).is_dir():
            log.warning("persona folder %s does not exist", folder)
    if args.max_clients < 1:
        raise InputError(f"--max-clients must be at least 1, got {args.max_clients}")
    options = ServerOptions(
        port=args.port,
        token=args.token,
        limits=Limits(max_frame=args.max_frame, max_clients=args.max_clients),
        persona_dirs=tuple(Path(d) for d in args.personas),
        discovery=Path(args.discovery) if args.discovery else None,
        write_discovery=not args.no_discovery and not args.stdio,
    )
    if options.write_discovery:
        # Before the model loads: a second server learns at once that the file is taken.
        check_discovery_free(options.discovery or default_discovery_path())
    # Over stdio, stdout carries frames: from here on nothing else may write to it.
    out_fd = claim_stdout() if args.stdio else None
    engine_options = EngineOptions(
        llama=LlamaOptions(context_size=args.context, threads=args.threads)
    )
    translator = _translator(args.translator)
    subtitles = (
        None
        if args.no_subtitles
        else _subtitle_factory(args.subtitle_model, translator, workers=args.subtitle_workers)
    )
    try:
        # The server is not a game: a larger budget hands over more text per poll.
        runtime_options = RuntimeOptions(budget_ms=5.0)
        with (
            MemoryStore(args.memory) as store,
            Runtime.from_model(
                args.model, options=runtime_options, engine_options=engine_options, memory=store
            ) as runtime,
        ):
            server = BridgeServer(runtime, options, translator=translator, subtitles=subtitles)
            asyncio.run(_main(server, out_fd=out_fd, token=args.token))
    finally:
        if translator is not None:
            translator.close()
    return 0


def _translator(backend: str) -> CachedTranslator | None:
    """The translator, or None (with a warning) when no backend is installed."""
    if backend == "none":
        return None
    from npc_ai.errors import TranslatorUnavailableError
    from npc_ai.translation import open_translator

    try:
        return open_translator(backend)
    except TranslatorUnavailableError as exc:
        log.warning("serving without translation: %s", exc.message)
        return None


def _subtitle_factory(
    model: str, translator: CachedTranslator | None, *, workers: int = 1
) -> SubtitleFactory:
    """Live subtitles on faster-whisper; sessions share one loaded model per name (loaded
    when the first starts, dropped with the last)."""
    from npc_ai.subtitles.live import LiveSubtitles, SubtitleOptions

    def make(source: PushSource, language: str | None, targets: tuple[str, ...]) -> LiveSubtitles:
        options = SubtitleOptions(model=model, language=language, targets=targets, workers=workers)
        return LiveSubtitles(source, options=options, translator=translator)

    return make


async def _main(server: BridgeServer, *, out_fd: int | None, token: str | None) -> None:
    loop = asyncio.get_running_loop()
    if out_fd is not None:
        await server.serve_stdio(token, out_fd=out_fd)
        return
    await server.start()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # Windows has none
            loop.add_signal_handler(sig, server.stop)
    await server.run()
