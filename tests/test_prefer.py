from __future__ import annotations

from npc_ai.backends._prefer import PreferWalk, word_forms


def tokenize(text: str) -> list[int]:
    # " Teal" is " Te" (1) + "al" (2), "Teal" is "Te" (4) + "al", " teal" is " te" (5) + "al".
    table = {" Teal": [1, 2], "Teal": [4, 2], " teal": [5, 2], "teal": [4, 2]}
    return table[text]


def test_forms_are_each_spelling_once() -> None:
    assert word_forms(["teal"], tokenize, frozenset()) == [[4, 2], [5, 2], [1, 2]]
    assert word_forms(["teal"], tokenize, frozenset({4})) == [[5, 2], [1, 2]]


def test_a_started_word_is_nudged_to_its_next_piece_until_it_is_out() -> None:
    walk = PreferWalk(word_forms(["teal"], tokenize, frozenset()), ["teal"], 6.0)
    assert set(walk.ids().tolist()) == {4, 5, 1}
    walk.advance(1, " Te")
    assert set(walk.ids().tolist()) == {4, 5, 1, 2}  # the next piece of " Te"+"al"
    walk.advance(6, " the")  # went elsewhere: back to first pieces only
    assert set(walk.ids().tolist()) == {4, 5, 1}
    walk.advance(1, " Te")
    assert not walk.done
    walk.advance(2, "al")
    assert walk.done  # " Teal" is out


def test_nothing_to_nudge_is_done_at_once() -> None:
    assert PreferWalk([], ["x"], 6.0).done
