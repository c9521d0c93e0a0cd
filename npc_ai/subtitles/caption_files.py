"""SRT and WebVTT: cues as subtitle text, written whole or appended one by one.

:func:`to_srt` and :func:`to_vtt` render cues; :func:`write_srt` and :func:`write_vtt`
write them; :class:`CueWriter` appends cues to a file as finals arrive, flushing each,
so a live session killed at any moment leaves a valid file. Import them from
:mod:`npc_ai.subtitles.captions`.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO

from npc_ai.errors import CaptionError
from npc_ai.subtitles.cues import Cue, milliseconds

__all__ = ["CueWriter", "format_timestamp", "to_srt", "to_vtt", "write_srt", "write_vtt"]


def format_timestamp(seconds: float, *, vtt: bool = False) -> str:
    """``HH:MM:SS,mmm`` (SRT) or ``HH:MM:SS.mmm`` (WebVTT)."""
    total = milliseconds(seconds, "a timestamp")
    hours, rest = divmod(total, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{'.' if vtt else ','}{millis:03d}"


def _vtt_text(line: str) -> str:
    return line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _block(cue: Cue, index: int, vtt: bool) -> str:
    times = f"{format_timestamp(cue.start, vtt=vtt)} --> {format_timestamp(cue.end, vtt=vtt)}"
    lines = [_vtt_text(line) for line in cue.lines] if vtt else list(cue.lines)
    head = times if vtt else f"{index}\n{times}"
    return head + "\n" + "\n".join(lines) + "\n\n"


def _check_order(cues: Sequence[Cue], after: float = 0.0) -> None:
    for cue in cues:
        if cue.start < after:
            raise CaptionError(
                f"cue {cue.text!r} starts at {cue.start} s, before the previous cue ends "
                f"({after} s): caption times must never go backwards"
            )
        after = cue.end


def to_srt(cues: Sequence[Cue], *, first_index: int = 1) -> str:
    """SubRip text: numbered blocks, ``HH:MM:SS,mmm`` times. Times must not go backwards."""
    _check_order(cues)
    return "".join(_block(cue, i, False) for i, cue in enumerate(cues, first_index))


def to_vtt(cues: Sequence[Cue]) -> str:
    """WebVTT text: the ``WEBVTT`` header, then blocks with ``HH:MM:SS.mmm`` times."""
    _check_order(cues)
    return "WEBVTT\n\n" + "".join(_block(cue, 0, True) for cue in cues)


def write_srt(cues: Sequence[Cue], target: str | os.PathLike[str] | IO[str]) -> None:
    """Write :func:`to_srt` to a path (UTF-8) or an open text file."""
    _write(to_srt(cues), target)


def write_vtt(cues: Sequence[Cue], target: str | os.PathLike[str] | IO[str]) -> None:
    """Write :func:`to_vtt` to a path (UTF-8) or an open text file."""
    _write(to_vtt(cues), target)


def _write(text: str, target: str | os.PathLike[str] | IO[str]) -> None:
    if isinstance(target, (str, os.PathLike)):
        Path(target).write_text(text, encoding="utf-8")
    else:
        target.write(text)


class CueWriter:
    """Appends cues to an SRT or WebVTT file one at a time, flushing each.

    ``target``: a path (created or truncated; the format follows its suffix unless
    ``fmt`` says ``"srt"`` or ``"vtt"``) or an open text file (``fmt`` required; not closed
    here). Each cue is written in one call and flushed (``fsync`` also syncs it to disk), so
    the file is valid whenever the process dies. A cue starting before the previous one
    ended raises :class:`~npc_ai.errors.CaptionError` and writes nothing.
    """

    def __init__(
        self,
        target: str | os.PathLike[str] | IO[str],
        *,
        fmt: str | None = None,
        fsync: bool = False,
    ) -> None:
        if isinstance(target, (str, os.PathLike)):
            path = Path(target)
            fmt = fmt or path.suffix.lstrip(".").lower()
            self._check_format(fmt)
            self._file: IO[str] = path.open("w", encoding="utf-8", newline="\n")
            self._owned = True
        else:
            self._check_format(fmt)
            self._file = target
            self._owned = False
        self.vtt = fmt == "vtt"
        self.fsync = fsync
        self.next_index = 1
        self.last_end = 0.0
        if self.vtt:
            self._emit("WEBVTT\n\n")

    @staticmethod
    def _check_format(fmt: str | None) -> None:
        if fmt not in ("srt", "vtt"):
            raise CaptionError(f"caption format must be 'srt' or 'vtt', got {fmt!r}")

    def _emit(self, text: str) -> None:
        self._file.write(text)
        self._file.flush()
        if self.fsync:
            with contextlib.suppress(OSError, io.UnsupportedOperation):
                os.fsync(self._file.fileno())

    def write(self, cue: Cue) -> None:
        """Append one cue."""
        _check_order([cue], self.last_end)
        self._emit(_block(cue, self.next_index, self.vtt))
        self.next_index += 1
        self.last_end = cue.end

    def write_all(self, cues: Iterable[Cue]) -> None:
        """Append cues in order."""
        for cue in cues:
            self.write(cue)

    def close(self) -> None:
        """Close the file if this writer opened it."""
        if self._owned and not self._file.closed:
            self._file.close()

    def __enter__(self) -> CueWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
