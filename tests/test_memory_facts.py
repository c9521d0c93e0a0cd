"""Facts and feelings found by rule in what the player says."""

from __future__ import annotations

import pytest

from npc_ai.memory.facts import Fact, extract_facts, sentiment


@pytest.mark.parametrize(
    ("line", "fact"),
    [
        ("My name is Ayla.", Fact("player.name", "Player's name is Ayla.")),
        ("Hello! They call me Dorran Vale.", Fact("player.name", "Player's name is Dorran Vale.")),
        ("I come from Riverwick.", Fact("player.home", "Player comes from Riverwick.")),
        ("I grew up in the Highmoor", Fact("player.home", "Player comes from Highmoor.")),
        ("I work as a cartographer.", Fact("player.job", "Player is a cartographer.")),
        ("My horse is called Pepper.", Fact("player.horse", "Player's horse is called Pepper.")),
        (
            "My favourite colour is crimson.",
            Fact("player.favourite_colour", "Player's favourite colour is crimson."),
        ),
        ("I have a dog named Biscuit.", Fact("player.dog", "Player's dog is called Biscuit.")),
        (
            "I promise to bring you iron ore.",
            Fact("promise.bring_you_iron_ore", 'Player promised: "bring you iron ore".'),
        ),
    ],
)
def test_facts_players_tell_about_themselves(line: str, fact: Fact) -> None:
    assert fact in extract_facts(line)


@pytest.mark.parametrize(
    "line",
    ["I am tired.", "My name is not important.", "Can you mend my sword?", "I come from far away."],
)
def test_lines_without_a_fact(line: str) -> None:
    assert extract_facts(line) == []


def test_the_player_is_named_as_the_game_names_them() -> None:
    assert extract_facts("My name is Ayla.", player="The stranger") == [
        Fact("player.name", "The stranger's name is Ayla.")
    ]


def test_sentiment_has_a_sign_and_a_range() -> None:
    assert sentiment("Thank you, friend, that is kind.") > 0
    assert sentiment("You stupid, useless liar.") == -1.0
    assert sentiment("Where is the mill?") == 0.0
    assert -1.0 <= sentiment("thanks " * 50) <= 1.0


def test_a_name_alone_after_i_am_is_the_players_name() -> None:
    assert extract_facts("I'm Senna, a traveller from the south.") == [
        Fact("player.name", "Player's name is Senna.")
    ]
    assert extract_facts("Hi. I am Dario.")[0].text == "Player's name is Dario."
    assert extract_facts("I'm Sorry.") == [] and extract_facts("I am Marta's cousin.") == []
