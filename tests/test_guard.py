"""Output guardrails: blocked phrases never reach the player, even in a streamed piece."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from npc_ai.backends import ScriptedGenerator
from npc_ai.dialogue.cleanup import ReplyFilter
from npc_ai.dialogue.guard import META_PHRASES, Guard, GuardOptions, secret_terms
from npc_ai.dialogue.npc import DialogueOptions, Npc
from npc_ai.dialogue.persona import load_persona
from npc_ai.errors import InputError
from tests.conftest import PERSONAS


def run(pieces: list[str], guard: Guard) -> tuple[list[str], ReplyFilter]:
    filt = ReplyFilter(("\n", "Player:"), guard=guard, max_sentences=3)
    out = []
    for piece in pieces:
        out.append(filt.feed(piece))
        if filt.done:
            break
    out.append(filt.finish())
    return out, filt


def test_a_blocked_phrase_is_cut_at_the_sentence_before_it() -> None:
    out, filt = run(["Hmph.", " As", " an", " AI,", " I", " cannot."], Guard(META_PHRASES))
    assert filt.text == "Hmph."
    assert filt.reason == "blocked"
    assert "".join(out) == filt.text


def test_a_tail_that_could_grow_into_a_phrase_is_held_back() -> None:
    guard = Guard(["language model"])
    filt = ReplyFilter(("\n",), guard=guard)
    assert filt.feed("I am a language") == "I am a"
    assert filt.feed(" lover.") == " language lover."
    assert filt.finish() == ""
    assert filt.reason == "end"


def test_words_that_only_start_like_a_phrase_pass() -> None:
    _, filt = run(["Gemstones", " and", " aid."], Guard(["gemma", "ai"]))
    assert filt.text == "Gemstones and aid."
    assert filt.reason == "end"


def test_matching_ignores_case_and_punctuation_between_words() -> None:
    guard = Guard(["as an ai"])
    assert guard.find("Well... AS  AN-AI, I say") == 8
    assert guard.find("as an aide") is None


def test_a_cut_never_takes_back_released_text() -> None:
    guard = Guard(["emberfang"])
    out, filt = run(["Hmph,", " that", " blade", " is", " Emberfang."], guard)
    assert "".join(out) == filt.text == "Hmph, that blade is…"  # trails off
    assert filt.reason == "blocked"


@given(
    words=st.lists(
        st.sampled_from(["as", "an", "ai", "steel", "forge", "Emberfang", "hot", ".", "!"]),
        max_size=30,
    ),
    cuts=st.lists(st.integers(1, 5), max_size=30),
)
def test_no_blocked_phrase_is_ever_released(words: list[str], cuts: list[int]) -> None:
    guard = Guard(["as an ai", "emberfang"])
    text = " ".join(words)
    pieces, i = [], 0
    for n in [*cuts, len(text)]:
        pieces.append(text[i : i + n])
        i += n
    out, filt = run([p for p in pieces if p], guard)
    released = "".join(out)
    assert released == filt.text
    assert guard.find(released) is None
    assert text.startswith(released.removesuffix("…"))


def test_secret_terms_are_names_the_persona_never_says_openly() -> None:
    smith = load_persona(PERSONAS / "blacksmith.toml")
    terms = secret_terms(smith)
    assert "emberfang" in terms and "blackfen" in terms
    assert "brakka" not in terms  # her own name is public


def test_words_the_player_said_are_exempt() -> None:
    smith = load_persona(PERSONAS / "blacksmith.toml")
    guard = Guard.for_persona(smith, GuardOptions(), heard=["Have you been to Blackfen?"])
    assert guard.find("Blackfen? Never.") is None
    assert guard.find("Emberfang is mine.") == 0


def test_options_reject_a_string_blocklist() -> None:
    with pytest.raises(InputError):
        GuardOptions(blocklist="darn")  # type: ignore[arg-type]
    with pytest.raises(InputError):
        GuardOptions(blocklist=("  ",))


def test_a_blocked_reply_is_drawn_again_and_never_shown() -> None:
    smith = load_persona(PERSONAS / "blacksmith.toml")
    model = ScriptedGenerator(["As an AI language model I can't.", " Hmph. Steel is steel."])
    options = DialogueOptions(guard=GuardOptions(blocklist=("darn",)))
    reply = Npc(smith, model, options=options).say("Who are you really?")
    assert reply.read() == "Hmph. Steel is steel."
    assert len(model.prompts) == 2


def test_the_game_blocklist_cuts_a_reply() -> None:
    smith = load_persona(PERSONAS / "blacksmith.toml")
    model = ScriptedGenerator([" Good steel. Darn cold iron."])
    options = DialogueOptions(guard=GuardOptions(blocklist=("darn",)))
    reply = Npc(smith, model, options=options).say("How is the forge?")
    assert reply.read() == "Good steel."
    assert reply.finish_reason == "blocked"
