from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from npc_ai.dialogue.cleanup import ReplyFilter

STOPS = ("\n", "Player:", "Brakka:")


def run(pieces: list[str], **kw: object) -> tuple[list[str], ReplyFilter]:
    f = ReplyFilter(STOPS, echo="Brakka:", **kw)  # type: ignore[arg-type]
    out = []
    for p in pieces:
        got = f.feed(p)
        if got:
            out.append(got)
        if f.done:
            break
    else:
        tail = f.finish()
        if tail:
            out.append(tail)
    return out, f


def test_trims_and_cuts_at_line_break() -> None:
    out, f = run([" Hah", "!", " Good", " steel", ".\n", "Player", ": more"])
    assert "".join(out) == f.text == "Hah! Good steel."
    assert f.reason == "stop"


def test_cuts_at_role_marker_split_across_pieces() -> None:
    out, f = run([" Sure", " thing", ". Pla", "yer", ": I", " lie"])
    assert f.text == "Sure thing."
    assert "Pla" not in "".join(out)


def test_partial_marker_is_released_when_it_turns_out_harmless() -> None:
    _, f = run([" Play", "ful", " lads", "."])
    assert f.text == "Playful lads."
    assert f.reason == "end"


def test_echoed_own_label_is_dropped() -> None:
    _, f = run([" Bra", "kka", ":", " Hmph", "."])
    assert f.text == "Hmph."


def test_sentence_limit() -> None:
    _, f = run([" One", ".", " Two", "!", " Three", "?", " Four", "."], max_sentences=2)
    assert f.text == "One. Two!"
    assert f.reason == "sentences"


def test_only_whitespace_gives_empty_text() -> None:
    _, f = run(["  ", "\n", "Player: hi"])
    assert f.text == ""


@given(st.lists(st.text(max_size=6), max_size=30))
def test_pieces_always_add_up_and_never_hold_a_stop(pieces: list[str]) -> None:
    out, f = run(pieces, max_sentences=3)
    text = "".join(out)
    assert text == f.text
    assert text == text.strip()
    for stop in STOPS:
        assert stop not in text


@pytest.mark.parametrize("split", range(1, 12))
def test_any_split_of_the_same_text_gives_the_same_reply(split: int) -> None:
    raw = " Aye. The mine is shut.\nPlayer: why"
    pieces = [raw[i : i + split] for i in range(0, len(raw), split)]
    _, f = run(pieces)
    assert f.text == "Aye. The mine is shut."


def test_a_repeat_of_a_line_to_avoid_is_held_back_and_dropped() -> None:
    filt = ReplyFilter(("\n",), avoid=["I'm Ayla."])
    assert [filt.feed(p) for p in ["I", "'m", " Ayla", "!"]] == ["", "", "", ""]
    assert filt.finish() == ""
    assert (filt.reason, filt.text) == ("repeat", "")


def test_a_reply_that_only_starts_like_a_line_to_avoid_streams_once_it_differs() -> None:
    filt = ReplyFilter(("\n",), avoid=["Hmph. Forge is hot."])
    assert filt.feed("Hmph.") == ""
    assert filt.feed(" Cold") == "Hmph. Cold"
    assert filt.feed(" iron.") == " iron."
    assert filt.finish() == ""
    assert filt.text == "Hmph. Cold iron."
