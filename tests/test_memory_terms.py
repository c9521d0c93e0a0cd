"""npc_ai.memory.terms: the search terms retrieval compares."""

from __future__ import annotations

import pytest

from npc_ai.memory import terms
from npc_ai.memory.terms import dedupe_key, stem, tokenize


def test_public_names() -> None:
    assert sorted(terms.__all__) == ["STOP_WORDS", "dedupe_key", "stem", "tokenize"]


@pytest.mark.parametrize(
    ("forms", "same"),
    [
        (["horse", "horses"], True),
        (["ride", "rides", "riding"], True),
        (["call", "calls", "called", "calling"], True),
        (["run", "running"], True),
        (["stop", "stopped"], True),
        (["berry", "berries"], True),
        (["marry", "married", "marries"], True),
        (["promise", "promised", "promises"], True),
        (["miss", "missed"], True),
        (["grow", "grew"], False),  # irregular forms are out of scope
    ],
)
def test_stem_maps_related_forms_together(forms: list[str], same: bool) -> None:
    stems = {stem(w) for w in forms}
    assert (len(stems) == 1) is same, stems


@pytest.mark.parametrize("word", ["bus", "glass", "this", "is", "thing", "bring", "need", "ox"])
def test_stem_leaves_short_and_non_suffix_words(word: str) -> None:
    assert stem(word) == word


def test_stem_leaves_words_with_digits() -> None:
    assert stem("1000s") == "1000s"
    assert stem("b52s") == "b52s"


def test_tokenize_casefolds_drops_stop_words_and_keeps_names_and_numbers() -> None:
    assert tokenize("I promised Marta 2 silver coins!") == [
        "promis",
        "marta",
        "2",
        "silver",
        "coin",
    ]
    assert tokenize("My horse is called Pepper.") == ["hors", "call", "pepper"]
    assert tokenize("What do I ride?") == ["rid"]


def test_tokenize_splits_contractions_and_possessives() -> None:
    assert tokenize("I'm Marta's cousin, don't tell") == ["marta", "cousin", "tell"]
    assert tokenize("Brakka’s forge") == ["brakka", "forg"]


def test_tokenize_unicode_words() -> None:
    assert tokenize("Ｍｙ ÉPÉE from Zürich") == ["épé", "zürich"]
    assert tokenize("the_old_mill") == ["old", "mill"]


def test_tokenize_other_languages_use_their_stop_words_without_stemming() -> None:
    assert tokenize("Mi caballo se llama Pepper", language="es") == ["caballo", "llama", "pepper"]
    assert tokenize("Mon cheval s'appelle Pepper", language="fr") == ["cheval", "appelle", "pepper"]


def test_tokenize_only_stop_words_gives_nothing() -> None:
    assert tokenize("what is it, then?") == []
    assert tokenize("") == []


def test_dedupe_key_ignores_case_spacing_and_punctuation() -> None:
    assert dedupe_key("My horse is  called Pepper!") == dedupe_key("my horse is called pepper")
    assert dedupe_key("My horse") != dedupe_key("My horses")
