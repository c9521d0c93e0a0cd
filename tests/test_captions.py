"""Caption layout, cue timing and the SRT / WebVTT writers."""

from __future__ import annotations

import io
import itertools
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from npc_ai.errors import CaptionError, NpcAiError
from npc_ai.subtitles import caption_layout, captions
from npc_ai.subtitles.captions import (
    CaptionOptions,
    Cue,
    CueWriter,
    LiveCaptions,
    Segment,
    break_lines,
    format_timestamp,
    layout_cues,
    to_srt,
    to_vtt,
    write_srt,
    write_vtt,
)
from npc_ai.subtitles.speech.events import Caption, Word

LONG = (
    "Welcome back to the village of Thornvale, traveller. The blacksmith has been waiting "
    "for you since the storm, and the guards say the wolves came down from the hills again "
    "last night."
)


def ms(seconds: float) -> int:
    return round(seconds * 1000)


def test_public_names() -> None:
    assert captions.__all__ == sorted(captions.__all__)
    for name in captions.__all__:
        assert getattr(captions, name).__doc__


# -- line breaking ------------------------------------------------------------------------


def test_short_text_stays_on_one_line() -> None:
    assert break_lines("Where is the inn?") == ("Where is the inn?",)


def test_break_prefers_punctuation_over_balance() -> None:
    lines = break_lines("Stop right there, you will not pass this gate tonight")
    assert lines == ("Stop right there,", "you will not pass this gate tonight")


def test_break_before_conjunction() -> None:
    lines = break_lines("He gave me the sword and then he left the village very quickly")
    assert lines == ("He gave me the sword", "and then he left the village very quickly")


@pytest.mark.parametrize(
    "text",
    [
        "We walked for hours until we finally reached the old stone bridge",
        "Caminamos durante horas hasta que por fin llegamos a la vieja posada",
        "Nous avons marché pendant des heures avant de trouver une petite auberge",
        "I think that you should take this sword to my brother in the mountains",
    ],
)
def test_never_breaks_after_an_article(text: str) -> None:
    lines = break_lines(text)
    assert lines is not None and len(lines) == 2
    last = lines[0].split()[-1].lower()
    assert last not in caption_layout.DETERMINERS
    assert " ".join(lines) == text


def test_article_break_only_when_nothing_else_fits() -> None:
    words = ["x" * 30, "the", "y" * 32]
    assert break_lines(words, max_chars=34) == ("x" * 30 + " the", "y" * 32)


def test_text_too_long_for_the_lines() -> None:
    assert break_lines("word " * 30) is None
    assert break_lines("") is None


# -- cue layout ---------------------------------------------------------------------------


def test_long_segment_splits_at_sentences_and_clauses() -> None:
    cues = layout_cues([Segment(text=LONG, start=1.0, end=12.5)])
    texts = [" ".join(c.lines) for c in cues]
    assert texts == [
        "Welcome back to the village of Thornvale, traveller.",
        "The blacksmith has been waiting for you since the storm,",
        "and the guards say the wolves came down from the hills again last night.",
    ]
    assert cues[0].start == 1.0
    assert all(len(line) <= 42 for c in cues for line in c.lines)


def test_short_cue_is_extended_to_the_minimum() -> None:
    (cue,) = layout_cues([Segment(text="Yes.", start=2.0, end=2.2)])
    assert ms(cue.start) == 2000 and ms(cue.end) == 2000 + ms(5 / 6)


def test_extension_stops_min_gap_before_next_speech() -> None:
    cues = layout_cues(
        [Segment(text="Yes.", start=2.0, end=2.2), Segment(text="No.", start=2.5, end=2.7)]
    )
    assert ms(cues[0].end) == 2500 - ms(2 / 24)
    assert ms(cues[1].start) == 2500


def test_reading_time_extends_into_free_time() -> None:
    text = "I need a room for the night and a hot meal."  # 43 characters in 1 s
    (cue,) = layout_cues([Segment(text=text, start=0.0, end=1.0)])
    assert cue.cps <= 17.0
    assert ms(cue.end) == -(-len(text) * 1000 // 17)  # ceil


def test_custom_reading_speed() -> None:
    text = "I need a room for the night and a hot meal."
    (cue,) = layout_cues([Segment(text=text, start=0.0, end=1.0)], CaptionOptions(max_cps=12))
    assert cue.cps <= 12.0 and cue.duration > 3.5


def test_max_duration_caps_the_extension_not_the_speech() -> None:
    options = CaptionOptions(max_cps=1.0)
    (cue,) = layout_cues([Segment(text="A long pause here.", start=0.0, end=2.0)], options)
    assert cue.duration == 7.0
    (slow,) = layout_cues([Segment(text="Hmmmmmmmm", start=0.0, end=9.0)])
    assert slow.end == 9.0  # one word spoken for 9 s stays up while it is spoken


def test_speech_longer_than_max_duration_is_split() -> None:
    counted = "one two three four five six seven eight nine ten eleven twelve"
    words = tuple(
        Word(text=w, start=i * 0.9, end=i * 0.9 + 0.8) for i, w in enumerate(counted.split(" "))
    )
    cues = layout_cues([Segment(text="", start=0.0, end=11.0, words=words)])
    assert len(cues) >= 2
    assert all(c.duration <= 7.0 for c in cues)


def test_word_times_place_cue_boundaries() -> None:
    words = (
        Word(text=" Stop", start=0.0, end=0.4),
        Word(text=" there!", start=0.4, end=0.9),
        Word(text=" The", start=4.0, end=4.2),
        Word(text=" gate", start=4.2, end=4.6),
        Word(text=" is", start=4.6, end=4.8),
        Word(text=" closed.", start=4.8, end=5.4),
    )
    caption = Caption(segment=0, revision=3, final=True, text="Stop there! The gate is closed.",
                      start=0.0, end=5.4, words=words)  # fmt: skip
    cues = layout_cues([caption])
    assert [c.text for c in cues] == ["Stop there!", "The gate is closed."]
    assert ms(cues[1].start) == 4000
    assert ms(cues[0].end) == 900  # its speech outlasts the 5/6 s minimum


def test_overlong_word_is_cut_into_line_pieces() -> None:
    url = "https://" + "x" * 80
    cues = layout_cues([Segment(text=f"Visit {url} now", start=0.0, end=4.0)])
    lines = [line for c in cues for line in c.lines]
    assert all(len(line) <= 42 for line in lines)
    assert "".join("".join(lines).split()) == f"Visit{url}now"


def test_empty_segments_make_no_cues() -> None:
    assert layout_cues([Segment(text="   ", start=0.0, end=1.0)]) == []
    assert layout_cues([]) == []


@pytest.mark.parametrize(
    ("start", "end"), [(-1.0, 1.0), (2.0, 1.0), (float("nan"), 1.0), (0.0, float("inf"))]
)
def test_bad_segment_times_are_refused(start: float, end: float) -> None:
    with pytest.raises(CaptionError) as info:
        layout_cues([Segment(text="Hello there.", start=start, end=end)])
    assert isinstance(info.value, NpcAiError) and info.value.code == 1750


def test_segments_out_of_order_are_refused() -> None:
    with pytest.raises(CaptionError, match="time order"):
        layout_cues([Segment(text="b", start=5.0, end=6.0), Segment(text="a", start=1, end=2)])


def test_bad_options_are_refused() -> None:
    with pytest.raises(CaptionError):
        CaptionOptions(max_chars_per_line=0)
    with pytest.raises(CaptionError):
        CaptionOptions(min_duration=8.0, max_duration=7.0)


def test_jittery_word_times_are_made_monotonic() -> None:
    words = (Word(text="one", start=1.0, end=1.5), Word(text="two", start=0.8, end=0.7))
    (cue,) = layout_cues([Segment(text="one two", start=1.0, end=1.5, words=words)])
    assert cue.text == "one two" and cue.start == 1.0


# -- properties ---------------------------------------------------------------------------

_VOCABULARY = (
    "the a an my la el les une and but of to with que de hello world sword inn, night. "
    "village blacksmith! wolves? Thornvale traveller, espada posada; auberge: I you it "
    "extraordinarily incomprehensibilities"
)
_WORDS = st.sampled_from(_VOCABULARY.split(" "))


@st.composite
def _segments(draw: st.DrawFn) -> tuple[list[Segment], bool]:
    segments: list[Segment] = []
    t = draw(st.floats(0, 5))
    with_words = draw(st.booleans())
    for _ in range(draw(st.integers(1, 6))):
        texts = draw(st.lists(_WORDS, min_size=0, max_size=40))
        t += draw(st.floats(0, 3))
        start = t
        words = []
        for text in texts:
            duration = draw(st.floats(0.0, 1.0))
            words.append(Word(text=text, start=round(t, 3), end=round(t + duration, 3)))
            t += duration + draw(st.floats(0, 0.3))
        segments.append(
            Segment(
                text=" ".join(texts),
                start=round(start, 3),
                end=round(t, 3),
                words=tuple(words) if with_words else (),
            )
        )
    return segments, with_words


_OPTIONS = st.builds(
    CaptionOptions,
    max_chars_per_line=st.integers(24, 50),
    max_lines=st.integers(1, 3),
    max_cps=st.floats(8, 25),
    min_duration=st.floats(0.3, 1.5),
    max_duration=st.floats(3, 8),
    min_gap=st.sampled_from([0.0, 2 / 24, 0.2]),
)


def check_invariants(
    cues: list[Cue], segments: list[Segment], options: CaptionOptions, floor: float = 0.0
) -> None:
    gap, min_ms, max_ms = ms(options.min_gap), ms(options.min_duration), ms(options.max_duration)
    words_in = [w for s in segments for w in s.text.split()]
    words_out = [w for c in cues for line in c.lines for w in line.split()]
    assert words_out == words_in  # every word, in order
    for k, cue in enumerate(cues):
        start, end = ms(cue.start), ms(cue.end)
        assert 0 <= ms(floor) <= start < end
        assert 1 <= len(cue.lines) <= options.max_lines
        assert all(0 < len(line) <= options.max_chars_per_line for line in cue.lines)
        squeezed = k + 1 < len(cues) and ms(cues[k + 1].start) - end <= gap
        if k + 1 < len(cues):
            assert ms(cues[k + 1].start) - end >= gap  # never overlapping, gap kept
        # Shorter than the minimum only when the next cue's speech forbids more.
        assert end - start >= min_ms or squeezed
        # Too fast to read only when the next cue or the maximum duration forbids more.
        assert (
            cue.chars / ((end - start) / 1000) <= options.max_cps + 1e-6
            or squeezed
            or (end - start >= max_ms)
        )
        # Longer than the maximum only while one word is still being spoken.
        assert end - start <= max_ms or len(" ".join(cue.lines).split()) == 1


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_segments(), _OPTIONS)
def test_layout_invariants(drawn: tuple[list[Segment], bool], options: CaptionOptions) -> None:
    segments, with_words = drawn
    cues = layout_cues(segments, options)
    check_invariants(cues, segments, options)
    if with_words:  # no cue is shown before its first word is spoken
        starts = [ms(w.start) for s in segments for w in s.words]
        first = 0
        for cue in cues:
            assert ms(cue.start) >= starts[first]
            first += len(" ".join(cue.lines).split())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_segments(), _OPTIONS)
def test_live_layout_invariants(drawn: tuple[list[Segment], bool], options: CaptionOptions) -> None:
    segments, _ = drawn
    out = io.StringIO()
    live = LiveCaptions(options, CueWriter(out, fmt="srt"))
    for segment in segments:
        live.add(segment)
    check_invariants(live.cues, segments, options)
    assert out.getvalue() == to_srt(live.cues)


@settings(max_examples=80, deadline=None)
@given(_segments())
def test_no_line_ends_on_an_article_when_avoidable(drawn: tuple[list[Segment], bool]) -> None:
    segments, _ = drawn
    options = CaptionOptions()
    for cue in layout_cues(segments, options):
        for line in cue.lines[:-1]:
            if line.split()[-1].lower() in caption_layout.DETERMINERS:
                words = " ".join(cue.lines).split()
                # Only allowed when no break avoiding it fits.
                other = [
                    i
                    for i in range(1, len(words))
                    if words[i - 1].lower() not in caption_layout.DETERMINERS
                    and len(" ".join(words[:i])) <= 42
                    and len(" ".join(words[i:])) <= 42
                ]
                assert not other, cue.lines


# -- SRT and WebVTT -----------------------------------------------------------------------

_SRT_BLOCK = re.compile(
    r"(\d+)\n(\d\d):(\d\d):(\d\d),(\d{3}) --> (\d\d):(\d\d):(\d\d),(\d{3})\n((?:.+\n)+)\n"
)


def _parse_srt(text: str) -> list[tuple[int, int, int, list[str]]]:
    blocks = []
    pos = 0
    for match in _SRT_BLOCK.finditer(text):
        assert match.start() == pos, text[pos : match.start()]
        pos = match.end()
        g = [int(x) for x in match.groups()[:9]]
        start = ((g[1] * 60 + g[2]) * 60 + g[3]) * 1000 + g[4]
        end = ((g[5] * 60 + g[6]) * 60 + g[7]) * 1000 + g[8]
        blocks.append((g[0], start, end, match.group(10).splitlines()))
    assert pos == len(text)
    return blocks


def test_timestamps() -> None:
    assert format_timestamp(0) == "00:00:00,000"
    assert format_timestamp(3723.4567) == "01:02:03,457"
    assert format_timestamp(59.9996, vtt=True) == "00:01:00.000"
    assert format_timestamp(36000.0, vtt=True) == "10:00:00.000"
    with pytest.raises(CaptionError):
        format_timestamp(-0.5)


def test_srt_round_trip() -> None:
    cues = layout_cues(
        [Segment(text=LONG, start=61.0, end=72.5), Segment(text="Yes.", start=3700, end=3701)]
    )
    blocks = _parse_srt(to_srt(cues))
    assert [b[0] for b in blocks] == list(range(1, len(cues) + 1))
    assert [(b[1], b[2], tuple(b[3])) for b in blocks] == [
        (ms(c.start), ms(c.end), c.lines) for c in cues
    ]
    assert blocks[-1][1] == 3_700_000


def test_vtt_output() -> None:
    cues = [Cue(start=1.5, end=3.25, lines=("Fish & chips <3",)), Cue(start=4, end=5, lines=("b",))]
    assert to_vtt(cues) == (
        "WEBVTT\n\n"
        "00:00:01.500 --> 00:00:03.250\nFish &amp; chips &lt;3\n\n"
        "00:00:04.000 --> 00:00:05.000\nb\n\n"
    )


def test_writers_refuse_times_going_backwards() -> None:
    cues = [Cue(start=5, end=6, lines=("b",)), Cue(start=1, end=2, lines=("a",))]
    with pytest.raises(CaptionError, match="backwards"):
        to_srt(cues)
    with pytest.raises(CaptionError, match="backwards"):
        to_vtt(cues)


def test_cue_checks_itself() -> None:
    with pytest.raises(CaptionError):
        Cue(start=2, end=2, lines=("a",))
    with pytest.raises(CaptionError):
        Cue(start=1, end=2, lines=("a\nb",))
    with pytest.raises(CaptionError):
        Cue(start=1, end=2, lines=())


def test_write_to_path_and_file(tmp_path: Path) -> None:
    cues = layout_cues([Segment(text=LONG, start=0, end=11.5)])
    write_srt(cues, tmp_path / "a.srt")
    write_vtt(cues, tmp_path / "a.vtt")
    assert (tmp_path / "a.srt").read_text(encoding="utf-8") == to_srt(cues)
    assert (tmp_path / "a.vtt").read_text(encoding="utf-8").startswith("WEBVTT\n\n00:00:00.000")
    buffer = io.StringIO()
    write_srt(cues, buffer)
    assert buffer.getvalue() == to_srt(cues)


def test_cue_writer_appends_and_numbers(tmp_path: Path) -> None:
    path = tmp_path / "live.srt"
    with CueWriter(path) as writer:
        writer.write(Cue(start=0, end=1, lines=("one",)))
        assert path.read_text() == "1\n00:00:00,000 --> 00:00:01,000\none\n\n"  # flushed
        writer.write_all([Cue(start=1.5, end=2, lines=("two",)), Cue(start=3, end=4, lines=("3",))])
        with pytest.raises(CaptionError):
            writer.write(Cue(start=3.5, end=5, lines=("late",)))
    assert [b[0] for b in _parse_srt(path.read_text())] == [1, 2, 3]


def test_cue_writer_format(tmp_path: Path) -> None:
    with CueWriter(tmp_path / "x.vtt") as writer:
        writer.write(Cue(start=0, end=1, lines=("one",)))
    assert (tmp_path / "x.vtt").read_text().startswith("WEBVTT\n\n00:00:00.000 --> ")
    with pytest.raises(CaptionError):
        CueWriter(tmp_path / "x.txt")
    with pytest.raises(CaptionError):
        CueWriter(io.StringIO())


_KILLED = """
import os, sys
from npc_ai.subtitles.captions import CueWriter, LiveCaptions, Segment
live = LiveCaptions(writer=CueWriter(sys.argv[1], fsync=True))
for i in range(5):
    live.add(Segment(text=f"Line number {i} of the story.", start=2.0 * i, end=2.0 * i + 1.5))
os.kill(os.getpid(), 9)
"""


def test_live_file_is_valid_after_a_kill(tmp_path: Path) -> None:
    path = tmp_path / "killed.srt"
    done = subprocess.run([sys.executable, "-c", _KILLED, str(path)], check=False)
    assert done.returncode != 0  # killed, no clean shutdown
    blocks = _parse_srt(path.read_text(encoding="utf-8"))
    assert [b[0] for b in blocks] == [1, 2, 3, 4, 5]
    assert all(a[2] <= b[1] for a, b in itertools.pairwise(blocks))


def test_translated_captions_without_word_times() -> None:
    from npc_ai.subtitles.speech.events import CaptionTranslation

    translated = [
        CaptionTranslation(segment=0, target="es", text="¿Dónde está la posada?", start=1, end=2),
        CaptionTranslation(
            segment=1,
            target="es",
            text="Necesito una habitación para esta noche y una comida caliente, por favor.",
            start=2.5,
            end=6.0,
        ),
    ]
    cues = layout_cues(translated)
    assert [c.lines for c in cues] == [
        ("¿Dónde está la posada?",),
        ("Necesito una habitación para esta noche", "y una comida caliente, por favor."),
    ]
    assert ms(cues[0].end) == 1000 + -(-22 * 1000 // 17)  # its reading time at 17 cps
    assert cues[1].start == 2.5
