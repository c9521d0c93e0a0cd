"""Structured replies: the persona's emotions and actions, the stage direction,
the choices on a fake, the parser; and the real model (marker ``model``)."""

from __future__ import annotations

import random
import string
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from hypothesis import given, reject, settings
from hypothesis import strategies as st

from npc_ai.backends.fake import ScriptedGenerator
from npc_ai.dialogue import structured as structured_module
from npc_ai.dialogue.persona import (
    MAX_ACTION_ARGS,
    MAX_ACTION_CHOICES,
    MAX_ACTION_VALUES,
    MAX_ACTIONS,
    MAX_EMOTIONS,
    MAX_WORDS_CHARS,
    NO_ACTION,
    Action,
    ActionArg,
    Persona,
    load_persona,
    parse_persona,
)
from npc_ai.dialogue.structured import (
    DEFAULT_EMOTIONS,
    ReplyStructure,
    StructuredReply,
    StructureOptions,
    calibrate,
    choose,
    persona_hint,
)
from npc_ai.errors import BackendError, PersonaError
from npc_ai.generation import SamplingParams

PERSONAS = Path(__file__).resolve().parent.parent / "sample_game" / "personas"
BASE = 'name = "Bo"\nrole = "smith"\n'
SMITH = BASE + (
    'emotions = ["calm", "annoyed", "ill at ease"]\n'
    "[[actions]]\n"
    'name = "repair"\n'
    'description = "mends an item at the anvil"\n'
    'args = { item = ["sword", "shield", "plough"] }\n'
    "[[actions]]\n"
    'name = "turn_away"\n'
)


def test_all_is_pinned() -> None:
    assert sorted(structured_module.__all__) == [
        "CalibrationSteps",
        "ChoiceScorer",
        "DEFAULT_EMOTIONS",
        "ReplyStructure",
        "StructureOptions",
        "StructureSteps",
        "StructuredReply",
        "calibrate",
        "choose",
        "persona_hint",
    ]


# --- the persona's emotions and actions ----------------------------------------------------


def test_emotions_and_actions_are_read_in_order() -> None:
    persona = parse_persona(SMITH)
    assert persona.emotions == ("calm", "annoyed", "ill at ease")
    assert persona.actions == (
        Action(
            name="repair",
            description="mends an item at the anvil",
            args=(ActionArg(name="item", values=("sword", "shield", "plough")),),
        ),
        Action(name="turn_away"),
    )
    assert persona.actions[0].phrase(["sword"]) == "repair sword"
    assert persona.actions[1].phrase() == "turn away"
    assert parse_persona(persona.to_dict()) == persona


def test_a_persona_without_them_has_none() -> None:
    persona = parse_persona(BASE)
    assert persona.emotions == () and persona.actions == ()
    assert persona.to_dict()["actions"] == [] and persona.to_dict()["emotions"] == []


@pytest.mark.parametrize("name", ["blacksmith", "innkeeper", "guard"])
def test_sample_personas_declare_emotions_and_actions(name: str) -> None:
    persona = load_persona(PERSONAS / f"{name}.toml")
    assert 4 <= len(persona.emotions) <= 8
    assert 3 <= len(persona.actions) <= 6
    assert all(a.description for a in persona.actions)
    assert any(a.args for a in persona.actions)


def fails(text: str, field: str | None, expected: str, message: str = "") -> PersonaError:
    with pytest.raises(PersonaError) as info:
        parse_persona(text, source="npc.toml")
    err = info.value
    assert err.source == "npc.toml"
    assert err.field == field, str(err)
    assert err.expected is not None and expected in err.expected, str(err)
    assert message in str(err)
    return err


def test_emotion_errors() -> None:
    fails(BASE + 'emotions = "calm"', "emotions", "a list of strings", "wrap it in [ ]")
    fails(BASE + "emotions = [3]", "emotions[0]", "a string")
    fails(BASE + 'emotions = ["calm", "Calm"]', "emotions[1]", "each item once", "also item 0")
    fails(BASE + 'emotions = ["fed up."]', "emotions[0]", "one to three words")
    fails(BASE + 'emotions = ["a b c d"]', "emotions[0]", "one to three words")
    fails(BASE + 'emotions = [""]', "emotions[0]", "one to three words")
    fails(BASE + f'emotions = ["{"x" * (MAX_WORDS_CHARS + 1)}"]', "emotions[0]", "at most")
    many = ", ".join(f'"e{c}"' for c in string.ascii_lowercase[: MAX_EMOTIONS + 1])
    fails(BASE + f"emotions = [{many}]", "emotions", f"at most {MAX_EMOTIONS} items")


def test_action_errors() -> None:
    fails(BASE + 'actions = { name = "x" }', "actions", "list of tables", "[[actions]]")
    fails(BASE + 'actions = ["wave"]', "actions[0]", "list of tables")
    fails(BASE + "[[actions]]\nnam = 'x'", "actions[0].nam", "one of name", "did you mean 'name'")
    fails(BASE + "[[actions]]\ndescription = 'x'", "actions[0].name", "lowercase letters")
    fails(BASE + "[[actions]]\nname = 'Wave'", "actions[0].name", "lowercase letters")
    fails(BASE + "[[actions]]\nname = 'open gate'", "actions[0].name", "lowercase letters")
    fails(BASE + "[[actions]]\nname = 'none'", "actions[0].name", "another name", "always")
    fails(
        BASE + "[[actions]]\nname = 'x'\n[[actions]]\nname = 'x'",
        "actions[1]",
        "read differently",
        "'x'",
    )
    fails(
        BASE + '[[actions]]\nname = "x"\ndescription = "a\\nb"',
        "actions[0].description",
        "a single line",
    )
    fails(BASE + "[[actions]]\nname = 'x'\ndescription = 3", "actions[0].description", "string")
    many = "".join(f"[[actions]]\nname = 'a{i}'\n" for i in range(MAX_ACTIONS + 1))
    fails(BASE + many, "actions", f"at most {MAX_ACTIONS} items")


def test_action_argument_errors() -> None:
    act = BASE + "[[actions]]\nname = 'give'\n"
    fails(act + "args = ['bread']", "actions[0].args", "a table of allowed values")
    fails(act + "args = { item = 'bread' }", "actions[0].args.item", "a list of allowed values")
    fails(act + "args = { item = [] }", "actions[0].args.item", "at least one")
    fails(act + "args = { Item = ['bread'] }", "actions[0].args", "lowercase letters")
    fails(act + "args = { item = ['a]'] }", "actions[0].args.item[0]", "one to three words")
    fails(act + "args = { item = ['a', 'A'] }", "actions[0].args.item[1]", "each item once")
    four = ", ".join(f"a{i} = ['x']" for i in range(MAX_ACTION_ARGS + 1))
    fails(act + f"args = {{ {four} }}", "actions[0].args", f"at most {MAX_ACTION_ARGS}")
    values = ", ".join(f"'v{i}'" for i in range(MAX_ACTION_VALUES + 1))
    fails(act + f"args = {{ item = [{values}] }}", "actions[0].args.item", "at most")


def test_actions_that_read_alike_or_too_many_ways_are_refused() -> None:
    fails(
        BASE + "[[actions]]\nname = 'give_bread'\n[[actions]]\nname = 'give'\n"
        "args = { item = ['bread', 'ale'] }",
        "actions[1]",
        "read differently",
        "'give bread'",
    )
    values = ", ".join(f"'v{i}'" for i in range(MAX_ACTION_VALUES))
    wide = f"args = {{ a = [{values}], b = [{values}] }}\n"  # 256 ways, with "none" 257
    fails(BASE + "[[actions]]\nname = 'x'\n" + wide, "actions[0]", str(MAX_ACTION_CHOICES))


# --- the stage direction and the parser ------------------------------------------------------


@pytest.fixture
def smith() -> Persona:
    return parse_persona(SMITH)


def test_choice_strings_cover_every_allowed_value(smith: Persona) -> None:
    structure = ReplyStructure.for_persona(smith)
    assert structure.emotion_params.choices == (" calm.", " annoyed.", " ill at ease.")
    assert structure.action_params.choices == (
        " repair sword]",
        " repair shield]",
        " repair plough]",
        " turn away]",
        " none]",
    )


def test_default_emotions_when_the_persona_names_none() -> None:
    structure = ReplyStructure.for_persona(parse_persona(BASE))
    assert structure.emotions == DEFAULT_EMOTIONS
    assert structure.action_params.choices == (" none]",)


def test_stage_direction_follows_the_line_and_keeps_its_prompt(smith: Persona) -> None:
    structure = ReplyStructure.for_persona(smith)
    prompt = ("HEADER\n", "Player: hi\nBo:")
    segments, params = structure.emotion_job(prompt, "Hmph. Leave it.")
    assert segments == ("HEADER\n", "Player: hi\nBo:", " Hmph. Leave it.\n[Bo feels")
    assert params is structure.emotion_params
    segments, params = structure.action_job(prompt, "Hmph. Leave it.", " annoyed.")
    assert segments[:3] == ("HEADER\n", "Player: hi\nBo:", " Hmph. Leave it.\n[Bo feels")
    assert segments[3] == " annoyed. Action:"
    assert params is structure.action_params


def test_hints_list_the_allowed_options(smith: Persona) -> None:
    structure = ReplyStructure.for_persona(smith, StructureOptions(hint=True))
    segments, _ = structure.emotion_job(("P",), "Hmph.")
    assert segments[-1] == " Hmph.\n[Bo can feel calm, annoyed or ill at ease. Bo feels"
    segments, _ = structure.action_job(("P",), "Hmph.", " calm.")
    assert segments[-1] == (
        " calm. Bo can repair (sword or shield or plough), turn away or do nothing. Action:"
    )
    assert persona_hint(smith).splitlines() == [
        "Bo can feel calm, annoyed or ill at ease.",
        "Bo can repair (sword or shield or plough), turn away or do nothing.",
    ]
    assert persona_hint(parse_persona(BASE)) == ""


def test_parse_maps_choices_back_to_the_record(smith: Persona) -> None:
    structure = ReplyStructure.for_persona(smith)
    reply = structure.parse("Leave it.", " ill at ease.", " repair shield]")
    assert reply == StructuredReply(
        say="Leave it.", emotion="ill at ease", action="repair", args={"item": "shield"}
    )
    assert reply.to_dict() == {
        "say": "Leave it.",
        "emotion": "ill at ease",
        "action": "repair",
        "args": {"item": "shield"},
    }
    assert hash(reply) == hash(structure.parse("Leave it.", " ill at ease.", " repair shield]"))
    none = structure.parse("Hmph.", " calm.", " none]")
    assert none.action == NO_ACTION and dict(none.args) == {}
    with pytest.raises(TypeError):
        none.args["item"] = "sword"  # type: ignore[index]


def test_parse_refuses_what_was_not_allowed(smith: Persona) -> None:
    structure = ReplyStructure.for_persona(smith)
    with pytest.raises(BackendError, match="not one of Bo's allowed choices") as info:
        structure.parse("Hmph.", " furious.", " none]")
    assert info.value.data["choice"] == " furious."
    with pytest.raises(BackendError, match="' repair axe]'"):
        structure.parse("Hmph.", " calm.", " repair axe]")


def test_choose_on_the_fake_runs_both_choices(smith: Persona) -> None:
    def rule(prompt: str, options: tuple[str, ...]) -> str:
        return options[1] if prompt.endswith("feels") else options[2]

    gen = ScriptedGenerator(choose=rule)
    reply = choose(gen, ("HEAD\n", "Player: fix it\nBo:"), "Fine.", ReplyStructure(smith))
    assert reply == StructuredReply(
        say="Fine.", emotion="annoyed", action="repair", args={"item": "plough"}
    )
    assert gen.prompts == [
        "HEAD\nPlayer: fix it\nBo: Fine.\n[Bo feels",
        "HEAD\nPlayer: fix it\nBo: Fine.\n[Bo feels annoyed. Action:",
    ]


def test_steps_drive_the_choices_without_a_model(smith: Persona) -> None:
    structure = ReplyStructure(smith)
    steps = structure.steps(["HEAD\n", "Player: hi\nBo:"], "Hmph.")
    assert not steps.done
    with pytest.raises(BackendError, match="not chosen yet"):
        _ = steps.result
    segments, params = steps.job()
    assert segments[-1] == " Hmph.\n[Bo feels" and params is structure.emotion_params
    with pytest.raises(BackendError, match="not one of Bo's allowed choices"):
        steps.take(" furious.")
    steps.take(" calm.")
    segments, params = steps.job()
    assert segments[-1] == " calm. Action:" and params is structure.action_params
    steps.take(" turn away]")
    assert steps.done
    assert steps.result == StructuredReply(say="Hmph.", emotion="calm", action="turn_away")
    with pytest.raises(BackendError, match="already chosen"):
        steps.job()
    with pytest.raises(BackendError, match="already chosen"):
        steps.take(" none]")


class Scorer:
    """Scores every choice by a table; records what it was asked."""

    def __init__(self, table: dict[str, float]) -> None:
        self.table = table
        self.asked: list[tuple[str, ...]] = []

    def choice_scores(self, prompt: Sequence[str], choices: Sequence[str]) -> tuple[float, ...]:
        self.asked.append(tuple(prompt))
        return tuple(self.table.get(c, 0.0) for c in choices)


def test_calibrate_subtracts_the_content_free_scores(smith: Persona) -> None:
    scorer = Scorer({" annoyed.": 3.0, " calm.": 1.0, " turn away]": 5.0})
    structure = calibrate(scorer, ReplyStructure(smith), player_name="Hero")
    assert structure.emotion_params.choice_bias == (-1.0, -3.0, -0.0)
    assert structure.action_params.choice_bias == (-0.0, -0.0, -0.0, -5.0, -0.0)
    neutral, action = scorer.asked
    assert neutral[-2].endswith("Hero: ...\nBo:") and neutral[-1] == " ...\n[Bo feels"
    assert action[-1] == " annoyed. Action:"  # the neutral exchange's own emotion
    # The original is untouched; the choices are the same.
    assert ReplyStructure(smith).emotion_params.choice_bias == ()
    assert structure.action_params.choices == ReplyStructure(smith).action_params.choices


def test_calibrate_on_the_fake_is_flat(smith: Persona) -> None:
    structure = calibrate(ScriptedGenerator(), ReplyStructure(smith))
    assert set(structure.emotion_params.choice_bias) == {0.0}
    assert ReplyStructure(smith).calibrated((), ()).emotion_params.choice_bias == ()


_word = st.text(alphabet="abcdefghij", min_size=1, max_size=6)


@st.composite
def personas(draw: st.DrawFn) -> Persona:
    emotions = draw(st.lists(_word, max_size=MAX_EMOTIONS, unique=True))
    actions = []
    names = draw(st.lists(_word, max_size=5, unique=True))
    for name in names:
        args = draw(st.lists(_word, max_size=2, unique=True))
        actions.append(
            {
                "name": f"do_{name}",
                "args": {
                    a: draw(st.lists(_word, min_size=1, max_size=4, unique=True)) for a in args
                },
            }
        )
    data = {"name": "Bo", "role": "smith", "emotions": emotions, "actions": actions}
    try:
        return parse_persona(data)
    except PersonaError:
        # Random actions may read alike ("do a" + "b" and "do a b"): draw others.
        reject()


@settings(max_examples=200, deadline=None)
@given(personas(), st.randoms(use_true_random=False))
def test_any_persona_any_pick_gives_a_valid_record(persona: Persona, rnd: random.Random) -> None:
    structure = ReplyStructure.for_persona(persona)
    # Every choice set passes the primitive's own checks (distinct, prefix-free).
    SamplingParams(choices=structure.emotion_params.choices)
    SamplingParams(choices=structure.action_params.choices)
    gen = ScriptedGenerator(choose=lambda _prompt, options: rnd.choice(options))
    reply = choose(gen, ("P",), "Line.", structure)
    assert reply.emotion in (persona.emotions or DEFAULT_EMOTIONS)
    if reply.action == NO_ACTION:
        assert dict(reply.args) == {}
    else:
        action = next(a for a in persona.actions if a.name == reply.action)
        assert list(reply.args) == [arg.name for arg in action.args]
        for arg in action.args:
            assert reply.args[arg.name] in arg.values


# --- the real model ---------------------------------------------------------------------------

LINES = [
    "Can you fix my sword?",
    "I want to buy an axe.",
    "Where is the inn?",
    "You are a fool.",
    "Your work is the best in the valley!",
    "Have you seen any strangers?",
    "Goodbye.",
]


@pytest.fixture(scope="module")
def llama() -> Iterator[object]:
    from npc_ai.backends.llama_cpp import LlamaCppGenerator, LlamaOptions

    with LlamaCppGenerator.from_default(options=LlamaOptions(context_size=1024)) as gen:
        yield gen


@pytest.mark.model
def test_real_structured_replies_are_always_valid_and_quick(llama: object) -> None:
    from npc_ai.backends.llama_cpp import LlamaCppGenerator
    from npc_ai.dialogue.npc import Npc

    assert isinstance(llama, LlamaCppGenerator)
    spent = []
    for stem in ("blacksmith", "guard", "innkeeper"):
        persona = load_persona(PERSONAS / f"{stem}.toml")
        npc = Npc(persona, llama)
        structure = calibrate(llama, ReplyStructure.for_persona(persona), prefix=npc.prefix)
        assert len(structure.emotion_params.choice_bias) == len(persona.emotions)
        for seed, line in enumerate(LINES):
            reply = npc.say(line, seed=seed)
            say = reply.read()
            started = time.perf_counter()
            result = choose(llama, reply.prompt.segments, say, structure)
            spent.append(time.perf_counter() - started)
            assert result.say == say
            assert result.emotion in persona.emotions
            if result.action != NO_ACTION:
                action = next(a for a in persona.actions if a.name == result.action)
                for arg in action.args:
                    assert result.args[arg.name] in arg.values
    spent.sort()
    # Gross bound: a few decode steps (~25-45 ms each here), nowhere near the
    # second that grammar sampling takes.
    assert spent[len(spent) // 2] < 0.6, spent


def test_the_lines_words_vote_for_actions_and_emotions(blacksmith: Persona) -> None:
    prompt = ("prefix", "Player: Can you fix my sword?\nBrakka Ironhand:")
    voting = ReplyStructure.for_persona(blacksmith, StructureOptions(vote=2.0))
    _, params = voting.action_job(prompt, "Leave it on the anvil.", " calm.")
    bias = dict(zip(params.choices, params.choice_bias, strict=True))
    assert bias[" repair sword]"] == bias[" sell sword]"] == 2.0  # "sword" said by the player
    assert bias[" repair shield]"] == bias[" none]"] == 0.0
    _, params = voting.emotion_job(prompt, "Ha! A joke, that.")
    bias = dict(zip(params.choices, params.choice_bias, strict=True))
    assert bias[" amused."] == 4.0 and bias[" calm."] == 0.0  # "ha" and "joke": two votes
    # Off at 0; a calibrated structure keeps its calibration under the votes.
    plain = ReplyStructure.for_persona(blacksmith, StructureOptions(vote=0.0))
    assert plain.action_job(prompt, "Leave it.", " calm.")[1].choice_bias == ()
    calibrated = voting.calibrated([1.0] * 6, [0.5] * len(voting.action_params.choices))
    _, params = calibrated.action_job(prompt, "Leave it.", " calm.")
    bias = dict(zip(params.choices, params.choice_bias, strict=True))
    assert bias[" repair sword]"] == -0.5 + 2.0 and bias[" none]"] == -0.5
