"""The caption board: which lines a caption overlay shows now.

Pure logic, no pygame and no sockets: feed it :data:`~npc_ai.subtitles.speech.events.SubtitleEvent`
records and the current time, read back the lines to draw, top to bottom. The pygame window
and the browser page both draw from a board.

What is shown:

- the last ``max_phrases`` final captions, oldest first, each followed by its translations
  (in the order of ``languages`` when given, else as they arrive);
- under them, the latest partial caption of the phrase being spoken, replaced by each revision
  and removed when that phrase's final arrives;
- a status line for the last pipeline error (a fatal one stays).

A final phrase stays on screen, counted from when its last line arrived, for as long as it
took to say (its cue time ``end - start``) or to read (``characters / reading_cps``),
whichever is longer, kept between ``min_seconds`` and ``max_seconds`` (5/6 s and 7 s are the
usual subtitle limits). Newer phrases push older ones off sooner. The clock is whatever the
caller passes as ``now`` (``time.monotonic()`` in the overlays), so tests need no sleeping.

Example::

    board = CaptionBoard(BoardOptions(languages=("es",)))
    while running:
        if board.update(session.poll(), time.monotonic()):
            redraw(board.lines)
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from npc_ai.errors import InputError
from npc_ai.subtitles.speech.events import Caption, CaptionTranslation, SubtitleError, SubtitleEvent

__all__ = ["BoardLine", "BoardOptions", "CaptionBoard", "LineKind", "OverlayStyle", "parse_color"]

log = logging.getLogger(__name__)

LineKind = Literal["final", "translation", "partial", "status"]

_HEX = "0123456789abcdefABCDEF"


def parse_color(value: str) -> tuple[int, int, int]:
    """``"#RRGGBB"`` or ``"#RGB"`` (the ``#`` optional) as an (r, g, b) tuple."""
    digits = value.strip().removeprefix("#")
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    if len(digits) != 6 or any(c not in _HEX for c in digits):
        raise InputError(f"colour {value!r} is not #RRGGBB or #RGB hex (for example #00FF00)")
    return (int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16))


@dataclass(frozen=True, slots=True, kw_only=True)
class OverlayStyle:
    """How caption lines look, in the pygame window and on the browser page alike.

    The default size, 48 px, meets the Game Accessibility Guidelines' 46 px at 1080p; the
    outline keeps white text readable over any game picture.
    """

    #: A font file (.ttf/.otf) or an installed font's name; ``None``: a plain sans-serif.
    font: str | None = None
    #: Text height in pixels.
    font_size: int = 48
    text_color: str = "#FFFFFF"
    translation_color: str = "#FFE14D"
    partial_color: str = "#D0D0D0"
    status_color: str = "#FF8A80"
    outline_color: str = "#000000"
    #: Outline thickness in pixels; 0 for none.
    outline_width: int = 3
    #: Where the block of lines sits: ``"bottom"`` or ``"top"``.
    position: Literal["bottom", "top"] = "bottom"
    #: Gap between the block and the edges, in pixels.
    margin: int = 40
    #: Most text rows shown (after wrapping); the newest rows win.
    max_lines: int = 6

    def __post_init__(self) -> None:
        for name in (
            "text_color",
            "translation_color",
            "partial_color",
            "status_color",
            "outline_color",
        ):
            parse_color(getattr(self, name))
        if not 6 <= self.font_size <= 400:
            raise InputError(f"font_size must be 6 to 400 pixels, not {self.font_size}")
        if self.outline_width < 0 or self.margin < 0 or self.max_lines < 1:
            raise InputError("outline_width and margin must be 0 or more, max_lines 1 or more")
        if self.position not in ("bottom", "top"):
            raise InputError(f"position must be 'bottom' or 'top', not {self.position!r}")

    def color_for(self, kind: LineKind) -> str:
        """The fill colour of a line of this kind."""
        return {
            "final": self.text_color,
            "translation": self.translation_color,
            "partial": self.partial_color,
            "status": self.status_color,
        }[kind]


@dataclass(frozen=True, slots=True, kw_only=True)
class BoardOptions:
    """What a caption board keeps and for how long. Build once at the edge."""

    #: Final phrases kept on screen at once (each with its translations).
    max_phrases: int = 2
    #: Translation targets to show, in this order; ``None`` shows every target that arrives.
    languages: tuple[str, ...] | None = None
    #: Show the original (recognised) text of final phrases.
    show_original: bool = True
    #: Show the phrase being spoken as partial captions.
    show_partials: bool = True
    #: Shortest and longest time a final phrase stays, in seconds.
    min_seconds: float = 5 / 6
    max_seconds: float = 7.0
    #: Reading speed used to keep long lines up long enough (characters per second).
    reading_cps: float = 17.0
    #: A partial not revised for this long is dropped (the speaker or the source stopped).
    partial_timeout: float = 7.0
    #: How long a non-fatal error stays in the status line, in seconds.
    error_seconds: float = 5.0

    def __post_init__(self) -> None:
        if self.max_phrases < 0:
            raise InputError(f"max_phrases must be 0 or more, not {self.max_phrases}")
        if not 0 < self.min_seconds <= self.max_seconds:
            raise InputError(
                f"need 0 < min_seconds <= max_seconds, got {self.min_seconds} and "
                f"{self.max_seconds}"
            )
        for name in ("reading_cps", "partial_timeout", "error_seconds"):
            if getattr(self, name) <= 0:
                raise InputError(f"{name} must be positive, not {getattr(self, name)}")


@dataclass(frozen=True, slots=True, kw_only=True)
class BoardLine:
    """One line of the board as an overlay draws it."""

    kind: LineKind
    text: str
    language: str  # the original's language, a translation's target, "" for status
    segment: int  # phrase id, -1 for the status line


@dataclass(slots=True, kw_only=True, eq=False)
class _Phrase:
    segment: int
    original: Caption | None = None
    translations: dict[str, str] = field(default_factory=dict)
    until: float = 0.0


class CaptionBoard:
    """The lines a caption overlay shows, updated from subtitle events and a clock.

    Not thread-safe: one owner feeds and reads it (the overlays hold a lock around it).
    """

    def __init__(self, options: BoardOptions | None = None) -> None:
        self.options = options or BoardOptions()
        self._phrases: dict[int, _Phrase] = {}
        self._partial: Caption | None = None
        self._partial_until = 0.0
        self._last_final = -1
        self._status: str | None = None
        self._status_until: float | None = None  # None: stays (fatal)
        self._lines: tuple[BoardLine, ...] = ()
        #: Goes up by one each time :attr:`lines` changes.
        self.version = 0

    @property
    def lines(self) -> tuple[BoardLine, ...]:
        """The lines to show, top to bottom, as of the last :meth:`update`."""
        return self._lines

    def update(self, events: Iterable[SubtitleEvent], now: float) -> bool:
        """Take new events, drop what has expired at ``now``; True if :attr:`lines` changed."""
        for event in events:
            if isinstance(event, Caption):
                self._caption(event, now)
            elif isinstance(event, CaptionTranslation):
                self._translation(event, now)
            elif isinstance(event, SubtitleError):
                self._status = event.error.message
                self._status_until = None if event.fatal else now + self.options.error_seconds
        self._expire(now)
        lines = self._render()
        if lines == self._lines:
            return False
        self._lines = lines
        self.version += 1
        return True

    def next_change(self, now: float) -> float | None:
        """Seconds from ``now`` until a line expires, or None if nothing will on its own."""
        times = [p.until for p in self._phrases.values()]
        if self._partial is not None:
            times.append(self._partial_until)
        if self._status is not None and self._status_until is not None:
            times.append(self._status_until)
        return max(0.0, min(times) - now) if times else None

    def clear(self) -> None:
        """Forget every line (a new stream starts)."""
        self._phrases.clear()
        self._partial = None
        self._last_final = -1
        self._status = None
        if self._lines:
            self._lines = ()
            self.version += 1

    # -- event handling -------------------------------------------------------------------

    def _hold(self, text: str, cue_seconds: float) -> float:
        o = self.options
        wanted = max(cue_seconds, len(text) / o.reading_cps)
        return min(o.max_seconds, max(o.min_seconds, wanted))

    def _caption(self, caption: Caption, now: float) -> None:
        if not caption.final:
            if caption.segment <= self._last_final:
                return  # a late revision of a phrase already committed
            current = self._partial
            if (
                current is not None
                and current.segment == caption.segment
                and caption.revision < current.revision
            ):
                return  # out of order
            self._partial = caption
            self._partial_until = now + self.options.partial_timeout
            return
        if self._partial is not None and self._partial.segment <= caption.segment:
            self._partial = None
        self._last_final = max(self._last_final, caption.segment)
        if not caption.text.strip():
            return  # an empty final only ends its phrase
        phrase = self._phrases.setdefault(caption.segment, _Phrase(segment=caption.segment))
        phrase.original = caption
        hold = self._hold(caption.text, caption.end - caption.start)
        phrase.until = max(phrase.until, now + hold)
        self._trim()

    def _translation(self, tr: CaptionTranslation, now: float) -> None:
        wanted = self.options.languages
        if wanted is not None and tr.target not in wanted:
            return
        phrase = self._phrases.get(tr.segment)
        if phrase is None:
            log.debug("translation of phrase %d, which is no longer shown", tr.segment)
            return
        phrase.translations[tr.target] = tr.text
        phrase.until = max(phrase.until, now + self._hold(tr.text, tr.end - tr.start))

    def _trim(self) -> None:
        keep = (
            sorted(self._phrases)[-self.options.max_phrases :] if self.options.max_phrases else []
        )
        for segment in list(self._phrases):
            if segment not in keep:
                del self._phrases[segment]

    def _expire(self, now: float) -> None:
        for segment, phrase in list(self._phrases.items()):
            if phrase.until <= now:
                del self._phrases[segment]
        if self._partial is not None and self._partial_until <= now:
            self._partial = None
        if self._status_until is not None and self._status_until <= now:
            self._status = None
            self._status_until = None

    def _render(self) -> tuple[BoardLine, ...]:
        o = self.options
        lines: list[BoardLine] = []
        for segment in sorted(self._phrases):
            phrase = self._phrases[segment]
            original = phrase.original
            if original is not None and o.show_original:
                lines.append(
                    BoardLine(
                        kind="final",
                        text=original.text.strip(),
                        language=original.language,
                        segment=segment,
                    )
                )
            order = o.languages if o.languages is not None else tuple(phrase.translations)
            for target in order:
                text = phrase.translations.get(target, "").strip()
                if text:
                    lines.append(
                        BoardLine(kind="translation", text=text, language=target, segment=segment)
                    )
        partial = self._partial
        if partial is not None and o.show_partials and partial.text.strip():
            lines.append(
                BoardLine(
                    kind="partial",
                    text=partial.text.strip(),
                    language=partial.language,
                    segment=partial.segment,
                )
            )
        if self._status is not None:
            lines.append(BoardLine(kind="status", text=self._status, language="", segment=-1))
        return tuple(lines)
