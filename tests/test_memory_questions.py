"""npc_ai.memory.questions: what a player's line asks, read without a store."""

from __future__ import annotations

import pytest

from npc_ai.memory import questions


@pytest.mark.parametrize(
    ("line", "whom"),
    [
        ("What is my horse called?", "player"),
        ("What is your name?", "npc"),
        ("Who are you?", "npc"),
        ("Do you remember me?", ""),
        ("Nice weather.", ""),
    ],
)
def test_about_names_whom_a_line_asks_about(line: str, whom: str) -> None:
    assert questions.about(line) == whom


@pytest.mark.parametrize(
    ("line", "asked"),
    [
        ("Where is the inn?", True),
        ('He said "why?"', True),
        ("Do you remember my dog", True),
        ("Tell me about the mine", True),
        ("I have a dog.", False),
    ],
)
def test_asks_finds_questions_and_requests_to_recall(line: str, asked: bool) -> None:
    assert questions.asks(line) is asked


def test_fact_asked_reads_the_key_a_question_names() -> None:
    facts = {"player.dog": "dog", "player.home": "home", "player.favourite_colour": "colour"}
    assert questions.fact_asked("What is my dog's name?", facts) == "dog"
    assert questions.fact_asked("Where do I come from?", facts) == "home"
    assert questions.fact_asked("What is my favourite colour?", facts) == "colour"
    assert questions.fact_asked("What is my horse called?", facts) is None


def test_new_words_are_the_answer_in_a_fact() -> None:
    asked = set(questions.WORDS.findall("who is my friend player"))
    assert questions.new_words("Player's friend is a man called Dorran.", asked) == ("Dorran",)
    assert questions.new_words("Player's favourite food is plum pie.", {"food"}) == ("plum", "pie")


def test_trade_word_and_the_npc_questions() -> None:
    assert questions.trade_word("captain of the Watch") == "captain"
    assert questions.NAME_ASK.search("what is your name?")
    assert questions.TRADE_ASK.search("what do you do here?")
    assert not questions.NAME_ASK.search("what do you do here?")


@pytest.mark.parametrize(
    ("text", "query", "answer"),
    [
        ("I came here from the city of Tolbrook.", "Where did I say I came from?", ("Tolbrook",)),
        ("Nothing scares me like bats.", "What am I scared of?", ("bats",)),
        ("Eleven has always been my lucky number.", "whats my lucky numbr?", ("Eleven",)),
        ("Player's dog is called Bramble.", "What's my hound's name?", ("Bramble",)),
        ("I'd walk ten miles for a bowl of leek soup.", "Which soup do I love?", ("leek", "bowl")),
    ],
)
def test_answer_words_are_what_the_memory_adds_to_the_question(
    text: str, query: str, answer: tuple[str, ...]
) -> None:
    assert questions.answer_words(text, query, skip=("Player",)) == answer
