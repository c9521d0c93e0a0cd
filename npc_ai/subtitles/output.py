"""Where caption events go: subtitle files, a terminal, a caption view, fed by :func:`pump`.

A *sink* is any callable that takes every event (:class:`SubtitleFile` writes SRT/WebVTT as it
goes, :class:`TerminalPrinter` prints finals and rewrites the partial, the caption page's
``publish``); :func:`pump` drives a session (:class:`~npc_ai.subtitles.live.LiveSubtitles` or
a fake) into sinks and, optionally, a caption view such as the pygame
:class:`~npc_ai.pygame.caption_window.CaptionWindow`, until the session ends or is stopped.

Example::

    with LiveSubtitles(FileSource("talk.wav")) as session:
        srt = SubtitleFile(Path("talk.srt"), "srt", max_cps=17.0)
        try:
            pump(session, [srt])
        finally:
            srt.close()
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Protocol, TextIO

from npc_ai.errors import CaptionError, InputError
from npc_ai.subtitles.board import CaptionBoard
from npc_ai.subtitles.speech.events import Caption, CaptionTranslation, SubtitleError, SubtitleEvent

__all__ = [
    "CaptionView",
    "Session",
    "Sink",
    "SubtitleFile",
    "TerminalPrinter",
    "pump",
    "translation_path",
]

log = logging.getLogger(__name__)


class Session(Protocol):
    """What :func:`pump` needs of :class:`~npc_ai.subtitles.live.LiveSubtitles` (fakes in
    tests)."""

    def start(self) -> None: ...
    def poll(self, max_events: int | None = None) -> list[SubtitleEvent]: ...
    def events(self, timeout: float | None = None) -> Iterator[SubtitleEvent]: ...
    def stop(self) -> None: ...
    @property
    def done(self) -> bool: ...


class Sink(Protocol):
    """Something that takes every event: a subtitle file writer, the web page, the terminal."""

    def __call__(self, event: SubtitleEvent) -> None: ...


class CaptionView(Protocol):
    """A view that draws a caption board frame by frame (the pygame caption window)."""

    @property
    def board(self) -> CaptionBoard: ...

    def frame(self, events: Iterable[SubtitleEvent]) -> bool:
        """Take ``events``, draw; False once the view was closed."""
        ...


def pump(
    session: Session,
    sinks: Iterable[Sink],
    *,
    window: CaptionView | None = None,
    stop: threading.Event | None = None,
    poll_seconds: float = 0.1,
    flush_seconds: float = 30.0,
) -> bool:
    """Feed every event of ``session`` to ``sinks`` (and the window) until the session ends,
    the window is closed or ``stop`` is set; then stop the session and feed what it flushes
    (the phrase under way, as a final). True if it ended early (stop or window closed)."""
    sinks = list(sinks)
    stop = stop or threading.Event()

    def take(events: Iterable[SubtitleEvent]) -> list[SubtitleEvent]:
        taken = []
        for event in events:
            taken.append(event)
            for sink in sinks:
                sink(event)
            if stop.is_set() and window is None:
                break
        return taken

    early = False
    if window is None:
        while not session.done and not stop.is_set():
            take(session.events(timeout=poll_seconds))
    else:
        while window.frame(take(session.poll())):
            if stop.is_set() or (session.done and not window.board.lines):
                break
        else:
            early = True  # the window was closed
    early = early or stop.is_set()
    session.stop()
    deadline = time.monotonic() + flush_seconds
    while True:
        got = take(session.poll())
        if window is not None and window.frame(got) is False:
            break
        if (session.done and not got) or time.monotonic() > deadline:
            break
        if not got:
            time.sleep(0.02)
    take(session.poll())
    return early


class SubtitleFile:
    """Lays out each final caption (or, with ``language``, each translation into it) as cues
    and appends them to an SRT or WebVTT file, each cue flushed as written, so the file is
    valid at any moment."""

    def __init__(
        self, path: Path, fmt: str, *, max_cps: float, language: str | None = None
    ) -> None:
        from npc_ai.subtitles.captions import CaptionOptions, CueWriter, LiveCaptions

        try:
            writer = CueWriter(path, fmt=fmt)
        except OSError as exc:
            raise InputError(f"cannot write {path}: {exc.strerror or exc}") from exc
        self.path = path
        self.language = language
        self._writer = writer
        self._live = LiveCaptions(CaptionOptions(max_cps=max_cps), writer=writer)

    def __call__(self, event: SubtitleEvent) -> None:
        if self.language is None:
            wanted = isinstance(event, Caption) and event.final
        else:
            wanted = isinstance(event, CaptionTranslation) and event.target == self.language
        if not wanted:
            return
        assert isinstance(event, (Caption, CaptionTranslation))
        if not event.text.strip():
            return
        try:
            self._live.add(event)
        except CaptionError as exc:  # keep the session and the file going
            log.warning("%s: caption at %.1f s left out: %s", self.path, event.start, exc)

    def close(self) -> None:
        """Close the file (every cue is already in it)."""
        self._writer.close()


def translation_path(path: Path, language: str) -> Path:
    """Where the subtitles in ``language`` go next to ``path``: talk.srt -> talk.es.srt."""
    return path.with_name(f"{path.stem}.{language}{path.suffix}")


def _clock(seconds: float) -> str:
    minutes, secs = divmod(max(0.0, seconds), 60)
    hours, minutes = divmod(int(minutes), 60)
    return f"{hours:d}:{minutes:02d}:{secs:04.1f}"


class TerminalPrinter:
    """Finals and translations as lines; on a terminal, the partial as a rewritten line.
    Errors go to the log."""

    def __init__(self, out: TextIO, *, live: bool) -> None:
        self._out = out
        self._live = live
        self._partial = ""

    def __call__(self, event: SubtitleEvent) -> None:
        if isinstance(event, Caption):
            if not event.final:
                if self._live:
                    self._show_partial(event.text.strip())
                return
            if event.text.strip():
                self._line(f"[{_clock(event.start)}] {event.text.strip()}")
            if self._live:
                self._show_partial("")
        elif isinstance(event, CaptionTranslation):
            self._line(f"{'':>12}{event.target}: {event.text.strip()}")
        elif isinstance(event, SubtitleError):
            level = logging.ERROR if event.fatal else logging.WARNING
            log.log(level, "%s", event.error.message)

    def close(self) -> None:
        """Clear the partial line."""
        if self._live and self._partial:
            self._show_partial("")

    def _line(self, text: str) -> None:
        partial = self._partial
        if self._live and partial:
            self._show_partial("")
        self._out.write(text + "\n")
        self._out.flush()
        if self._live and partial:
            self._show_partial(partial)

    def _show_partial(self, text: str) -> None:
        width = max(20, shutil.get_terminal_size().columns - 1)  # one row: \r can rewrite it
        shown = text if len(text) <= width else "…" + text[-(width - 1) :]
        self._out.write("\r\x1b[K" + (f"\x1b[2m{shown}\x1b[0m" if shown else ""))
        self._out.flush()
        self._partial = text
