"""The real streaming path: espeak-ng speech through Silero VAD and faster-whisper tiny.en.

Streaming word error rate is measured against faster-whisper's own offline transcription of the
same audio; silence and noise must give no caption at all.
"""

from __future__ import annotations

import itertools
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from npc_ai.subtitles.live import LiveSubtitles
from npc_ai.subtitles.speech.audio import PushSource
from npc_ai.subtitles.speech.events import Caption
from npc_ai.subtitles.speech.streaming import SAMPLE_RATE, StreamingTranscriber
from tests.speech_fixtures import (
    SpeechScript,
    have_espeak,
    make_script,
    speak,
    word_error_rate,
    words_of,
)

pytestmark = [
    pytest.mark.model,
    pytest.mark.skipif(not have_espeak(), reason="espeak-ng is not installed"),
]

PHRASES = (
    "The old bridge north of the village was washed away by the spring flood.",
    "Have you seen my daughter? She went to the market this morning.",
    "I heard strange noises coming from the old mine last night.",
    "Follow the river east until you reach the ruined tower.",
    "My grandfather fought in the war against the northern clans.",
    "Watch out for bandits on the forest road after dark.",
)


@pytest.fixture(scope="module")
def recognizer():  # type: ignore[no-untyped-def]
    from npc_ai.backends.faster_whisper import WhisperRecognizer

    return WhisperRecognizer()


@pytest.fixture(scope="module")
def script(tmp_path_factory: pytest.TempPathFactory) -> SpeechScript:
    return make_script(tmp_path_factory.mktemp("speech"), PHRASES, gaps=(0.8, 1.2))


def decode(path: Path) -> np.ndarray:
    from faster_whisper.audio import decode_audio

    return np.asarray(decode_audio(str(path)), np.float32)


def stream(recognizer, audio: np.ndarray) -> tuple[list[Caption], StreamingTranscriber]:  # type: ignore[no-untyped-def]
    from npc_ai.backends.faster_whisper import SileroVad

    st = StreamingTranscriber(recognizer, SileroVad())
    out: list[Caption] = []
    for i in range(0, len(audio), 1600):
        st.insert_audio(audio[i : i + 1600])
        out += st.process_iter()
    out += st.finish()
    return out, st


def test_streaming_wer_against_offline(recognizer, script: SpeechScript) -> None:  # type: ignore[no-untyped-def]
    audio = decode(script.path)
    offline = recognizer.transcribe_offline(audio)
    captions, st = stream(recognizer, audio)
    finals = [c for c in captions if c.final]
    streamed = " ".join(c.text for c in finals)
    wer_stream = word_error_rate(script.text, streamed)
    wer_offline = word_error_rate(script.text, offline)
    print(f"WER streaming {wer_stream:.3f} offline {wer_offline:.3f}; {st.stats}")
    # One final per spoken phrase, in order, each within its phrase's time.
    assert len(finals) == len(PHRASES)
    for c, p in zip(finals, script.phrases, strict=True):
        assert p.start - 0.4 <= c.start and c.end <= p.end + 0.5, (c, p)
    assert [c.segment for c in finals] == list(range(len(PHRASES)))
    # Partials came first for every phrase.
    assert {c.segment for c in captions if not c.final} == set(range(len(PHRASES)))
    # Like for like (offline with the streaming finals' greedy decoding), streaming is within
    # 1.15x (docs/BENCHMARKS.md: 0.97x pooled over 2 x 16 phrases); one word of slack, as one
    # word here is 1.6 points. Beam-5 offline reads better than any greedy decoding.
    greedy = word_error_rate(script.text, recognizer.transcribe_offline(audio, beam_size=1))
    print(f"offline greedy {greedy:.3f}")
    assert wer_stream <= 1.15 * greedy + 1 / len(words_of(script.text))
    assert wer_offline <= 0.10
    assert wer_stream <= 0.16
    assert word_error_rate(offline, streamed) <= 0.18


def test_silence_gives_no_caption_and_no_recogniser_pass(recognizer) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(1)
    audio = np.concatenate(
        [np.zeros(5 * SAMPLE_RATE, np.float32), (rng.standard_normal(5 * SAMPLE_RATE) * 3e-4)]
    ).astype(np.float32)
    captions, st = stream(recognizer, audio)
    assert captions == []
    assert st.stats.partial_passes == st.stats.final_passes == 0


@pytest.mark.parametrize("kind", ["white", "brown", "hum", "clicks"])
def test_noise_gives_no_caption(recognizer, kind: str) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(2)
    n = 8 * SAMPLE_RATE
    if kind == "white":
        audio = rng.standard_normal(n) * 0.1
    elif kind == "brown":
        audio = np.cumsum(rng.standard_normal(n))
        audio = (audio - np.convolve(audio, np.ones(400) / 400, "same")) * 0.02
    elif kind == "hum":
        t = np.arange(n) / SAMPLE_RATE
        audio = 0.2 * np.sin(2 * np.pi * 50 * t) + 0.1 * np.sin(2 * np.pi * 150 * t)
    else:
        audio = np.zeros(n)
        audio[rng.integers(0, n, 40)] = 0.9
    captions, _ = stream(recognizer, np.clip(audio, -1, 1).astype(np.float32))
    assert [c.text for c in captions] == []


def test_realtime_push_session_gives_partials_then_finals(recognizer, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from npc_ai.backends.faster_whisper import SileroVad

    script = make_script(tmp_path, PHRASES[:2], gaps=1.0, tail=1.0)
    audio = decode(script.path)
    source = PushSource()
    session = LiveSubtitles(source, transcriber=StreamingTranscriber(recognizer, SileroVad()))
    emitted: list[tuple[float, Caption]] = []

    def player() -> None:
        began = time.monotonic()
        for i in range(0, len(audio), 1600):
            time.sleep(max(0.0, began + (i + 1600) / SAMPLE_RATE - time.monotonic()))
            source.push((audio[i : i + 1600] * 32767).astype("<i2").tobytes())
        source.close()

    with session:
        start = time.monotonic()
        feeder = threading.Thread(target=player)
        feeder.start()
        for event in session.events(timeout=30):
            assert isinstance(event, Caption)
            emitted.append((time.monotonic() - start, event))
        feeder.join()
    finals = [(t, c) for t, c in emitted if c.final]
    assert len(finals) == 2
    assert word_error_rate(script.text, " ".join(c.text for _, c in finals)) <= 0.2
    # Partials (the governor may shed some on a busy shared CPU, not all).
    assert any(not c.final for _, c in emitted)
    for (t, c), p in zip(finals, script.phrases, strict=True):
        # Generous on a shared CPU; docs/BENCHMARKS.md has the measured distribution.
        assert t - p.end <= 3.0, (t - p.end, c.text)


def test_base_model_translates_speech_to_english(tmp_path: Path) -> None:
    from npc_ai.backends.faster_whisper import WhisperOptions, WhisperRecognizer

    # espeak's Spanish is hard going for whisper-base; a greeting comes through every time
    # (measured over separate runs: "Good morning. Where are you going? I have a lot of work.").
    audio = speak("Buenos días. ¿Dónde está la posada? Tengo mucha hambre.", voice="es", speed=140)
    rec = WhisperRecognizer(WhisperOptions(model="base", task="translate", language="es"))
    result = rec.transcribe(audio)
    assert result.language == "en"
    assert {"good", "morning"} <= set(words_of(result.text)), result.text


def test_streaming_vad_matches_faster_whispers_whole_file_vad(script: SpeechScript) -> None:
    from faster_whisper.vad import get_vad_model

    from npc_ai.backends.faster_whisper import SileroVad

    audio = decode(script.path)[: 20 * SAMPLE_RATE]
    whole = np.asarray(get_vad_model()(audio[: len(audio) // 512 * 512])).reshape(-1)
    vad = SileroVad()
    pieces = []
    rest = audio
    rng = np.random.default_rng(3)
    pending = np.zeros(0, np.float32)
    while len(rest):
        n = int(rng.integers(100, 5000))
        pending = np.concatenate([pending, rest[:n]])
        rest = rest[n:]
        usable = len(pending) // 512 * 512
        pieces.append(vad(pending[:usable]))
        pending = pending[usable:]
    streamed = np.concatenate(pieces)
    assert len(streamed) == len(whole)
    np.testing.assert_allclose(streamed, whole, atol=1e-4)
    assert (whole > 0.5).mean() > 0.3  # there is speech in it


def test_english_only_model_refuses_other_languages() -> None:
    from npc_ai.backends.faster_whisper import WhisperOptions, WhisperRecognizer
    from npc_ai.errors import InputError

    with pytest.raises(InputError, match="English-only"):
        WhisperRecognizer(WhisperOptions(model="tiny.en", task="translate"))


def test_speech_without_pauses_is_cut_into_short_finals(recognizer, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    script = make_script(tmp_path, PHRASES[:5], gaps=0.15)  # ~19 s, no pause the VAD ends on
    captions, _st = stream(recognizer, decode(script.path))
    finals = [c for c in captions if c.final]
    assert len(finals) >= 2
    assert all(c.end - c.start <= 12.5 for c in finals)
    assert all(a.end <= b.start + 0.01 for a, b in itertools.pairwise(finals))
    # Cut phrases read worse than whole ones (measured 0.17 against 0.07 offline).
    assert word_error_rate(script.text, " ".join(c.text for c in finals)) <= 0.25


@pytest.mark.parametrize("kind", ["zeros", "faint", "white", "hum", "brown"])
def test_shield_alone_rejects_what_whisper_invents_on_non_speech(recognizer, kind: str) -> None:  # type: ignore[no-untyped-def]
    # The VAD is bypassed (every window is "speech"), so tiny.en does see the non-speech and
    # invents "you", "I'm going to go to the ground." and the like; the shield must drop all.
    from npc_ai.subtitles.speech.fake import EnergyVad

    rng = np.random.default_rng(2)
    n = 6 * SAMPLE_RATE
    t = np.arange(n) / SAMPLE_RATE
    audio = {
        "zeros": np.zeros(n),
        "faint": rng.standard_normal(n) * 3e-4,
        "white": rng.standard_normal(n) * 0.1,
        "hum": 0.2 * np.sin(2 * np.pi * 50 * t),
        "brown": np.cumsum(rng.standard_normal(n)),
    }[kind]
    if kind == "brown":  # random walk without its drift: rumble
        audio = (audio - np.convolve(audio, np.ones(400) / 400, "same")) * 0.02
    st = StreamingTranscriber(recognizer, EnergyVad(threshold=0.0))
    captions: list[Caption] = []
    samples = np.clip(audio, -1, 1).astype(np.float32)
    for i in range(0, n, 1600):
        st.insert_audio(samples[i : i + 1600])
        captions += st.process_iter()
    captions += st.finish()
    assert [c.text for c in captions] == []
    passes = st.stats.partial_passes + st.stats.final_passes
    assert passes >= 5 and st.stats.rejected_passes >= 1


def test_prefix_returns_only_the_words_after_the_known_text(recognizer) -> None:  # type: ignore[no-untyped-def]
    first = speak("The gate closes at sunset.")
    second = speak("Follow the river east.")
    gap = np.zeros(SAMPLE_RATE // 2, np.float32)
    buffer = np.concatenate([first, gap, second])
    result = recognizer.transcribe(buffer, prefix="The gate closes at sunset.")
    assert words_of(result.text) == ["follow", "the", "river", "east"]
    assert [w.text.strip(" .").lower() for w in result.words] == words_of(result.text)
    # Timed within the whole buffer: after the first phrase.
    assert result.words[0].start >= (len(first) / SAMPLE_RATE) - 0.3
    beam = recognizer.with_beam(5)
    assert beam.model is recognizer.model and beam.options.beam_size == 5
    again = beam.transcribe(buffer, prefix="The gate closes at sunset.")
    assert words_of(again.text) == ["follow", "the", "river", "east"]


def test_context_and_beam_finals_stream_the_same_phrases(recognizer, script: SpeechScript) -> None:  # type: ignore[no-untyped-def]
    from npc_ai.backends.faster_whisper import SileroVad
    from npc_ai.subtitles.speech.streaming import StreamingOptions

    audio = decode(script.path)
    st = StreamingTranscriber(
        recognizer,
        SileroVad(),
        options=StreamingOptions(context=13.0),
        final_recognizer=recognizer.with_beam(5),
    )
    captions: list[Caption] = []
    for i in range(0, len(audio), 1600):
        st.insert_audio(audio[i : i + 1600])
        captions += st.process_iter()
    captions += st.finish()
    finals = [c for c in captions if c.final]
    assert len(finals) == len(PHRASES)
    for c, p in zip(finals, script.phrases, strict=True):
        assert p.start - 0.4 <= c.start and c.end <= p.end + 0.5, (c, p)
    streamed = " ".join(c.text for c in finals)
    offline = recognizer.transcribe_offline(audio, beam_size=5)
    wer_stream = word_error_rate(script.text, streamed)
    wer_offline = word_error_rate(script.text, offline)
    print(f"WER streaming with context {wer_stream:.3f} offline beam 5 {wer_offline:.3f}")
    # Measured on 2 x 16 phrases: see docs/BENCHMARKS.md. On these 6 phrases (62 words) one
    # word is 1.6 points, so the guard is against regressions, not the ratio itself.
    assert wer_stream <= 0.10
    assert wer_stream <= wer_offline + 0.05
