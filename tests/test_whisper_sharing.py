"""One loaded Whisper model per model, shared by every recogniser, session and bridge client.

The cache and the recogniser's share/close rules run over a fake loader (milliseconds); the
model-marked tests check real sessions: two LiveSubtitles, and two clients of one bridge server,
hold the same loaded tiny.en, both transcribe speech, and the model goes with the last of them.
"""

from __future__ import annotations

import gc
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from npc_ai.backends import faster_whisper as fw
from npc_ai.backends.faster_whisper import (
    MODELS,
    ModelKey,
    WhisperModelCache,
    WhisperOptions,
    WhisperRecognizer,
)
from npc_ai.errors import BackendError, InputError, ModelLoadError

KEY = ModelKey(path="/m/tiny", device="cpu", compute_type="int8", cpu_threads=1, workers=1)


class FakeModel:
    """Stands in for faster_whisper.WhisperModel: only what the constructor reads."""

    def __init__(self, multilingual: bool = False) -> None:
        self.model = type("Ct2", (), {"is_multilingual": multilingual})()


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[ModelKey]:
    """Recognisers load FakeModels (the keys loaded are recorded) into a fresh MODELS."""
    seen: list[ModelKey] = []

    def load(key: ModelKey) -> FakeModel:
        seen.append(key)
        return FakeModel(multilingual="base" in key.path)

    def path(model: str) -> Path:
        (tmp_path / model).mkdir(exist_ok=True)
        return tmp_path / model

    monkeypatch.setattr(fw, "_load", load)
    monkeypatch.setattr(fw, "_model_path", path)
    monkeypatch.setattr(fw, "MODELS", WhisperModelCache())
    return seen


def test_the_cache_loads_a_key_once_however_many_threads_ask() -> None:
    cache = WhisperModelCache()
    calls: list[int] = []

    def slow_load() -> object:
        calls.append(1)
        time.sleep(0.05)  # every thread arrives while the first is loading
        return object()

    got: list[object] = []
    threads = [
        threading.Thread(target=lambda: got.append(cache.acquire(KEY, slow_load))) for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    assert len({id(m) for m in got}) == 1
    assert cache.users() == {KEY: 8}
    for _ in range(7):
        cache.release(KEY)
    assert cache.users() == {KEY: 1}
    cache.release(KEY)
    assert cache.users() == {}
    cache.release(KEY)  # one release too many is harmless
    assert cache.acquire(KEY, slow_load) is not got[0]  # loaded again after the last user went
    assert len(calls) == 2


def test_the_cache_keeps_keys_apart_and_a_failed_load_leaves_nothing() -> None:
    cache = WhisperModelCache()
    other = ModelKey(path="/m/tiny", device="cpu", compute_type="int8", cpu_threads=2, workers=1)
    a = cache.acquire(KEY, object)
    b = cache.acquire(other, object)
    assert a is not b
    assert cache.users() == {KEY: 1, other: 1}

    def broken() -> object:
        raise ModelLoadError("no model here")

    third = ModelKey(path="/m/none", device="cpu", compute_type="int8", cpu_threads=1, workers=1)
    with pytest.raises(ModelLoadError):
        cache.acquire(third, broken)
    assert third not in cache.users()
    assert cache.acquire(third, object) is not None  # and a later load is tried afresh


def test_recognizers_of_one_model_share_it_until_the_last_closes(loads: list[ModelKey]) -> None:
    first = WhisperRecognizer(WhisperOptions(model="tiny.en"))
    second = WhisperRecognizer(WhisperOptions(model="tiny.en", beam_size=5, language="en"))
    assert first.model is second.model  # decoding options are per recogniser, the model is one
    assert len(loads) == 1
    beams = first.with_beam(5)
    assert beams.model is first.model
    assert fw.MODELS.users() == {first.key: 3}

    first.close()
    first.close()  # idempotent
    assert first.closed and not second.closed
    with pytest.raises(BackendError):
        first.transcribe(np.zeros(1600, np.float32))
    with pytest.raises(BackendError):
        first.with_beam(2)
    second.close()
    assert fw.MODELS.users() == {beams.key: 1}
    with beams:
        pass
    assert fw.MODELS.users() == {}
    assert len(loads) == 1


def test_models_loaded_differently_are_not_shared(loads: list[ModelKey]) -> None:
    tiny = WhisperRecognizer(WhisperOptions(model="tiny.en"))
    base = WhisperRecognizer(WhisperOptions(model="base"))
    threads = WhisperRecognizer(WhisperOptions(model="tiny.en", cpu_threads=2))
    workers = WhisperRecognizer(WhisperOptions(model="tiny.en", workers=2))
    private = WhisperRecognizer(WhisperOptions(model="tiny.en", shared=False))
    models = {id(r.model) for r in (tiny, base, threads, workers, private)}
    assert len(models) == 5
    assert len(loads) == 5
    assert len(fw.MODELS.users()) == 4  # the private copy is not in the cache
    for r in (tiny, base, threads, workers, private):
        r.close()
    assert fw.MODELS.users() == {}


def test_a_dropped_recognizer_gives_its_model_back(loads: list[ModelKey]) -> None:
    kept = WhisperRecognizer(WhisperOptions(model="tiny.en"))
    dropped = WhisperRecognizer(WhisperOptions(model="tiny.en"))
    extra = dropped.with_beam(3)
    assert fw.MODELS.users() == {kept.key: 3}
    del dropped, extra
    gc.collect()
    assert fw.MODELS.users() == {kept.key: 1}
    kept.close()
    assert fw.MODELS.users() == {}


def test_a_refused_recognizer_does_not_keep_the_model(loads: list[ModelKey]) -> None:
    with pytest.raises(InputError):
        WhisperRecognizer(WhisperOptions(model="tiny.en", task="translate"))
    with pytest.raises(InputError):
        WhisperRecognizer(WhisperOptions(workers=0))
    assert fw.MODELS.users() == {}


def test_live_sessions_hold_one_model_and_give_it_back_when_they_end(
    loads: list[ModelKey], monkeypatch: pytest.MonkeyPatch
) -> None:
    from npc_ai.subtitles.live import LiveSubtitles, SubtitleOptions
    from npc_ai.subtitles.speech.audio import PushSource
    from npc_ai.subtitles.speech.fake import EnergyVad

    monkeypatch.setattr(fw, "SileroVad", EnergyVad)
    options = SubtitleOptions(targets=(), workers=2, final_beam_size=3)
    sources = [PushSource(16000), PushSource(16000)]
    sessions = [LiveSubtitles(source, options=options) for source in sources]
    for session in sessions:
        session.start()
    (key,) = fw.MODELS.users()
    assert key.workers == 2
    assert fw.MODELS.users() == {key: 4}  # greedy partials and beam-3 finals, twice
    assert len(loads) == 1
    sources[0].close()
    assert list(sessions[0].events(timeout=10)) == []
    assert fw.MODELS.users() == {key: 2}  # the ended session gave its share back
    sources[1].close()
    list(sessions[1].events(timeout=10))
    assert fw.MODELS.users() == {}
    for session in sessions:
        session.stop()


def _speech_pcm(line: str) -> np.ndarray:
    from tests.speech_fixtures import have_espeak, speak

    if not have_espeak():
        pytest.skip("espeak-ng is not installed")
    return np.concatenate([np.zeros(8000, np.float32), speak(line), np.zeros(16000, np.float32)])


@pytest.mark.model
def test_two_live_sessions_share_one_loaded_model() -> None:
    from npc_ai.subtitles.live import LiveSubtitles, SubtitleOptions
    from npc_ai.subtitles.speech.audio import PushSource
    from npc_ai.subtitles.speech.events import Caption
    from tests.speech_fixtures import word_error_rate

    lines = ["The gate closes at sunset.", "Follow the river east until you reach the tower."]
    options = SubtitleOptions(model="tiny.en", targets=(), final_beam_size=2)
    sources = [PushSource(16000), PushSource(16000)]
    sessions = [LiveSubtitles(s, options=options) for s in sources]
    for session in sessions:
        session.start()
    try:
        held = {k: n for k, n in MODELS.users().items() if k.path.endswith("whisper-tiny.en")}
        # One model, four users: each session's greedy partials and beam-2 finals.
        assert list(held.values()) == [4], MODELS.users()
        a, b = (s.transcriber for s in sessions)
        assert a is not None and b is not None
        assert a._asr.model is b._asr.model  # type: ignore[attr-defined]
        for source, line in zip(sources, lines, strict=True):
            source.push(_speech_pcm(line))
            source.close()
        texts = []
        for session in sessions:
            events = list(session.events(timeout=60))
            texts.append(" ".join(e.text for e in events if isinstance(e, Caption) and e.final))
    finally:
        for session in sessions:
            session.stop(timeout=30)
    for line, text in zip(lines, texts, strict=True):
        assert word_error_rate(line, text) < 0.3, text
    assert not [k for k in MODELS.users() if k.path.endswith("whisper-tiny.en")]


@pytest.mark.model
def test_two_bridge_clients_share_one_loaded_model() -> None:
    """The server's own subtitle factory (``npc-ai serve``): two clients, one model."""
    from bridge.cli import _subtitle_factory
    from tests.speech_fixtures import word_error_rate
    from tests.test_bridge_server import serving

    line = "Keep your voice down, the guards are listening."
    data = np.round(np.clip(_speech_pcm(line), -1, 1) * 32767).astype("<i2").tobytes()
    notes: list[list[tuple[str, dict[str, Any]]]] = [[], []]
    with serving(subtitles=_subtitle_factory("tiny.en", None)) as srv:
        clients = [srv.client(on_notification=lambda m, p, n=n: n.append((m, p))) for n in notes]
        try:
            sessions = [c.call("subtitle.start", language="en")["session"] for c in clients]
            tiny = [n for k, n in MODELS.users().items() if k.path.endswith("whisper-tiny.en")]
            assert tiny == [2], MODELS.users()
            for c, session in zip(clients, sessions, strict=True):
                for i in range(0, len(data), 6400):
                    c.notify("subtitle.push", session=session, pcm=data[i : i + 6400])
            for c, session in zip(clients, sessions, strict=True):
                c.call("subtitle.stop", session=session)
        finally:
            for c in clients:
                c.close()
    for got in notes:
        finals = " ".join(p["text"] for m, p in got if m == "subtitle.final")
        assert word_error_rate(line, finals) < 0.3, finals
    assert not [k for k in MODELS.users() if k.path.endswith("whisper-tiny.en")]
