"""Caption layout and timing a subtitler would accept, and SRT / WebVTT output.

:func:`layout_cues` turns committed caption text with audio times (and word times when the
recogniser has them) into :class:`Cue` s following the usual timed-text rules
(:class:`CaptionOptions`: at most 42 characters a line, 2 lines, 17 characters a second,
5/6 s to 7 s on screen). The rules, in the order they are applied:

1. **Words.** A segment's words keep their times; without word times the segment's span is
   shared among its words in proportion to their length. Times are made monotonic; a word
   longer than a line is cut into line-long pieces.
2. **Cues.** A segment is cut into cues at the points that cost least overall (dynamic
   programming): every cue must fit the lines, must not span a silence longer than
   ``max_pause`` and, unless it is one word, its speech must last at most
   ``max_duration``; a cut after a full stop costs least, then after a comma,
   then before a conjunction or preposition, and a cut after an article or determiner
   (English, Spanish, French) is never made while another cut is possible. Pauses make
   cuts cheaper; very short cues and cues whose reading speed cannot be met before the
   next cue's speech cost more. Cues never span two segments.
3. **Lines.** A cue that fits one line stays on one line. Otherwise the break is chosen by
   the same costs plus balance between the lines (a slightly longer bottom line is
   preferred); never after an article while another break fits.
4. **Times** (integer milliseconds). A cue starts when its first word is spoken (or
   ``min_gap`` after the previous cue ends, if later). It ends at the latest of: its last
   word's end, ``min_duration`` after its start, and the time its text needs at
   ``max_cps`` -- but the extension stops at ``max_duration`` and always ``min_gap``
   before the next cue's first word. So a cue is shorter than ``min_duration`` (or reads
   faster than ``max_cps``) only when the next cue's speech follows within that time.

:func:`to_srt` and :func:`to_vtt` render cues; :class:`CueWriter` appends cues to a file as
finals arrive, flushing each, so a live session killed at any moment leaves a valid file;
:class:`LiveCaptions` lays out segment after segment for it.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import math
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Protocol

from npc_ai.errors import CaptionError

__all__ = [
    "CaptionOptions",
    "Cue",
    "CueWriter",
    "LiveCaptions",
    "Segment",
    "TimedText",
    "TimedWord",
    "break_lines",
    "format_timestamp",
    "layout_cues",
    "to_srt",
    "to_vtt",
    "write_srt",
    "write_vtt",
]


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Words a line or cue must not end on (the noun follows): articles, determiners, possessives.
DETERMINERS = _words(
    # English
    "a an the this these those my your his her its our their every each no some any "
    # Spanish
    "el la los las un una unos unas lo al del este esta estos estas ese esa esos esas "
    "aquel aquella mi mis tu tus su sus nuestro nuestra nuestros nuestras "
    # French
    "le les une des du au aux ce cet cette ces mon ma mes ton ta tes son sa ses notre "
    "nos votre vos leur leurs"
)
# Good places to start a new line or cue (and poor places to end one).
CONNECTIVES = _words(
    "and but or nor so yet because although while when where which who if than as to of "
    "in on at for with from by about into over after before under between through without "
    # Spanish
    "y e o u pero sino porque aunque que cuando donde si como de en con por para sin sobre "
    "entre hasta desde hacia "
    # French
    "et ou mais donc car ni qui quand où comme à dans avec pour par sans sur sous vers "
    "chez"
)

_SENTENCE_END = re.compile(r"[.!?…。！？][\"'”’»)\]]*$")
_CLAUSE_END = re.compile(r"[,;:—–][\"'”’»)\]]*$")
_EDGE_PUNCT = "\"'“”‘’«»¿¡()[]{}.,;:!?…—–-"

_FORBIDDEN = 1000.0


@dataclass(frozen=True, slots=True, kw_only=True)
class CaptionOptions:
    """Layout and timing rules (defaults: Netflix timed-text style for English).

    ``max_cps``: reading speed in characters (spaces included) per second. ``min_gap``:
    the least time between two cues, two frames at 24 fps by default. ``max_pause``: the
    longest silence inside one cue (needs word times to be seen).
    """

    max_chars_per_line: int = 42
    max_lines: int = 2
    max_cps: float = 17.0
    min_duration: float = 5 / 6
    max_duration: float = 7.0
    min_gap: float = 2 / 24
    max_pause: float = 1.5
    """A cue never spans a silence longer than this (its second half would show early)."""

    def __post_init__(self) -> None:
        if self.max_chars_per_line < 1 or self.max_lines < 1:
            raise CaptionError("max_chars_per_line and max_lines must be at least 1")
        if not (self.max_cps > 0 and 0 <= self.min_duration <= self.max_duration):
            raise CaptionError("need max_cps > 0 and 0 <= min_duration <= max_duration")
        if not (0 <= self.min_gap < 10):
            raise CaptionError("min_gap must be between 0 and 10 seconds")


class TimedWord(Protocol):
    """A word with audio times in seconds (``npc_ai.subtitles.speech.events.Word`` is one)."""

    @property
    def text(self) -> str: ...
    @property
    def start(self) -> float: ...
    @property
    def end(self) -> float: ...


class TimedText(Protocol):
    """Caption text with audio times (``npc_ai.subtitles.speech.events.Caption`` is one, and so is
    :class:`Segment`). A ``words`` attribute of :class:`TimedWord` s is used when present."""

    @property
    def text(self) -> str: ...
    @property
    def start(self) -> float: ...
    @property
    def end(self) -> float: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Segment:
    """Committed caption text from ``start`` to ``end`` seconds, with optional word times."""

    text: str
    start: float
    end: float
    words: tuple[TimedWord, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Cue:
    """One caption on screen from ``start`` to ``end`` seconds (millisecond precision)."""

    start: float
    end: float
    lines: tuple[str, ...]

    def __post_init__(self) -> None:
        if not (math.isfinite(self.start) and math.isfinite(self.end)):
            raise CaptionError(f"cue times must be finite, got {self.start}..{self.end}")
        if self.start < 0 or self.end <= self.start:
            raise CaptionError(f"a cue needs 0 <= start < end, got {self.start}..{self.end}")
        if not self.lines or any(not line.strip() or "\n" in line for line in self.lines):
            raise CaptionError(f"a cue needs non-empty single lines, got {self.lines!r}")

    @property
    def text(self) -> str:
        """The lines joined with newlines."""
        return "\n".join(self.lines)

    @property
    def duration(self) -> float:
        """Seconds on screen."""
        return self.end - self.start

    @property
    def chars(self) -> int:
        """Characters read, spaces and line breaks counted as one each."""
        return sum(len(line) for line in self.lines) + len(self.lines) - 1

    @property
    def cps(self) -> float:
        """Reading speed in characters per second."""
        return self.chars / self.duration


# -- words --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Token:
    text: str
    start: int  # ms
    end: int  # ms


def _ms(value: float, what: str) -> int:
    if not math.isfinite(value) or value < 0:
        raise CaptionError(f"{what} must be a finite time >= 0 seconds, got {value!r}")
    return round(value * 1000)


def _split_long(text: str, start: int, end: int, limit: int) -> list[_Token]:
    if len(text) <= limit:
        return [_Token(text, start, end)]
    pieces = [text[i : i + limit] for i in range(0, len(text), limit)]
    return _spread(pieces, start, end)


def _spread(words: Sequence[str], start: int, end: int) -> list[_Token]:
    """Share ``start..end`` among ``words`` in proportion to their length (+1 for a space)."""
    weights = [len(w) + 1 for w in words]
    total = sum(weights)
    out: list[_Token] = []
    done = 0
    for word, weight in zip(words, weights, strict=True):
        a = start + (end - start) * done // total
        done += weight
        b = start + (end - start) * done // total
        out.append(_Token(word, a, b))
    return out


def _tokens(segment: TimedText, limit: int) -> list[_Token]:
    start = _ms(segment.start, "segment start")
    end = _ms(segment.end, "segment end")
    if end < start:
        raise CaptionError(
            f"segment ends before it starts ({segment.start} > {segment.end}): {segment.text!r}"
        )
    words: Sequence[TimedWord] = getattr(segment, "words", ()) or ()
    raw: list[_Token] = []
    if words:
        for word in words:
            w_start, w_end = _ms(word.start, "word start"), _ms(word.end, "word end")
            parts = word.text.split()
            if parts:
                raw.extend(_spread(parts, w_start, max(w_start, w_end)))
    else:
        raw = _spread(segment.text.split(), start, end)
    tokens: list[_Token] = []
    floor = 0
    for token in raw:  # monotonic: recognisers' word times can jitter
        a = max(token.start, floor)
        b = max(token.end, a)
        floor = a
        tokens.extend(_split_long(token.text, a, b, limit))
    return tokens


def _bare(word: str) -> str:
    return word.strip(_EDGE_PUNCT).lower()


def _break_cost(left: str, right: str) -> float:
    """The cost of ending a line (or cue) after ``left`` with ``right`` coming next."""
    if _SENTENCE_END.search(left):
        return 0.0
    if _CLAUSE_END.search(left):
        return 1.0
    bare = _bare(left)
    if bare in DETERMINERS:
        return _FORBIDDEN
    if bare in CONNECTIVES:
        return 6.0
    if _bare(right) in CONNECTIVES:
        return 2.0
    return 4.0


# -- lines --------------------------------------------------------------------------------


def _best_lines(
    words: Sequence[str], max_chars: int, max_lines: int
) -> tuple[tuple[str, ...], float] | None:
    whole = " ".join(words)
    if len(whole) <= max_chars:
        return (whole,), 0.0
    n = len(words)
    costs = [_break_cost(words[i - 1], words[i]) for i in range(1, n)]
    for count in range(2, max_lines + 1):
        if len(whole) > count * max_chars + count - 1:
            continue
        best: tuple[tuple[str, ...], float] | None = None
        for cuts in itertools.combinations(range(1, n), count - 1):
            bounds = (0, *cuts, n)
            lines = tuple(" ".join(words[a:b]) for a, b in itertools.pairwise(bounds))
            lengths = [len(line) for line in lines]
            if max(lengths) > max_chars:
                continue
            cost = 3 * sum(costs[c - 1] for c in cuts) + (max(lengths) - min(lengths)) / 4
            if lengths[0] > lengths[-1]:
                cost += 0.5  # a bottom-heavy pair reads better
            if best is None or cost < best[1]:
                best = (lines, cost)
        if best is not None:
            return best
    return None


def break_lines(
    text: str | Sequence[str], *, max_chars: int = 42, max_lines: int = 2
) -> tuple[str, ...] | None:
    """``text`` broken into at most ``max_lines`` lines of at most ``max_chars``, at the
    most natural place; ``None`` when it cannot fit."""
    words = text.split() if isinstance(text, str) else list(text)
    if not words:
        return None
    found = _best_lines(words, max_chars, max_lines)
    return None if found is None else found[0]


# -- cues ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Chunk:
    lines: tuple[str, ...]
    start: int
    end: int


def _chunk_segment(tokens: list[_Token], options: CaptionOptions) -> list[_Chunk]:
    n = len(tokens)
    max_chars, max_lines = options.max_chars_per_line, options.max_lines
    capacity = max_lines * max_chars + max_lines - 1
    max_ms = round(options.max_duration * 1000)
    max_pause = round(options.max_pause * 1000)
    best: list[float] = [0.0] + [math.inf] * n
    choice: list[tuple[int, tuple[str, ...]]] = [(0, ())] * (n + 1)
    words = [t.text for t in tokens]
    for j in range(1, n + 1):
        length = -1
        for i in range(j - 1, -1, -1):
            length += len(words[i]) + 1
            if length > capacity:
                break
            if i < j - 1 and tokens[i + 1].start - tokens[i].end > max_pause:
                break
            if j - i > 1 and tokens[j - 1].end - tokens[i].start > max_ms:
                break
            if best[i] == math.inf:
                continue
            laid = _best_lines(words[i:j], max_chars, max_lines)
            if laid is None:
                continue
            cost = best[i] + 10.0 + laid[1]
            if j < n:
                pause = max(0, tokens[j].start - tokens[j - 1].end) / 1000
                cost += 8 * _break_cost(words[j - 1], words[j]) - 10 * min(pause, 1.0)
                room = max(tokens[j].start - tokens[i].start, 1) / 1000
                if length / room > options.max_cps:
                    cost += 2 * (length / room - options.max_cps)
            if length < 20 and not (i == 0 and j == n):
                cost += (20 - length) * 0.3
            if cost < best[j]:
                best[j] = cost
                choice[j] = (i, laid[0])
    chunks: list[_Chunk] = []
    j = n
    while j > 0:
        i, lines = choice[j]
        chunks.append(_Chunk(lines, tokens[i].start, tokens[j - 1].end))
        j = i
    chunks.reverse()
    return chunks


def layout_cues(
    segments: Iterable[TimedText],
    options: CaptionOptions | None = None,
    *,
    not_before: float = 0.0,
) -> list[Cue]:
    """Cues for ``segments`` (in time order) following ``options`` (see the module rules).

    ``not_before``: no cue starts earlier (a live caller passes the previous cue's end plus
    ``min_gap``, see :class:`LiveCaptions`). Empty segments give no cue. Raises
    :class:`~npc_ai.errors.CaptionError` for negative, non-finite or backwards times.
    """
    options = options or CaptionOptions()
    chunks: list[_Chunk] = []
    previous_start = -1.0
    for segment in segments:
        if segment.start < previous_start:
            raise CaptionError(
                f"segments must come in time order: {segment.text!r} starts at "
                f"{segment.start} s, before the previous one ({previous_start} s)"
            )
        previous_start = segment.start
        tokens = _tokens(segment, options.max_chars_per_line)
        if tokens:
            chunks.extend(_chunk_segment(tokens, options))
    return _time(chunks, options, _ms(not_before, "not_before"))


def _time(chunks: list[_Chunk], options: CaptionOptions, floor: int) -> list[Cue]:
    gap = round(options.min_gap * 1000)
    min_ms = round(options.min_duration * 1000)
    max_ms = round(options.max_duration * 1000)
    cues: list[Cue] = []
    end = floor - gap
    for k, chunk in enumerate(chunks):
        start = max(chunk.start, end + gap, floor)
        chars = sum(len(line) for line in chunk.lines) + len(chunk.lines) - 1
        reading = math.ceil(chars * 1000 / options.max_cps)
        spoken = max(chunk.end, start + 1)
        end = max(spoken, start + min_ms, start + reading)
        end = min(end, max(start + max_ms, spoken))
        if k + 1 < len(chunks):
            end = min(end, max(chunks[k + 1].start - gap, start + 1))
        cues.append(Cue(start=start / 1000, end=end / 1000, lines=chunk.lines))
    return cues


# -- SRT and WebVTT -----------------------------------------------------------------------


def format_timestamp(seconds: float, *, vtt: bool = False) -> str:
    """``HH:MM:SS,mmm`` (SRT) or ``HH:MM:SS.mmm`` (WebVTT)."""
    total = _ms(seconds, "a timestamp")
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


class LiveCaptions:
    """Lays out committed segments one by one, each after the cues already made.

    A cue already shown cannot be shortened, so a new segment's first cue starts at its
    speech or ``min_gap`` after the previous cue's end, whichever is later. With a
    ``writer``, every cue is appended to its file at once.
    """

    def __init__(self, options: CaptionOptions | None = None, writer: CueWriter | None = None):
        self.options = options or CaptionOptions()
        self.writer = writer
        self.cues: list[Cue] = []

    def add(self, segment: TimedText) -> list[Cue]:
        """Cues for one more committed segment (written if there is a writer)."""
        floor = self.cues[-1].end + self.options.min_gap if self.cues else 0.0
        cues = layout_cues([segment], self.options, not_before=floor)
        if self.writer is not None:
            self.writer.write_all(cues)
        self.cues.extend(cues)
        return cues
