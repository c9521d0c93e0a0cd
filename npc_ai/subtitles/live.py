"""Live subtitles: a session that turns an audio source into caption events.

:class:`LiveSubtitles` reads an :class:`~npc_ai.subtitles.speech.audio.AudioSource` on a worker
thread, runs the :class:`~npc_ai.subtitles.speech.streaming.StreamingTranscriber` on it and, on a
second thread, translates each *final* caption into every target language (partials are never
translated, so translations do not flicker). The game or UI thread collects events with
:meth:`poll`, which never blocks; a command-line tool iterates :meth:`events`.

Example (a game loop)::

    from npc_ai import LiveSubtitles, MicSource, SubtitleOptions

    with LiveSubtitles(MicSource(), options=SubtitleOptions(targets=())) as subs:
        while not subs.done:                       # the game's frame loop
            for event in subs.poll(max_events=20):   # never blocks
                print(event)             # Caption, CaptionTranslation or SubtitleError
            time.sleep(1 / 60)           # the rest of the frame

Events come in this order: a segment's partial captions by revision, then its final, then
its translations; segments in increasing order. A :class:`SubtitleError` with ``fatal``
set is the last event of a session.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import Protocol

from npc_ai.errors import AudioOverrunError, BackendError, InputError, NpcAiError
from npc_ai.subtitles.speech.audio import AudioSource
from npc_ai.subtitles.speech.events import Caption, CaptionTranslation, SubtitleError, SubtitleEvent
from npc_ai.subtitles.speech.streaming import StreamingOptions, StreamingTranscriber
from npc_ai.translation.contract import Translator
from npc_ai.translation.wrappers import CachedTranslator

__all__ = ["LiveSubtitles", "SubtitleOptions", "Translator"]

logger = logging.getLogger(__name__)


class _Closeable(Protocol):
    def close(self) -> None: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class SubtitleOptions:
    """What a live-subtitle session runs.

    ``model``: ``"tiny.en"`` (English, fastest) or ``"base"`` (multilingual; with
    ``task="translate"`` it writes English whatever is spoken). ``language`` is the spoken
    language (``None``: English for ``.en`` models, detected otherwise). ``targets`` are the
    languages finals are translated into (needs a translator; the spoken language itself is
    skipped). ``realtime`` paces a :class:`~npc_ai.backends.pyav.FileSource` built by the
    CLI;    the session itself follows its source's ``realtime``.
    """

    model: str = "tiny.en"
    final_model: str | None = None
    """A second, larger model for the final passes only (e.g. ``"base"``): better finals,
    slower (see docs/BENCHMARKS.md); partials stay with ``model``."""
    targets: tuple[str, ...] = ("es",)
    realtime: bool = True
    language: str | None = None
    task: str = "transcribe"
    cpu_threads: int = 1
    workers: int = 1
    """Passes the shared model runs at once for all sessions over it (each on ``cpu_threads``):
    2 lets two sessions' passes run in parallel (see docs/BENCHMARKS.md)."""
    beam_size: int = 1
    final_beam_size: int | None = None
    """Beams for the final passes only (``None``: ``beam_size``); partials stay greedy."""
    streaming: StreamingOptions = field(default_factory=StreamingOptions)
    max_events: int = 1000
    """Events kept for a caller that does not poll; the oldest are dropped beyond this."""
    cache_size: int = 512
    """Translations remembered (a repeated line is translated once) when the translator given
    is not a :class:`~npc_ai.translation.CachedTranslator` already (``open_translator``'s is:
    its cache, shared by every session over it, is used as it is)."""


class LiveSubtitles:
    """Transcription (and translation) of one audio source on worker threads.

    ``transcriber`` replaces the faster-whisper one built from ``options`` (tests pass one
    over fakes); ``translator`` translates finals into ``options.targets``, through a
    :class:`~npc_ai.translation.CachedTranslator` (the translator itself when it is one, else
    one of ``options.cache_size`` entries in front of it); the session does not close it.
    Use as a context manager, or call :meth:`start` and :meth:`stop`.
    """

    def __init__(
        self,
        source: AudioSource,
        *,
        options: SubtitleOptions | None = None,
        transcriber: StreamingTranscriber | None = None,
        translator: Translator | None = None,
    ) -> None:
        self.source = source
        self.options = options or SubtitleOptions()
        self._transcriber = transcriber
        self._translator: CachedTranslator | None = None
        if translator is not None:
            self._translator = (
                translator
                if isinstance(translator, CachedTranslator)
                else CachedTranslator(translator, maxsize=self.options.cache_size)
            )
        self._events: deque[SubtitleEvent] = deque()
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._worker: threading.Thread | None = None
        self._translating: threading.Thread | None = None
        self._finals: deque[Caption | None] = deque()
        self._finals_cond = threading.Condition()
        self._done = False
        self._dropped_events = 0
        #: Recognisers this session built (and so closes): their models are shared, and
        #: released with their last user.
        self._owned: list[_Closeable] = []
        self.translation_seconds: list[float] = []
        """Wall seconds each translation took (for benchmarks); cache hits are left out."""

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Load the model (when none was given), open the source and start the threads.

        Model and source errors are raised here, before any thread starts.
        """
        if self._worker is not None:
            raise InputError("start() called twice: a session runs once; make a new one")
        if self._translator is None and self._targets():
            logger.info(
                "no translator given: captions are not translated into %s",
                ", ".join(self._targets()),
            )
        if self._transcriber is None:
            self._transcriber = self._build_transcriber()
        try:
            self.source.open()
        except BaseException:
            self._release_models()
            raise
        self._worker = threading.Thread(target=self._run, name="npc-ai-subtitles", daemon=True)
        if self._translator is not None and self._targets():
            self._translating = threading.Thread(
                target=self._translate_loop, name="npc-ai-subtitles-translate", daemon=True
            )
            self._translating.start()
        self._worker.start()

    def _build_transcriber(self) -> StreamingTranscriber:
        from npc_ai.backends.faster_whisper import SileroVad, WhisperOptions, WhisperRecognizer

        opts = self.options
        whisper = WhisperOptions(
            model=opts.model,
            cpu_threads=opts.cpu_threads,
            workers=opts.workers,
            beam_size=opts.beam_size,
            language=opts.language,
            task=opts.task,
        )
        # WhisperRecognizer takes its model from the process's shared cache: sessions over
        # the same model (several clients of one bridge server) load it once.
        recognizer = WhisperRecognizer(whisper)
        self._owned.append(recognizer)
        final = None
        final_beam = opts.final_beam_size or opts.beam_size
        try:
            if opts.final_model and opts.final_model != opts.model:
                # An English-only partials model means English speech: a multilingual
                # finals model must not detect another language on its own.
                language = opts.language or ("en" if opts.model.endswith(".en") else None)
                final = WhisperRecognizer(
                    replace(
                        whisper, model=opts.final_model, beam_size=final_beam, language=language
                    )
                )
            elif final_beam != opts.beam_size:
                final = recognizer.with_beam(final_beam)
            if final is not None:
                self._owned.append(final)
            vad = SileroVad()
        except BaseException:
            self._release_models()
            raise
        return StreamingTranscriber(recognizer, vad, options=opts.streaming, final_recognizer=final)

    def _release_models(self) -> None:
        for recognizer in self._owned:
            recognizer.close()
        self._owned.clear()

    def stop(self, timeout: float | None = None) -> None:
        """Finish: stop reading, turn the last phrase into a final, translate, end."""
        self._stop.set()
        if self._worker is not None:
            self._worker.join(timeout)
        if self._translating is not None:
            self._translating.join(timeout)
        self.source.close()

    def __enter__(self) -> LiveSubtitles:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def done(self) -> bool:
        """True once the session has ended and every event was collected."""
        with self._cond:
            return self._done and not self._events

    @property
    def transcriber(self) -> StreamingTranscriber | None:
        """The transcriber (its ``stats`` tell passes, shed passes and recogniser time)."""
        return self._transcriber

    # -- events ---------------------------------------------------------------------------

    def poll(self, max_events: int | None = None) -> list[SubtitleEvent]:
        """The events ready now, oldest first (at most ``max_events``). Never blocks."""
        with self._cond:
            n = len(self._events) if max_events is None else min(max_events, len(self._events))
            return [self._events.popleft() for _ in range(n)]

    def events(self, timeout: float | None = None) -> Iterator[SubtitleEvent]:
        """Yield events as they come until the session ends (or ``timeout`` seconds pass
        without one)."""
        while True:
            with self._cond:
                if not self._events and not self._done:
                    self._cond.wait_for(lambda: bool(self._events) or self._done, timeout)
                if not self._events:
                    return
                event = self._events.popleft()
            yield event

    def _emit(self, event: SubtitleEvent) -> None:
        with self._cond:
            self._events.append(event)
            while len(self._events) > self.options.max_events:
                self._drop_one()
            self._cond.notify_all()

    def _drop_one(self) -> None:
        # Partials go first: a later revision or the final replaces them anyway.
        for i, e in enumerate(self._events):
            if isinstance(e, Caption) and not e.final:
                del self._events[i]
                break
        else:
            self._events.popleft()
        self._dropped_events += 1
        if self._dropped_events == 1:
            logger.warning("subtitle events are not being polled; dropping the oldest")

    # -- worker ---------------------------------------------------------------------------

    def _run(self) -> None:
        st = self._transcriber
        assert st is not None
        fatal: NpcAiError | None = None
        reported_drop = 0.0
        try:
            while not self._stop.is_set():
                chunk = self.source.read(0.05)
                if chunk is None:
                    break
                if self.source.realtime:
                    # Take everything that has arrived: one pass then covers it all.
                    more = [chunk]
                    while (extra := self.source.read(0)) is not None and len(extra):
                        more.append(extra)
                    for piece in more:
                        st.insert_audio(piece)
                else:
                    st.insert_audio(chunk)
                dropped = float(getattr(self.source, "dropped_seconds", 0.0))
                if dropped > reported_drop:
                    self._emit(
                        SubtitleError(
                            error=AudioOverrunError(
                                f"transcription fell behind: {dropped - reported_drop:.1f} s "
                                "of audio were dropped",
                                seconds=dropped - reported_drop,
                            ),
                            fatal=False,
                        )
                    )
                    reported_drop = dropped
                for caption in st.process_iter():
                    self._publish(caption)
        except NpcAiError as exc:  # AudioError from the source, BackendError from the model
            fatal = exc
        except Exception as exc:
            logger.exception("live subtitles failed")
            fatal = BackendError(f"live subtitles failed: {exc}")
        for caption in st.take_undelivered():
            self._publish(caption)
        if fatal is None:  # after a failure the recogniser is not asked again
            try:
                for caption in st.finish():
                    self._publish(caption)
            except NpcAiError as exc:
                fatal = exc
            except Exception as exc:
                logger.exception("finishing the last phrase failed")
                fatal = BackendError(f"finishing the last phrase failed: {exc}")
            for caption in st.take_undelivered():
                self._publish(caption)
        with self._finals_cond:
            self._finals.append(None)
            self._finals_cond.notify_all()
        if self._translating is not None:
            self._translating.join()
        # The recogniser is not asked again: give back the model (unloaded with its last user).
        self._release_models()
        if fatal is not None:
            self._emit(SubtitleError(error=fatal, fatal=True))
        with self._cond:
            self._done = True
            self._cond.notify_all()

    def _publish(self, caption: Caption) -> None:
        self._emit(caption)
        if caption.final and self._translating is not None and caption.text:
            with self._finals_cond:
                self._finals.append(caption)
                self._finals_cond.notify_all()

    # -- translation ----------------------------------------------------------------------

    def _targets(self) -> tuple[str, ...]:
        return tuple(self.options.targets)

    def _translate_loop(self) -> None:
        assert self._translator is not None
        while True:
            with self._finals_cond:
                self._finals_cond.wait_for(lambda: bool(self._finals))
                caption = self._finals.popleft()
            if caption is None:
                return
            for target in self._targets():
                if target == caption.language:
                    continue
                try:
                    text = self._translated(caption.text, caption.language, target)
                except NpcAiError as exc:
                    self._emit(SubtitleError(error=exc, fatal=False))
                    continue
                except Exception as exc:
                    logger.exception("translation failed")
                    err = BackendError(f"translation to {target!r} failed: {exc}", target=target)
                    self._emit(SubtitleError(error=err, fatal=False))
                    continue
                self._emit(
                    CaptionTranslation(
                        segment=caption.segment,
                        target=target,
                        text=text,
                        start=caption.start,
                        end=caption.end,
                    )
                )

    def _translated(self, text: str, source: str, target: str) -> str:
        translator = self._translator
        assert translator is not None
        cached = translator.peek(text, source, target)
        if cached is not None:
            return cached
        began = time.perf_counter()
        out = translator.translate(text, source, target)
        self.translation_seconds.append(time.perf_counter() - began)
        return out
