"""Caption layout: timed text cut into cues, cue lines broken, cue times set.

:func:`layout_cues` applies the rules listed in :mod:`npc_ai.subtitles.captions` (words,
cues, lines, times, in that order); :func:`break_lines` is the line-breaking step alone.
Both are re-exported there, which is where to import them from.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from npc_ai.errors import CaptionError
from npc_ai.subtitles.cues import CaptionOptions, Cue, TimedText, TimedWord, milliseconds

__all__ = ["CONNECTIVES", "DETERMINERS", "break_lines", "layout_cues"]


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


# -- words --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Token:
    text: str
    start: int  # ms
    end: int  # ms


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
    start = milliseconds(segment.start, "segment start")
    end = milliseconds(segment.end, "segment end")
    if end < start:
        raise CaptionError(
            f"segment ends before it starts ({segment.start} > {segment.end}): {segment.text!r}"
        )
    words: Sequence[TimedWord] = getattr(segment, "words", ()) or ()
    raw: list[_Token] = []
    if words:
        for word in words:
            w_start, w_end = (
                milliseconds(word.start, "word start"),
                milliseconds(word.end, "word end"),
            )
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
    return _time(chunks, options, milliseconds(not_before, "not_before"))


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
