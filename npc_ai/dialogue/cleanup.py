"""Streaming clean-up of raw model output into one NPC line.

The model continues a transcript and does not know where its turn ends. The
:class:`ReplyFilter` sees the raw pieces as they come and releases only text
that is certainly part of the reply: it trims leading space, drops an echoed
speaker label, cuts at a line break or at the next speaker's label, stops
after a number of sentences, and holds back any tail that might be the start
of a stop marker until the next piece decides it. What it has released is
final, so the streamed pieces always add up to the finished reply.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from npc_ai.dialogue.guard import Guard

__all__ = ["ReplyFilter"]

_WORD = re.compile(r"\w+")
_SENTENCE_CLOSED = re.compile(r"[.!?…][\"'”’)\]]*$")


def _words(text: str) -> str:
    return " ".join(_WORD.findall(text.casefold()))


# A sentence ends at . ! ? or … (possibly closed by quotes or brackets),
# followed by a space. "Mr. Smith" is rare enough in NPC speech to accept.
_SENTENCE_END = re.compile(r"[.!?…]+[\"'”’)\]]*(?=\s)")


class ReplyFilter:
    """Turns raw continuation pieces into the text of one reply.

    ``stops`` are strings that end the reply wherever they occur (a line
    break, another speaker's ``"Name:"``). ``echo`` is the NPC's own label,
    dropped if the model repeats it at the very start. ``max_sentences``
    ends the reply after that many complete sentences. A ``guard``
    (:class:`npc_ai.dialogue.guard.Guard`) blocks phrases: text that could grow into
    one is held back, and a reply that reaches one ends with its last
    complete sentence before it (reason ``"blocked"``).
    """

    def __init__(
        self,
        stops: Sequence[str] = ("\n",),
        *,
        echo: str | None = None,
        max_sentences: int | None = None,
        guard: Guard | None = None,
        avoid: Sequence[str] = (),
    ) -> None:
        self._stops = tuple(s for s in stops if s)
        self._guard = guard if guard else None
        # Lines the reply must not repeat word for word (the NPC's last
        # replies: a small model falls into saying the same line forever).
        self._avoid = frozenset(filter(None, map(_words, avoid)))
        self._diverged = not self._avoid
        self._echo = echo
        self._max_sentences = max_sentences
        self._raw = ""
        self._started = False
        self._emitted = 0  # characters of self._raw already released
        self.text = ""
        self.done = False
        #: Why the reply ended: "stop" (a stop marker), "sentences" (the
        #: sentence limit), "blocked" (the guard cut it), "repeat" (it was
        #: one of the lines to avoid, and nothing was released) or "end"
        #: (the generation ended); None until done.
        self.reason: str | None = None

    def feed(self, piece: str) -> str:
        """Add one raw piece; return the text that may be shown now."""
        if self.done:
            return ""
        self._raw += piece
        if not self._started and not self._start():
            return ""
        return self._release(final=False)

    def finish(self) -> str:
        """End of generation: release what was held back, trimmed."""
        if self.done:
            return ""
        if not self._started:
            self._raw = self._raw.lstrip()
            self._started = True
        out = self._release(final=True)
        self.done = True
        self.reason = self.reason or "end"
        return out

    def _start(self) -> bool:
        """Skip leading space and an echoed label; False while undecided."""
        raw = self._raw.lstrip()
        if not raw:
            return False
        if self._echo:
            if self._echo.startswith(raw) and len(raw) < len(self._echo):
                return False
            if raw.startswith(self._echo):
                raw = raw[len(self._echo) :].lstrip()
                if not raw:
                    self._raw = ""
                    return False
        self._raw = raw
        self._started = True
        return True

    def _release(self, *, final: bool) -> str:
        raw = self._raw
        end = len(raw)
        reason = None
        for stop in self._stops:
            at = raw.find(stop)
            if at != -1 and at < end:
                end, reason = at, "stop"
        if self._max_sentences:
            for count, match in enumerate(_SENTENCE_END.finditer(raw, 0, end), 1):
                if count == self._max_sentences:
                    end, reason = match.end(), "sentences"
                    break
        if self._guard is not None:
            hit = self._guard.find(raw[:end])
            if hit is not None:
                # End with the last whole sentence before the blocked phrase,
                # or where the released text ends: it was shown already, and
                # never includes the phrase (a tail that could begin one is
                # held back).
                ends = [m.end() for m in _SENTENCE_END.finditer(raw, 0, hit)]
                end, reason = max(ends[-1] if ends else 0, self._emitted), "blocked"
        if reason is not None:
            self.reason = reason
        if reason is not None or final:
            safe = raw[:end].rstrip()
            self.done = True
            if reason == "blocked" and safe and not _SENTENCE_CLOSED.search(safe):
                safe += "…"  # cut mid-sentence: the NPC trails off
        else:
            held = self._held_back(raw[:end])
            if self._guard is not None:
                held = max(held, self._guard.held_back(raw[:end]))
            safe = raw[: end - held].rstrip()
        if not self._diverged:
            said = _words(safe)
            if self.done:
                if said in self._avoid:
                    self.reason = "repeat"  # nothing was released: the caller draws again
                    return ""
            elif any(a.startswith(said) for a in self._avoid):
                return ""  # might still turn out a repeat: hold it all back
            else:
                self._diverged = True
        if len(safe) <= self._emitted:
            return ""
        out = safe[self._emitted :]
        self._emitted = len(safe)
        self.text += out
        return out

    def _held_back(self, raw: str) -> int:
        """Length of the longest tail of ``raw`` that could start a stop."""
        longest = 0
        for stop in self._stops:
            for size in range(min(len(stop) - 1, len(raw)), longest, -1):
                if raw.endswith(stop[:size]):
                    longest = size
                    break
        return longest
