"""Push-to-talk: V held, the player's voice becomes their line to the NPC they talk to.

While V is held, audio from a source (the microphone by default) runs through the
library's speech recognition (:class:`~npc_ai.LiveSubtitles`, Whisper ``tiny.en``) on a
thread of its own; when V is let go, the session finishes its last phrase and the final
text comes back to the game thread as a :class:`Heard` from :meth:`Voice.poll`. Nothing
here blocks a frame: opening the device and loading the model happen on that thread too.

The first press loads the speech model; a second, idle session on an empty
:class:`~npc_ai.PushSource` keeps it loaded afterwards (loaded models are shared and
released with their last user), so later presses start listening at once. With no
microphone (no device, no PortAudio, no ``sounddevice``) the first press reports it once,
as a :class:`VoiceNote`, and V does nothing after that. Tests and scripts hand in another
source (:meth:`Voice.press` ``source=``): a WAV file played as if spoken.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from queue import Empty, SimpleQueue
from typing import Any

from npc_ai import (
    AudioDeviceError,
    Caption,
    LiveSubtitles,
    MicSource,
    NpcAiError,
    PushSource,
    SubtitleOptions,
)

__all__ = ["Heard", "Voice", "VoiceEvent", "VoiceNote"]

log = logging.getLogger(__name__)

#: Makes a speech session over an audio source (tests pass one over the scripted fakes).
SessionFactory = Callable[[Any], LiveSubtitles]


@dataclass(frozen=True, slots=True)
class Heard:
    """What the player said while V was held (empty when nothing was understood)."""

    text: str


@dataclass(frozen=True, slots=True)
class VoiceNote:
    """A message for the screen: no microphone, no speech model."""

    text: str


VoiceEvent = Heard | VoiceNote


def whisper_session(source: Any) -> LiveSubtitles:
    """The default session: Whisper tiny.en, English, no translation."""
    return LiveSubtitles(source, options=SubtitleOptions(targets=()))


class Voice:
    """Push-to-talk sessions, one per press, each on its own thread.

    ``microphone`` makes the default source; ``session`` makes the speech session over a
    source. :attr:`status` is the hint to show ("loading the speech model...",
    "listening...", "understanding...", or empty).
    """

    def __init__(
        self,
        *,
        microphone: Callable[[], Any] = MicSource,
        session: SessionFactory = whisper_session,
        keep_loaded: bool = True,
    ) -> None:
        self.microphone = microphone
        self.session = session
        self.keep_loaded = keep_loaded
        #: Why V does nothing (no microphone), once it is known.
        self.unavailable: str | None = None
        self._events: SimpleQueue[VoiceEvent] = SimpleQueue()
        self._release: threading.Event | None = None
        self._thread: threading.Thread | None = None
        self._status = ""
        self._loaded = False
        self._keeper: LiveSubtitles | None = None
        self._lock = threading.Lock()

    @property
    def status(self) -> str:
        return self._status

    @property
    def busy(self) -> bool:
        """A press is being listened to or understood."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def holding(self) -> bool:
        """V is down (a session is listening)."""
        return self._release is not None and not self._release.is_set()

    def press(self, *, source: Any = None) -> bool:
        """V went down: start listening (to ``source``, default the microphone).

        False when V does nothing: no microphone (known already), or the last press is
        still being understood.
        """
        if self.busy:
            return False
        if source is None and self.unavailable is not None:
            return False
        release = threading.Event()
        self._release = release
        self._status = "listening..." if self._loaded else "loading the speech model..."
        self._thread = threading.Thread(
            target=self._listen, args=(source, release), name="thornvale-voice", daemon=True
        )
        self._thread.start()
        return True

    def release(self) -> None:
        """V went up: finish the phrase; its text comes from :meth:`poll`."""
        if self._release is not None:
            self._release.set()

    def poll(self) -> list[VoiceEvent]:
        """On the game thread, once a frame: what the voice sessions have to say."""
        out: list[VoiceEvent] = []
        while True:
            try:
                out.append(self._events.get_nowait())
            except Empty:
                return out

    def close(self) -> None:
        """Stop listening and let go of the model (returns at once)."""
        self.release()
        with self._lock:
            keeper, self._keeper = self._keeper, None
        if keeper is not None:
            threading.Thread(target=keeper.stop, daemon=True).start()

    # -- the session's thread ---------------------------------------------------------------

    def _listen(self, source: Any, release: threading.Event) -> None:
        try:
            self._events.put(Heard(self._transcribe(source, release)))
        except AudioDeviceError as exc:
            self.unavailable = f"No microphone, so V cannot listen: {exc}"
            self._events.put(VoiceNote(self.unavailable))
        except NpcAiError as exc:
            self._events.put(VoiceNote(f"Speech recognition failed: {exc}"))
        except Exception as exc:  # a broken source or model must not end the game
            log.exception("push-to-talk failed")
            self._events.put(VoiceNote(f"Speech recognition failed: {exc}"))
        finally:
            self._status = ""

    def _transcribe(self, source: Any, release: threading.Event) -> str:
        if source is None:
            source = self.microphone()
            check = getattr(source, "check", None)
            if check is not None:
                check()  # no microphone: said before the speech model is loaded
        session = self.session(source)
        session.start()  # loads the model, opens the device: raises here
        self._loaded = True
        if not release.is_set():
            self._status = "listening..."
        self._keep_loaded()
        finals: list[str] = []
        try:
            while not release.wait(0.05):
                finals += _finals(session)
                if session.done:
                    break  # the source ended (a file): nothing more will come
            self._status = "understanding..."
        finally:
            session.stop()
        finals += _finals(session)
        return " ".join(finals).strip()

    def _keep_loaded(self) -> None:
        """An idle session that holds the shared model between presses."""
        with self._lock:
            if not self.keep_loaded or self._keeper is not None:
                return
            keeper = self.session(PushSource())
            try:
                keeper.start()
            except NpcAiError as exc:
                log.info("the speech model is not kept loaded: %s", exc)
                return
            self._keeper = keeper


def _finals(session: LiveSubtitles) -> list[str]:
    texts = []
    for event in session.poll():
        if isinstance(event, Caption) and event.final and event.text.strip():
            texts.append(event.text.strip())
        elif not isinstance(event, Caption) and getattr(event, "fatal", False):
            error = getattr(event, "error", None)  # a SubtitleError (not a public name)
            raise error if isinstance(error, NpcAiError) else NpcAiError(str(error))
    return texts
