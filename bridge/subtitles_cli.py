"""``npc-ai subtitles``: live captions from a file or the microphone.

Prints each final caption (and its translations) as it comes, rewrites the partial caption
in place on a terminal, writes SRT/VTT files as it goes, and can show the captions in a
pygame window (``--overlay``) and on a page for an OBS Browser Source (``--web``). Ctrl-C
ends cleanly: the phrase under way is flushed and the subtitle files are left complete.

Only the arguments and the wiring live here: the sinks and the loop that feeds them are
:mod:`npc_ai.subtitles.output`.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from bridge.caption_page import CaptionServer, WebOptions
from npc_ai.errors import InputError
from npc_ai.pygame.caption_window import (  # imports pygame only when a window opens
    CaptionWindow,
    WindowOptions,
)
from npc_ai.subtitles.board import BoardOptions, OverlayStyle
from npc_ai.subtitles.output import (
    Session,
    Sink,
    SubtitleFile,
    TerminalPrinter,
    pump,
    translation_path,
)

if TYPE_CHECKING:
    from npc_ai.subtitles.speech.audio import AudioSource
    from npc_ai.translation import CachedTranslator as Translator

__all__ = ["add_parser"]

log = logging.getLogger(__name__)

MODELS = {"tiny.en": "whisper-tiny.en", "base": "whisper-base"}


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "subtitles",
        help="live captions (and translations) from an audio file or the microphone",
        description=(
            "Transcribe speech as it comes, print final captions and their translations, "
            "write SRT/VTT files, and show the captions in a window or a browser page for "
            "streaming software. Ctrl-C stops and leaves the subtitle files complete."
        ),
        epilog=(
            "examples: npc-ai subtitles --source talk.wav --srt talk.srt --vtt talk.vtt\n"
            "          npc-ai subtitles --source mic --translate es,fr --overlay --web 8765"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--source", default="mic", metavar="FILE|mic", help="an audio file, or mic (default)"
    )
    p.add_argument(
        "--model",
        choices=sorted(MODELS),
        default="tiny.en",
        help="speech model: tiny.en (English, fastest) or base (multilingual)",
    )
    p.add_argument(
        "--final-model",
        choices=(*sorted(MODELS), "same"),
        default="base",
        help="model for the final captions only (default: base, the most accurate within the "
        "latency targets; 'same': --model's own, fastest)",
    )
    p.add_argument(
        "--final-beam", type=int, default=1, metavar="N", help="beams for the finals (default 1)"
    )
    p.add_argument(
        "--language", metavar="CODE", help="spoken language for --model base (default: detect)"
    )
    p.add_argument(
        "--translate", metavar="CODES", default="", help="translate finals into these, e.g. es,fr"
    )
    p.add_argument(
        "--translator",
        choices=("auto", "argos", "apertium", "whisper"),
        default="auto",
        help="translation engine; whisper: the base model's own speech-to-English",
    )
    p.add_argument(
        "--realtime", action="store_true", help="pace a file like live audio (default: fast)"
    )
    p.add_argument(
        "--srt",
        metavar="OUT.srt",
        type=Path,
        help="write SubRip subtitles here (and each translation to OUT.<lang>.srt)",
    )
    p.add_argument(
        "--vtt",
        metavar="OUT.vtt",
        type=Path,
        help="write WebVTT subtitles here (and each translation to OUT.<lang>.vtt)",
    )
    p.add_argument(
        "--max-cps", type=float, default=17.0, help="reading speed limit, characters per second"
    )
    p.add_argument("--quiet", action="store_true", help="print nothing on stdout")
    look = p.add_argument_group("overlays")
    look.add_argument("--overlay", action="store_true", help="show a caption window (pygame)")
    look.add_argument(
        "--web",
        nargs="?",
        const=0,
        type=int,
        metavar="PORT",
        help="serve a caption page for an OBS Browser Source on 127.0.0.1 (no PORT: any free)",
    )
    look.add_argument("--font", help="a font file or an installed font's name")
    look.add_argument("--font-size", type=int, default=48, help="text height in px (48)")
    look.add_argument("--text-color", default="#FFFFFF", metavar="#RRGGBB")
    look.add_argument("--translation-color", default="#FFE14D", metavar="#RRGGBB")
    look.add_argument("--outline-color", default="#000000", metavar="#RRGGBB")
    look.add_argument("--outline-width", type=int, default=3, metavar="PX")
    look.add_argument("--position", choices=("bottom", "top"), default="bottom")
    look.add_argument("--margin", type=int, default=40, metavar="PX")
    look.add_argument("--max-lines", type=int, default=6, help="most text rows shown (6)")
    look.add_argument("--width", type=int, default=1280, help="window width in px")
    look.add_argument("--height", type=int, help="window height in px (default: fits the rows)")
    look.add_argument("--window-pos", metavar="X,Y", help="window place on the desktop")
    look.add_argument("--chroma-key", default="#00FF00", metavar="#RRGGBB")
    look.add_argument(
        "--transparent",
        action="store_true",
        help="see-through window background where supported (Windows), else the chroma key",
    )
    p.set_defaults(func=run)


# -- building from arguments ------------------------------------------------------------------


def _targets(args: argparse.Namespace) -> tuple[str, ...]:
    codes = tuple(dict.fromkeys(c.strip().lower() for c in args.translate.split(",") if c.strip()))
    if args.translator == "whisper":
        if args.model != "base":
            raise InputError("--translator whisper needs --model base (tiny.en is English only)")
        if codes not in ((), ("en",)):
            raise InputError("--translator whisper only translates into English (--translate en)")
        return ("en",)
    return codes


def _board_options(args: argparse.Namespace, targets: tuple[str, ...]) -> BoardOptions:
    return BoardOptions(languages=targets or None, reading_cps=args.max_cps)


def _style(args: argparse.Namespace) -> OverlayStyle:
    return OverlayStyle(
        font=args.font,
        font_size=args.font_size,
        text_color=args.text_color,
        translation_color=args.translation_color,
        outline_color=args.outline_color,
        outline_width=args.outline_width,
        position=args.position,
        margin=args.margin,
        max_lines=args.max_lines,
    )


def _window(args: argparse.Namespace, targets: tuple[str, ...]) -> CaptionWindow:
    x = y = None
    if args.window_pos:
        try:
            x, y = (int(v) for v in args.window_pos.split(","))
        except ValueError:
            raise InputError(f"--window-pos wants X,Y in pixels, not {args.window_pos!r}") from None
    options = WindowOptions(
        style=_style(args),
        width=args.width,
        height=args.height,
        x=x,
        y=y,
        background="transparent" if args.transparent else "chroma",
        chroma_key=args.chroma_key,
        antialias=not args.transparent,
    )
    return CaptionWindow(options, board_options=_board_options(args, targets))


def _server(args: argparse.Namespace, targets: tuple[str, ...]) -> CaptionServer:
    options = WebOptions(port=args.web, style=_style(args))
    return CaptionServer(options, board_options=_board_options(args, targets))


# -- the loop ---------------------------------------------------------------------------------


@contextlib.contextmanager
def stop_on_interrupt() -> Iterator[threading.Event]:
    """While inside, the first Ctrl-C sets the event (the loop then finishes cleanly); a
    second one raises KeyboardInterrupt as usual."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(signum: int, frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        log.warning("stopping (Ctrl-C again to quit at once)")

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)


# -- the command ------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> int:
    targets = _targets(args)
    with contextlib.ExitStack() as stack:
        sinks: list[Sink] = []
        window = _window(args, targets) if args.overlay else None
        if window is not None:
            stack.callback(window.close)
            window.open()  # fail early (no display) before loading models
        server = None
        if args.web is not None:
            server = _server(args, targets)
            server.start()
            stack.callback(server.close)
            print(f"captions page for OBS Browser Source: {server.url}", file=sys.stderr)
            sinks.append(lambda event: server.publish([event]))
        translated = () if args.translator == "whisper" else targets
        for path, fmt in ((args.srt, "srt"), (args.vtt, "vtt")):
            if path is None:
                continue
            files = [SubtitleFile(path, fmt, max_cps=args.max_cps)]
            stack.callback(files[0].close)
            for language in translated:
                more = SubtitleFile(
                    translation_path(path, language), fmt, max_cps=args.max_cps, language=language
                )
                stack.callback(more.close)
                files.append(more)
            sinks.extend(files)
        if not args.quiet:
            printer = TerminalPrinter(sys.stdout, live=sys.stdout.isatty())
            stack.callback(printer.close)
            sinks.append(printer)
        session = _open_session(args, targets, stack)
        with stop_on_interrupt() as stop:
            session.start()  # loads the model and opens the source: errors come out here
            stack.callback(session.stop)
            if pump(session, sinks, window=window, stop=stop):
                log.info("stopped before the end of the source")
            elif server is not None:
                # The source ended: leave the last lines on the page for their time.
                while server.lines and not stop.wait(0.1):
                    pass
    return 0


def _translator(args: argparse.Namespace, targets: tuple[str, ...]) -> Translator:
    """The translation backend, with every pair checked now (the error lists what is
    installed) when the spoken language is known."""
    from npc_ai.translation import check_pair, open_translator

    translator = open_translator(args.translator)
    source = "en" if args.model == "tiny.en" else args.language
    try:
        if source is None:
            log.warning(
                "the spoken language is detected per phrase; a phrase in a language without a "
                "translation pair shows an error instead of its translation (give --language)"
            )
        else:
            pairs = translator.pairs()
            for target in targets:
                check_pair(pairs, source, target, backend=args.translator)
    except BaseException:
        translator.close()
        raise
    return translator


def _audio_source(args: argparse.Namespace) -> AudioSource:
    from npc_ai.backends.mic import MicSource
    from npc_ai.backends.pyav import FileSource

    if args.source == "mic":
        return MicSource()
    path = Path(args.source)
    if not path.is_file():
        raise InputError(
            f"no audio file at {path}"
            + (" (it is a directory)" if path.is_dir() else "")
            + "; give --source FILE or --source mic"
        )
    return FileSource(path, realtime=args.realtime)


def _open_session(
    args: argparse.Namespace, targets: tuple[str, ...], closing: contextlib.ExitStack
) -> Session:
    from npc_ai.subtitles.live import LiveSubtitles, SubtitleOptions

    if args.model == "tiny.en" and args.language not in (None, "en"):
        raise InputError(
            f"--model tiny.en only understands English; use --model base --language {args.language}"
        )
    whisper_translates = args.translator == "whisper"
    options = SubtitleOptions(
        model=args.model,
        final_model=None if args.final_model == "same" else args.final_model,
        final_beam_size=max(1, args.final_beam),
        targets=() if whisper_translates else targets,
        realtime=args.realtime,
        language=args.language,
        task="translate" if whisper_translates else "transcribe",
    )
    translator = None
    if targets and not whisper_translates:
        translator = _translator(args, targets)
        closing.callback(translator.close)
    return LiveSubtitles(_audio_source(args), options=options, translator=translator)
