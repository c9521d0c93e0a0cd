"""Streaming transcription with a scripted recogniser: agreement, commits, revisions, segment
ids, the hallucination shield and the latency governor, all in milliseconds."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from npc_ai.errors import AudioFormatError, InputError
from npc_ai.subtitles.speech import shield
from npc_ai.subtitles.speech.events import Caption, Word
from npc_ai.subtitles.speech.fake import EnergyVad, FakeClock, ScriptedRecognizer, scripted_stream
from npc_ai.subtitles.speech.phrase import Phrase, agreement, join_words, new_words
from npc_ai.subtitles.speech.streaming import SAMPLE_RATE, StreamingOptions, StreamingTranscriber

CHUNK = 0.1


def script(text: str, start: float, *, word: float = 0.35, gap: float = 0.1) -> list[Word]:
    """Words of ``text`` one after the other from ``start``."""
    out = []
    t = start
    for w in text.split():
        out.append(Word(text=w, start=round(t, 3), end=round(t + word, 3)))
        t += word + gap
    return out


def feed(
    st: StreamingTranscriber, audio: np.ndarray, *, clock: FakeClock | None = None
) -> list[tuple[float, Caption]]:
    """Feed ``audio`` in 0.1 s chunks, processing after each; (audio time, caption) pairs."""
    out: list[tuple[float, Caption]] = []
    step = int(CHUNK * SAMPLE_RATE)
    for i in range(0, len(audio), step):
        st.insert_audio(audio[i : i + step])
        if clock is not None:
            clock.advance(CHUNK)
        out.extend(((i + step) / SAMPLE_RATE, c) for c in st.process_iter())
    out.extend((len(audio) / SAMPLE_RATE, c) for c in st.finish())
    return out


def realtime(
    st: StreamingTranscriber, audio: np.ndarray, clock: FakeClock
) -> list[tuple[float, Caption]]:
    """Audio arrives at real-time pace while passes take the recogniser's (fake) time: each
    round takes all the audio that has arrived. Returns (wall time, caption) pairs."""
    out: list[tuple[float, Caption]] = []
    pos = 0
    chunk = int(CHUNK * SAMPLE_RATE)
    while pos < len(audio):
        arrived = min(len(audio), int(clock.now * SAMPLE_RATE) // chunk * chunk)
        if arrived <= pos:
            clock.now = (pos + chunk) / SAMPLE_RATE
            continue
        st.insert_audio(audio[pos:arrived])
        pos = arrived
        out.extend((clock.now, c) for c in st.process_iter())
    out.extend((clock.now, c) for c in st.finish())
    return out


def make(
    words: Sequence[Word], duration: float, *, options: StreamingOptions | None = None, **fake
) -> tuple[StreamingTranscriber, ScriptedRecognizer, np.ndarray]:
    audio = scripted_stream(words, duration)
    clock = fake.pop("clock", FakeClock())
    asr = ScriptedRecognizer(stream=audio, words=words, clock=clock, **fake)
    st = StreamingTranscriber(asr, EnergyVad(), options=options, clock=clock)
    return st, asr, audio


def finals(events: Sequence[tuple[float, Caption]]) -> list[Caption]:
    return [c for _, c in events if c.final]


# -- one phrase ----------------------------------------------------------------------------


def test_one_phrase_gives_revisable_partials_then_one_final() -> None:
    words = script("the old bridge north of the village was washed away", 0.5)
    st, _, audio = make(words, words[-1].end + 1.5)
    events = feed(st, audio)
    captions = [c for _, c in events]
    assert {c.segment for c in captions} == {0}
    assert [c.revision for c in captions] == list(range(len(captions)))
    assert sum(c.final for c in captions) == 1 and captions[-1].final
    partials = captions[:-1]
    assert len(partials) >= 3
    assert any("-" in c.text for c in partials)  # a half-heard word was shown...
    final = captions[-1]
    assert final.text == "the old bridge north of the village was washed away"  # ...and fixed
    assert [w.text for w in final.words] == final.text.split()
    assert final.start == pytest.approx(words[0].start, abs=0.01)
    assert final.end == pytest.approx(words[-1].end, abs=0.01)


def test_final_arrives_once_the_silence_after_the_phrase_is_long_enough() -> None:
    words = script("hello there traveller", 0.3)
    opts = StreamingOptions(min_silence=0.4)
    st, _, audio = make(words, words[-1].end + 2.0, options=opts)
    events = feed(st, audio)
    ((when, _),) = [(t, c) for t, c in events if c.final]
    # Detected within one chunk and one VAD window of the silence running out.
    assert words[-1].end + 0.4 <= when <= words[-1].end + 0.4 + CHUNK + 512 / SAMPLE_RATE


def test_committed_words_never_change_in_later_partials() -> None:
    words = script("one two three four five six seven eight nine ten eleven twelve", 0.2)
    st, _, audio = make(words, words[-1].end + 1.0)
    captions = [c for _, c in feed(st, audio)]
    # A word two passes in a row agreed on stays in every later caption of the phrase.
    seen: list[list[str]] = [c.text.split() for c in captions]
    for earlier, later, last in zip(seen, seen[1:], seen[2:], strict=False):
        agreed = 0
        for a, b in zip(earlier, later, strict=False):
            if a != b:
                break
            agreed += 1
        assert last[:agreed] == later[:agreed]


def test_two_phrases_get_increasing_segment_ids_and_their_own_times() -> None:
    first = script("where is the smith", 0.3)
    second = script("behind the mill", first[-1].end + 1.2)
    st, _, audio = make([*first, *second], second[-1].end + 1.0)
    done = finals(feed(st, audio))
    assert [(c.segment, c.text) for c in done] == [
        (0, "where is the smith"),
        (1, "behind the mill"),
    ]
    assert done[1].start == pytest.approx(second[0].start, abs=0.01)
    assert done[0].end < done[1].start


def test_finish_flushes_the_open_phrase_as_final() -> None:
    words = script("stop right there", 0.2)
    st, _, audio = make(words, words[-1].end + 0.25)  # too short a pause to end the phrase
    done = finals(feed(st, audio))
    assert [c.text for c in done] == ["stop right there"]


def test_earlier_finals_are_the_prompt_of_later_passes() -> None:
    first = script("the smith", 0.3)
    second = script("is away", first[-1].end + 1.0)
    st, asr, audio = make([*first, *second], second[-1].end + 1.0)
    feed(st, audio)
    assert asr.prompts[0] == ""
    assert asr.prompts[-1] == "the smith"


def test_no_partials_option_sends_finals_only() -> None:
    words = script("only the final please", 0.3)
    st, asr, audio = make(words, words[-1].end + 1.0, options=StreamingOptions(partials=False))
    captions = [c for _, c in feed(st, audio)]
    assert [(c.final, c.revision, c.text) for c in captions] == [(True, 0, "only the final please")]
    assert len(asr.calls) == 1


# -- long phrases --------------------------------------------------------------------------


def test_a_long_phrase_is_cut_at_a_committed_word_and_loses_nothing() -> None:
    text = " ".join(f"w{i}" for i in range(40))
    words = script(text, 0.2)  # 18 s without a pause
    st, asr, audio = make(words, words[-1].end + 1.0)
    done = finals(feed(st, audio))
    assert len(done) >= 2
    assert " ".join(c.text for c in done) == text
    assert [c.segment for c in done] == list(range(len(done)))
    assert all(e - s <= 8.0 + 0.5 for s, e in asr.calls)  # buffers stay short


def test_hard_cut_when_nothing_was_committed() -> None:
    text = " ".join(f"w{i}" for i in range(36))
    words = script(text, 0.2)
    opts = StreamingOptions(partials=False, hard_phrase=6.0)
    st, asr, audio = make(words, words[-1].end + 1.0, options=opts)
    done = finals(feed(st, audio))
    assert len(done) >= 2
    assert " ".join(c.text for c in done) == text
    assert all(e - s <= 6.0 + 0.2 for s, e in asr.calls)


# -- the shield ----------------------------------------------------------------------------


def test_silence_never_reaches_the_recogniser() -> None:
    st, asr, audio = make([], 5.0)
    assert feed(st, audio) == []
    assert asr.calls == []


def test_noise_heard_as_thank_you_gives_no_caption() -> None:
    noise = [Word(text="hiss", start=1.0, end=2.0)]
    st, asr, audio = make(noise, 3.0)
    asr.words = []
    asr.extra = (
        Word(text=" Thank", start=0.1, end=0.4, probability=0.3),
        Word(text=" you.", start=0.4, end=0.8, probability=0.4),
    )
    asr.no_speech_prob = 0.7
    asr.avg_logprob = -0.8
    assert feed(st, audio) == []
    assert st.stats.rejected_passes >= 1


def test_confident_real_thank_you_is_kept() -> None:
    words = script("thank you", 0.3)
    st, _, audio = make(words, 2.0)
    assert [c.text for c in finals(feed(st, audio))] == ["thank you"]


def test_low_confidence_pass_is_rejected() -> None:
    words = script("mumble mumble", 0.3)
    st, _, audio = make(words, 2.0, avg_logprob=-1.8, no_speech_prob=0.2)
    assert feed(st, audio) == []


def test_a_repetition_loop_collapses() -> None:
    loop = tuple(
        Word(text=w, start=0.1 * i, end=0.1 * i + 0.1)
        for i, w in enumerate([" I", " am", " here"] * 6)
    )
    kept = shield.collapse_loops(loop)
    assert [w.text for w in kept] == [" I", " am", " here"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("no no no", "no no no"),  # speech, not a loop
        ("go go go go go", "go"),
        ("to the mill to the mill to the mill now", "to the mill now"),
        ("a b a b", "a b a b"),
    ],
)
def test_loop_filter_thresholds(text: str, expected: str) -> None:
    words = [Word(text=w, start=float(i), end=float(i) + 0.5) for i, w in enumerate(text.split())]
    assert " ".join(w.text for w in shield.collapse_loops(words)) == expected


def test_sound_labels_are_dropped() -> None:
    words = [Word(text=t, start=0, end=1) for t in [" [Music]", " hello", " (laughs)", " ♪"]]
    assert [w.text for w in shield.drop_sound_labels(words)] == [" hello"]


def test_rejection_rules() -> None:
    w = [Word(text=" you", start=0, end=1, probability=0.95)]
    assert shield.rejection(text="you", words=w, avg_logprob=-0.3, no_speech_prob=0.5) == (
        "known hallucination"
    )
    assert shield.rejection(text="you", words=w, avg_logprob=-0.3, no_speech_prob=0.05) is None
    assert shield.rejection(text="the gate", words=w, avg_logprob=-1.2, no_speech_prob=0.7) == (
        "no speech"
    )
    assert shield.rejection(text="ab" * 40, words=w, avg_logprob=-0.1, no_speech_prob=0.0) == (
        "repetitive"
    )


# -- the governor --------------------------------------------------------------------------


def test_governor_sheds_partials_on_a_slow_cpu_and_keeps_finals_prompt() -> None:
    # Each pass costs 0.35 s + 0.2 s per second of audio: partial passes over a growing
    # phrase soon cost more than the audio that arrives between them.
    phrases = []
    t = 0.5
    for n in range(6):
        p = script(" ".join(f"p{n}w{i}" for i in range(12)), t)
        phrases.append(p)
        t = p[-1].end + 1.0
    words = [w for p in phrases for w in p]
    clock = FakeClock()
    st, _, audio = make(words, t + 1.0, clock=clock, cost=0.35, cost_per_second=0.2)
    events = realtime(st, audio, clock)
    done = finals(events)
    assert [c.text for c in done] == [" ".join(w.text for w in p) for p in phrases]
    assert st.stats.shed_passes > 0
    assert st.stats.step > StreamingOptions().min_step
    # Latency from each phrase end to its final stays bounded: silence detection plus one
    # final pass plus at most one partial pass under way.
    for p, (when, c) in zip(phrases, [(t, c) for t, c in events if c.final], strict=True):
        worst = 0.4 + CHUNK + 0.35 + 0.2 * 6 + (0.35 + 0.2 * 6)
        assert when - p[-1].end <= worst, (c.text, when - p[-1].end)


def test_governor_never_sheds_on_a_fast_cpu() -> None:
    words = script("a quick line for the guard at the gate tonight", 0.4)
    clock = FakeClock()
    st, _, audio = make(words, words[-1].end + 1.0, clock=clock, cost=0.02, cost_per_second=0.01)
    events = realtime(st, audio, clock)
    assert st.stats.shed_passes == 0
    assert sum(not c.final for _, c in events) >= 3
    assert st.stats.step == StreamingOptions().min_step


def test_no_partial_pass_after_the_speaker_pauses() -> None:
    words = script("wait for it", 0.3)
    st, asr, audio = make(words, words[-1].end + 1.0)
    feed(st, audio)
    phrase_end = words[-1].end
    partial_ends = [e for s, e in asr.calls[:-1]]
    assert all(e <= phrase_end + 0.2 + CHUNK + 512 / SAMPLE_RATE for e in partial_ends)


# -- bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "chunk",
    [np.zeros((2, 100), np.float32), np.zeros(100, np.int16), np.array(["x"])],
)
def test_bad_chunks_raise_a_clear_error_and_lose_nothing(chunk: np.ndarray) -> None:
    words = script("still here", 0.3)
    st, _, audio = make(words, 2.0)
    st.insert_audio(audio[:8000])
    with pytest.raises(AudioFormatError) as info:
        st.insert_audio(chunk)
    assert info.value.code == 1603
    st.insert_audio(audio[8000:])
    assert [c.text for c in finals([(0.0, c) for c in [*st.process_iter(), *st.finish()]])] == [
        "still here"
    ]


def test_insert_after_finish_is_an_error() -> None:
    st, _, _ = make([], 1.0)
    st.finish()
    with pytest.raises(InputError):
        st.insert_audio(np.zeros(10, np.float32))


def test_public_names() -> None:
    import npc_ai.subtitles.live
    import npc_ai.subtitles.speech

    assert sorted(npc_ai.subtitles.speech.__all__) == sorted(
        [
            "SAMPLE_RATE",
            "AsrResult",
            "AudioSource",
            "Caption",
            "CaptionTranslation",
            "PushSource",
            "ShieldOptions",
            "SpeechRecognizer",
            "StreamingOptions",
            "StreamingTranscriber",
            "SubtitleError",
            "SubtitleEvent",
            "TranscriberStats",
            "VoiceDetector",
            "Word",
        ]
    )
    assert sorted(npc_ai.subtitles.live.__all__) == [
        "LiveSubtitles",
        "SubtitleOptions",
        "Translator",
    ]
    assert all(hasattr(npc_ai.subtitles.speech, n) for n in npc_ai.subtitles.speech.__all__)


def test_recogniser_options_are_checked_before_loading_a_model() -> None:
    from npc_ai.backends.faster_whisper import WhisperOptions, WhisperRecognizer

    with pytest.raises(InputError, match="task"):
        WhisperRecognizer(WhisperOptions(task="summarise"))
    with pytest.raises(InputError, match="beam_size"):
        WhisperRecognizer(WhisperOptions(beam_size=0))


def test_a_second_recogniser_makes_the_finals() -> None:
    first = script("where is the smith", 0.3)
    second = script("behind the mill", first[-1].end + 1.2)
    words = [*first, *second]
    audio = scripted_stream(words, second[-1].end + 1.0)
    small = ScriptedRecognizer(stream=audio, words=words)
    large = ScriptedRecognizer(stream=audio, words=words)
    st = StreamingTranscriber(small, EnergyVad(), final_recognizer=large)
    events = feed(st, audio)
    assert [c.text for c in finals(events)] == ["where is the smith", "behind the mill"]
    assert len(large.calls) == 2
    assert len(small.calls) == st.stats.partial_passes >= 2


def test_final_pass_hears_the_previous_phrase_with_its_text_as_prefix() -> None:
    first = script("where is the smith", 0.3)
    second = script("behind the mill", first[-1].end + 1.2)
    third = script("ask the miller", second[-1].end + 1.2)
    words = [*first, *second, *third]
    st, asr, audio = make(
        words, third[-1].end + 1.0, options=StreamingOptions(context=4.0, partials=False)
    )
    done = finals(feed(st, audio))
    assert [c.text for c in done] == ["where is the smith", "behind the mill", "ask the miller"]
    # Each final pass after the first is forced through the previous phrase (the budget of 4 s
    # holds one phrase, not two) and prompted with what came before that.
    assert asr.prefixes == ["", "where is the smith", "behind the mill"]
    assert asr.prompts == ["", "", "where is the smith"]
    # Word times stay those of the phrase itself, not of the longer buffer.
    assert done[1].start == pytest.approx(second[0].start, abs=0.01)
    assert done[2].words[-1].end == pytest.approx(third[-1].end, abs=0.01)


def test_no_context_after_a_long_silence_or_when_off() -> None:
    first = script("where is the smith", 0.3)
    second = script("behind the mill", first[-1].end + 11.0)
    words = [*first, *second]
    st, asr, audio = make(words, second[-1].end + 1.0, options=StreamingOptions(context=8.0))
    assert [c.text for c in finals(feed(st, audio))] == ["where is the smith", "behind the mill"]
    assert set(asr.prefixes) == {""}
    near = script("behind the mill", first[-1].end + 1.2)
    st, asr, audio = make([*first, *near], near[-1].end + 1.0)
    feed(st, audio)
    assert set(asr.prefixes) == {""}


@pytest.mark.parametrize(
    "bad",
    [
        {"vad_threshold": 0.3, "vad_neg_threshold": 0.5},
        {"min_silence": 0.0},
        {"min_step": 1.0, "max_step": 0.5},
        {"max_load": 0.0},
        {"max_phrase": 0.5},
        {"hard_phrase": 40.0},
        {"pad": -0.1},
        {"context": -1.0},
        {"context": 25.0},
    ],
)
def test_bad_streaming_options_are_an_input_error(bad: dict[str, float]) -> None:
    with pytest.raises(InputError, match="StreamingOptions"):
        StreamingOptions(**bad)  # type: ignore[arg-type]


def test_local_agreement_commits_the_words_two_passes_share() -> None:
    def words(text: str, start: float = 0.0) -> list[Word]:
        return [
            Word(text=" " + w, start=start + i, end=start + i + 0.5)
            for i, w in enumerate(text.split())
        ]

    assert agreement(words("the smith is"), words("the Smith was here")) == 2
    assert agreement(words("hello"), words("yellow there")) == 0
    phrase = Phrase(start=0, chunks=[], committed=words("the smith"))
    # The committed boundary word heard again at the start of a pass is not new.
    assert [w.text for w in new_words(phrase, words("smith is here", start=1.5))] == [
        " is",
        " here",
    ]
    assert join_words(words("the  smith")) == "the smith"
