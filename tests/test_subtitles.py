"""The live-subtitle session over fakes: threads, event order, translation of finals only,
polling that never blocks, errors as events."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from npc_ai.backends.pyav import FileSource
from npc_ai.errors import AudioDecodeError, AudioOverrunError, InputError, NpcAiError
from npc_ai.subtitles.live import LiveSubtitles, SubtitleOptions
from npc_ai.subtitles.speech.audio import PushSource
from npc_ai.subtitles.speech.events import (
    Caption,
    CaptionTranslation,
    SubtitleError,
    SubtitleEvent,
    Word,
)
from npc_ai.subtitles.speech.fake import EnergyVad, ScriptedRecognizer, scripted_stream
from npc_ai.subtitles.speech.streaming import SAMPLE_RATE, StreamingTranscriber
from npc_ai.translation import CachedTranslator


def script(text: str, start: float) -> list[Word]:
    return [
        Word(text=w, start=round(start + 0.45 * i, 3), end=round(start + 0.45 * i + 0.35, 3))
        for i, w in enumerate(text.split())
    ]


LINES = ["the smith is at the forge", "come back at dusk"]


def stream() -> tuple[np.ndarray, list[Word]]:
    first = script(LINES[0], 0.3)
    second = script(LINES[1], first[-1].end + 1.0)
    words = [*first, *second]
    return scripted_stream(words, second[-1].end + 1.0), words


def transcriber(audio: np.ndarray, words: list[Word]) -> StreamingTranscriber:
    return StreamingTranscriber(ScriptedRecognizer(stream=audio, words=words), EnergyVad())


class Upper:
    """A translator fake: upper-cases, counts calls, can be slow or fail."""

    def __init__(self, delay: float = 0.0, fail_on: str | None = None) -> None:
        self.calls: list[tuple[str, str, str]] = []
        self.delay = delay
        self.fail_on = fail_on

    def translate(self, text: str, source: str, target: str) -> str:
        self.calls.append((text, source, target))
        time.sleep(self.delay)
        if self.fail_on and self.fail_on in text:
            raise RuntimeError("no model for that")
        return f"{target}:{text.upper()}"

    def pairs(self) -> frozenset[tuple[str, str]]:
        return frozenset()

    def close(self) -> None:
        pass


def run_push(session: LiveSubtitles, source: PushSource, audio: np.ndarray) -> list[SubtitleEvent]:
    with session:
        for i in range(0, len(audio), 1600):
            source.push(audio[i : i + 1600])
        source.close()
        return list(session.events(timeout=10))


def test_push_session_sends_partials_finals_then_translations_in_order() -> None:
    audio, words = stream()
    source = PushSource()
    translator = Upper()
    session = LiveSubtitles(
        source,
        options=SubtitleOptions(targets=("es", "de")),
        transcriber=transcriber(audio, words),
        translator=translator,
    )
    events = run_push(session, source, audio)
    assert session.done
    finals = [e for e in events if isinstance(e, Caption) and e.final]
    assert [f.text for f in finals] == LINES
    translations = [e for e in events if isinstance(e, CaptionTranslation)]
    assert [(t.segment, t.target, t.text) for t in translations] == [
        (0, "es", "es:" + LINES[0].upper()),
        (0, "de", "de:" + LINES[0].upper()),
        (1, "es", "es:" + LINES[1].upper()),
        (1, "de", "de:" + LINES[1].upper()),
    ]
    # Only finals are translated, and each translation follows its final.
    assert len(translator.calls) == 4
    for t in translations:
        final_at = next(i for i, e in enumerate(events) if e is finals[t.segment])
        assert events.index(t) > final_at
        assert (t.start, t.end) == (finals[t.segment].start, finals[t.segment].end)
    # Within a segment: revisions increase, the final is last.
    for seg in (0, 1):
        caps = [e for e in events if isinstance(e, Caption) and e.segment == seg]
        assert [c.revision for c in caps] == list(range(len(caps)))
        assert caps[-1].final


def test_repeated_line_is_translated_once() -> None:
    first = script("halt", 0.3)
    second = script("halt", 2.0)
    words = [*first, *second]
    audio = scripted_stream(words, 3.5)
    source = PushSource()
    translator = Upper()
    session = LiveSubtitles(
        source,
        options=SubtitleOptions(targets=("es",)),
        transcriber=transcriber(audio, words),
        translator=translator,
    )
    events = run_push(session, source, audio)
    assert [e.text for e in events if isinstance(e, CaptionTranslation)] == ["es:HALT", "es:HALT"]
    assert len(translator.calls) == 1


def test_a_cached_translator_given_is_the_one_cache() -> None:
    """open_translator's CachedTranslator is used as it is: a line it already knows costs
    the session no translation, and no second cache sits in front of it."""
    first = script("halt", 0.3)
    audio = scripted_stream(first, 1.8)
    source = PushSource()
    upper = Upper()
    cached = CachedTranslator(upper)
    cached.translate("halt", "en", "es")  # known before the session starts
    session = LiveSubtitles(
        source,
        options=SubtitleOptions(targets=("es", "de")),
        transcriber=transcriber(audio, first),
        translator=cached,
    )
    events = run_push(session, source, audio)
    assert [e.text for e in events if isinstance(e, CaptionTranslation)] == ["es:HALT", "de:HALT"]
    assert upper.calls == [("halt", "en", "es"), ("halt", "en", "de")]
    assert len(session.translation_seconds) == 1  # the cache hit is not timed
    assert cached.stats().size == 2


def test_translation_failure_is_a_non_fatal_event() -> None:
    audio, words = stream()
    source = PushSource()
    session = LiveSubtitles(
        source,
        options=SubtitleOptions(targets=("es",)),
        transcriber=transcriber(audio, words),
        translator=Upper(fail_on="SMITH".lower()),
    )
    events = run_push(session, source, audio)
    errors = [e for e in events if isinstance(e, SubtitleError)]
    assert len(errors) == 1 and not errors[0].fatal
    assert [e.segment for e in events if isinstance(e, CaptionTranslation)] == [1]


def test_poll_never_blocks_while_a_slow_translation_runs() -> None:
    audio, words = stream()
    source = PushSource()
    session = LiveSubtitles(
        source,
        options=SubtitleOptions(targets=("es",)),
        transcriber=transcriber(audio, words),
        translator=Upper(delay=0.3),
    )
    got: list[SubtitleEvent] = []
    worst = 0.0
    with session:
        for i in range(0, len(audio), 1600):
            source.push(audio[i : i + 1600])
        source.close()
        deadline = time.monotonic() + 10
        while not session.done and time.monotonic() < deadline:
            began = time.perf_counter()
            got.extend(session.poll(max_events=5))
            worst = max(worst, time.perf_counter() - began)
            time.sleep(0.005)
    assert session.done
    assert worst < 0.05
    assert sum(isinstance(e, CaptionTranslation) for e in got) == 2


def test_file_session_as_fast_as_possible(tmp_path: Path) -> None:
    import wave

    audio, words = stream()
    path = tmp_path / "s.wav"
    with wave.open(str(path), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(SAMPLE_RATE)
        f.writeframes((np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes())
    # The recogniser locates buffers in the stream it was given: give it the decoded file.
    src = FileSource(path)
    src.open()
    parts = []
    while (chunk := src.read()) is not None:
        parts.append(chunk)
    decoded = np.concatenate(parts)
    src.close()
    source = FileSource(path, realtime=False)
    with LiveSubtitles(source, transcriber=transcriber(decoded, words)) as session:
        events = list(session.events(timeout=10))
    assert [e.text for e in events if isinstance(e, Caption) and e.final] == LINES
    assert sum(isinstance(e, Caption) and not e.final for e in events) >= 2


def test_stop_flushes_the_phrase_under_way() -> None:
    words = script("do not go", 0.3)
    audio = scripted_stream(words, words[-1].end + 0.25)
    source = PushSource()
    session = LiveSubtitles(source, transcriber=transcriber(audio, words))
    session.start()
    source.push(audio)
    time.sleep(0.2)
    session.stop()
    events = session.poll()
    assert [e.text for e in events if isinstance(e, Caption) and e.final] == ["do not go"]
    assert session.done


def test_unreadable_file_raises_at_start(tmp_path: Path) -> None:
    bad = tmp_path / "x.wav"
    bad.write_bytes(b"nonsense" * 10)
    audio, words = stream()
    session = LiveSubtitles(FileSource(bad), transcriber=transcriber(audio, words))
    with pytest.raises(AudioDecodeError):
        session.start()


def test_overrun_is_reported_and_the_session_goes_on() -> None:
    audio, words = stream()
    source = PushSource(max_seconds=0.5)
    session = LiveSubtitles(source, transcriber=transcriber(audio, words))
    # Push everything before the worker starts reading: most of it overflows.
    for i in range(0, len(audio), 1600):
        source.push(audio[i : i + 1600])
    source.close()
    with session:
        events = list(session.events(timeout=10))
    errors = [e for e in events if isinstance(e, SubtitleError)]
    assert len(errors) == 1 and not errors[0].fatal
    assert isinstance(errors[0].error, AudioOverrunError)
    assert errors[0].error.code == 1604


def test_recogniser_failure_is_a_fatal_event_after_the_captions_so_far() -> None:
    audio, words = stream()

    class Broken(ScriptedRecognizer):
        def transcribe(self, audio: np.ndarray, *, prompt: str = ""):  # type: ignore[no-untyped-def]
            result = ScriptedRecognizer.transcribe(self, audio, prompt=prompt)
            if self.calls[-1][0] > 3.0:  # the second phrase
                raise NpcAiError("model lost")
            return result

    st = StreamingTranscriber(Broken(stream=audio, words=words), EnergyVad())
    source = PushSource()
    events = run_push(LiveSubtitles(source, transcriber=st), source, audio)
    assert isinstance(events[-1], SubtitleError) and events[-1].fatal
    assert sum(isinstance(e, SubtitleError) for e in events) == 1
    assert [e.text for e in events if isinstance(e, Caption) and e.final][:1] == [LINES[0]]


def test_events_beyond_the_limit_drop_partials_first() -> None:
    audio, words = stream()
    source = PushSource()
    session = LiveSubtitles(
        source, options=SubtitleOptions(max_events=2), transcriber=transcriber(audio, words)
    )
    with session:
        for i in range(0, len(audio), 1600):
            source.push(audio[i : i + 1600])
            time.sleep(0.002)
        source.close()
        while not session._done:
            time.sleep(0.01)
        events = session.poll()
    assert [e.text for e in events if isinstance(e, Caption)] == LINES


def test_start_twice_is_an_error() -> None:
    audio, words = stream()
    session = LiveSubtitles(PushSource(), transcriber=transcriber(audio, words))
    session.start()
    try:
        with pytest.raises(InputError):
            session.start()
    finally:
        session.source.close()
        session.stop()
    assert threading.active_count() >= 1
