"""Handlers of the translation and live-subtitle methods, and the wire form of caption events.

They use what the server was given: a translator (a
:class:`~npc_ai.translation.Translator`) and a subtitle factory that builds a
:class:`~npc_ai.subtitles.live.LiveSubtitles` over a push source. The heavy
modules (numpy, the speech stack) are imported only when a session starts.
Sessions share their speech model: every session of every client over the same
model uses one loaded copy (``npc_ai.backends.faster_whisper.MODELS``), released
when the last of them ends.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from bridge.errors import UnavailableError
from npc_ai.errors import InputError
from npc_ai.translation import Translator

if TYPE_CHECKING:
    from npc_ai.subtitles.live import LiveSubtitles
    from npc_ai.subtitles.speech.audio import PushSource
    from npc_ai.subtitles.speech.events import SubtitleEvent

__all__ = [
    "MediaContext",
    "SubtitleFactory",
    "Translator",
    "event_message",
    "push_subtitles",
    "start_subtitles",
    "stop_subtitles",
    "translate_text",
]

#: Builds a live-subtitle session over ``source``: (source, spoken language, targets).
SubtitleFactory = Callable[["PushSource", "str | None", "tuple[str, ...]"], "LiveSubtitles"]


class MediaContext(Protocol):
    """The part of a client's state these handlers use."""

    translator: Translator | None
    subtitle_factory: SubtitleFactory | None
    #: This client's caption sessions, by id.
    subtitles: dict[int, tuple[PushSource, LiveSubtitles]]


_session_ids = itertools.count(1)
#: Longest wait, in seconds, for a stopped session's last captions.
STOP_TIMEOUT = 30.0


def translate_text(ctx: MediaContext, p: dict[str, Any]) -> dict[str, Any]:
    """``translate.text`` (runs on a worker thread: a translation takes ~0.1-3 s)."""
    if ctx.translator is None:  # pragma: no cover - find() refuses first
        raise UnavailableError("this server has no translator")
    return {"text": ctx.translator.translate(p["text"], p["source"], p["target"])}


def start_subtitles(ctx: MediaContext, p: dict[str, Any]) -> dict[str, Any]:
    """``subtitle.start`` (on a worker thread: it loads the speech model when no other
    session holds it)."""
    from npc_ai.subtitles.speech.audio import PushSource
    from npc_ai.subtitles.speech.streaming import SAMPLE_RATE

    if ctx.subtitle_factory is None:  # pragma: no cover - find() refuses first
        raise UnavailableError("this server has no live subtitles")
    targets = tuple(p.get("translate") or ())
    if targets and ctx.translator is None:
        raise UnavailableError(
            "this server has no translator: start subtitles without 'translate'",
            param="translate",
        )
    source = PushSource(SAMPLE_RATE)
    session = ctx.subtitle_factory(source, p.get("language"), targets)
    session.start()
    number = next(_session_ids)
    ctx.subtitles[number] = (source, session)
    return {"session": number, "sample_rate": SAMPLE_RATE}


def _session(ctx: MediaContext, number: int) -> tuple[PushSource, LiveSubtitles]:
    try:
        return ctx.subtitles[number]
    except KeyError:
        known = ", ".join(str(n) for n in sorted(ctx.subtitles)) or "none"
        raise InputError(
            f"no subtitle session {number} on this connection (open: {known})", session=number
        ) from None


def push_subtitles(ctx: MediaContext, p: dict[str, Any]) -> dict[str, Any]:
    """``subtitle.push``: queue PCM (quick: the session's thread does the work)."""
    source, _ = _session(ctx, p["session"])
    source.push(p["pcm"])  # odd byte counts raise AudioFormatError (1603)
    return {}


def stop_subtitles(ctx: MediaContext, p: dict[str, Any]) -> dict[str, Any]:
    """``subtitle.stop`` (on a worker thread): end the audio, wait for the last captions.

    The server's poll sends the session's events meanwhile and forgets it once
    it is done, so the response follows its last caption.
    """
    source, session = _session(ctx, p["session"])
    # Closing the source lets the session read what was pushed, then finish on its
    # own (stop() would cut the unread audio). The server's poll sends the events.
    source.close()
    deadline = time.monotonic() + STOP_TIMEOUT
    while not session.done and time.monotonic() < deadline:
        time.sleep(0.01)
    session.stop(timeout=1.0)
    return {}


def event_message(number: int, event: SubtitleEvent) -> tuple[str, dict[str, Any]]:
    """The notification (method, params) of one caption event: ``subtitle.<kind>`` with the
    session number and the event's fields (a caption's ``final`` is in the method name)."""
    fields = event.to_dict()
    fields.pop("final", None)
    return f"subtitle.{event.kind}", {"session": number, **fields}
