"""The choice primitive: SamplingParams.choices, the token-trie walk, the fakes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from npc_ai.backends._choice import ChoiceWalk
from npc_ai.backends.fake import ScriptedGenerator
from npc_ai.engine import Job, SerialEngine
from npc_ai.errors import BackendError, InputError
from npc_ai.generation import SamplingParams


def walk_with(walk: ChoiceWalk, scores: dict[int, float]) -> list[list[int]]:
    """Run a walk to the end, scoring each token id by ``scores`` (0 if absent)."""
    fed = [walk.start()]
    while not walk.done:
        fed.append(walk.pick(np.array([scores.get(int(t), 0.0) for t in walk.allowed])))
    return fed


# --- SamplingParams.choices ------------------------------------------------------------------


def test_choices_must_be_distinct_and_prefix_free() -> None:
    SamplingParams(choices=(" calm.", " calmer."))
    with pytest.raises(InputError, match="appears twice"):
        SamplingParams(choices=(" calm.", " calm."))
    with pytest.raises(InputError, match="is the start of"):
        SamplingParams(choices=(" calm", " calmer"))
    with pytest.raises(InputError, match="empty"):
        SamplingParams(choices=("",))
    with pytest.raises(InputError, match="tuple of strings"):
        SamplingParams(choices=[" a"])  # type: ignore[arg-type]
    with pytest.raises(InputError, match="max_tokens"):
        SamplingParams(choices=(" a",), max_tokens=0)


def test_choice_bias_needs_one_finite_number_per_choice() -> None:
    SamplingParams(choices=(" a.", " b."), choice_bias=(1.0, -2.0))
    with pytest.raises(InputError, match="one finite number per choice"):
        SamplingParams(choices=(" a.", " b."), choice_bias=(1.0,))
    with pytest.raises(InputError, match="one finite number per choice"):
        SamplingParams(choices=(" a.", " b."), choice_bias=(1.0, float("nan")))


# --- the trie walk ------------------------------------------------------------------------


def test_bias_moves_the_pick_and_scores_stay_raw() -> None:
    options = (" repair sword]", " repair shield]", " none]")
    tokens = [(10, 20, 99), (10, 21, 99), (30, 99)]
    plain = ChoiceWalk(options, tokens)
    plain.start()
    plain.pick(np.array([2.0, 1.0]))
    assert plain.path[0] == 10
    biased = ChoiceWalk(options, tokens, bias=(-5.0, 0.0, 0.0))
    biased.start()
    # " repair" counts with the larger bias of its options (0.0 from "shield").
    assert biased.pick(np.array([2.0, 1.0])) == [10]
    biased.pick(np.array([3.0, 0.0]))  # sword 3 - 5 < shield 0 + 0
    assert biased.result == " repair shield]"
    assert biased.option_scores() == (2.0, 2.0, 1.0)
    pushed = ChoiceWalk(options, tokens, bias=(-5.0, -5.0, 0.0))
    pushed.start()
    pushed.pick(np.array([2.0, 1.0]))
    assert pushed.result == " none]"
    with pytest.raises(InputError, match="per option"):
        ChoiceWalk(options, tokens, bias=(1.0,))


def test_option_scores_after_a_shared_start() -> None:
    walk = ChoiceWalk((" very happy.", " very sad."), [(5, 6, 9), (5, 7, 9)])
    assert walk.option_scores() == ()
    walk.start()
    walk.pick(np.array([0.5, 1.5]))
    assert walk.option_scores() == (0.5, 1.5)


def test_walk_reads_only_where_options_part_ways() -> None:
    # " repair sword]" / " repair shield]" / " none]" as made-up token ids.
    options = (" repair sword]", " repair shield]", " none]")
    walk = ChoiceWalk(options, [(10, 20, 99), (10, 21, 99), (30, 99)])
    assert walk.start() == []
    assert walk.allowed.tolist() == [10, 30]
    assert walk.pick(np.array([1.0, 0.5])) == [10]
    assert walk.allowed.tolist() == [20, 21]
    assert walk.pick(np.array([0.0, 2.0])) == [21, 99]  # the "]" follows unopposed
    assert walk.done and walk.result == " repair shield]"
    assert walk.readings == 2
    assert walk.path == [10, 21, 99]


def test_walk_takes_a_shared_start_without_reading() -> None:
    walk = ChoiceWalk((" very happy.", " very sad."), [(5, 6, 9), (5, 7, 9)])
    assert walk.start() == [5]
    assert walk.pick(np.array([0.0, 1.0])) == [7, 9]
    assert walk.result == " very sad." and walk.readings == 1


def test_single_option_needs_no_reading() -> None:
    walk = ChoiceWalk((" none]",), [(30, 99)])
    assert walk.start() == [30, 99]
    assert walk.done and walk.result == " none]" and walk.readings == 0


def test_ties_go_to_the_first_option() -> None:
    walk = ChoiceWalk((" b.", " a."), [(2, 9), (1, 9)])
    walk.pick(np.array([0.0, 0.0]))
    assert walk.result == " b."


def test_walk_refuses_token_prefixes_and_misuse() -> None:
    with pytest.raises(InputError, match="told apart"):
        ChoiceWalk((" a", " ab"), [(1,), (1, 2)])
    with pytest.raises(InputError, match="told apart"):
        ChoiceWalk((" ab", " a"), [(1, 2), (1,)])
    with pytest.raises(InputError, match="no tokens"):
        ChoiceWalk((" a",), [()])
    walk = ChoiceWalk((" a.", " b."), [(1, 9), (2, 9)])
    with pytest.raises(InputError, match="not made yet"):
        _ = walk.result
    with pytest.raises(InputError, match="scores"):
        walk.pick(np.array([1.0]))
    walk.pick(np.array([1.0, 0.0]))
    with pytest.raises(InputError, match="already made"):
        walk.pick(np.array([1.0]))


_token_seqs = st.lists(
    st.lists(st.integers(0, 5), min_size=1, max_size=4).map(tuple), min_size=1, max_size=12
)


@given(_token_seqs, st.dictionaries(st.integers(0, 5), st.floats(-50, 50)))
def test_any_walk_ends_on_exactly_one_option(
    seqs: list[tuple[int, ...]], scores: dict[int, float]
) -> None:
    # Make the sequences prefix-free as the terminator does: end each with 99.
    unique = sorted(set(seqs))
    tokens = [(*s, 99) for s in unique]
    options = tuple(f"option {i}" for i in range(len(tokens)))
    walk = ChoiceWalk(options, tokens)
    fed = walk_with(walk, scores)
    assert walk.done
    chosen = tokens[options.index(walk.result)]
    assert [t for part in fed for t in part] == list(chosen) == walk.path
    # Greedy: at the first branch, no other allowed token scored higher.
    first_tokens = {t[0] for t in tokens}
    if len(first_tokens) > 1:
        best = max(scores.get(t, 0.0) for t in first_tokens)
        assert scores.get(chosen[0], 0.0) == best


# --- the fakes ----------------------------------------------------------------------------


def test_scripted_choice_is_one_piece_first_option_by_default() -> None:
    gen = ScriptedGenerator(["Never used."])
    pieces = list(gen.generate(["A", "B"], SamplingParams(choices=(" x y.", " z."))))
    assert pieces == [" x y."]
    assert gen.prompts == ["AB"]


def test_scripted_choice_follows_its_rule_and_refuses_a_bad_one() -> None:
    gen = ScriptedGenerator(choose=lambda prompt, options: options[-1])
    assert list(gen.generate("p", SamplingParams(choices=(" a.", " b.")))) == [" b."]
    bad = ScriptedGenerator(choose=lambda prompt, options: " nope.")
    with pytest.raises(BackendError, match="not one of the choices"):
        bad.generate("p", SamplingParams(choices=(" a.", " b.")))


def test_serial_engine_runs_a_choice_job() -> None:
    engine = SerialEngine(ScriptedGenerator(choose=lambda p, o: o[1]))
    job = Job(key="npc", segments=("x",), params=SamplingParams(choices=(" a.", " b.")))
    engine.submit(job)
    pieces = []
    while engine.busy:
        pieces.extend(engine.step())
    assert [(p.text, p.end) for p in pieces] == [(" b.", None), ("", "stop")]


# --- the real engine (llama.cpp) ------------------------------------------------------------

PROMPTS = [
    ("The capital of France is", (" Paris.", " Berlin.", " Madrid.")),
    ("Two plus two equals", (" four.", " seven.", " purple.")),
    ("The opposite of hot is", (" cold.", " loud.", " green.")),
]


@pytest.fixture(scope="module")
def llama():  # type: ignore[no-untyped-def]
    from npc_ai.backends.llama_cpp import LlamaCppGenerator, LlamaOptions

    with LlamaCppGenerator.from_default(options=LlamaOptions(context_size=512)) as gen:
        yield gen


@pytest.mark.model
def test_real_choices_are_valid_and_sensible(llama) -> None:  # type: ignore[no-untyped-def]
    for prompt, options in PROMPTS:
        out = list(llama.generate(prompt, SamplingParams(choices=options)))
        assert out == [options[0]], prompt


@pytest.mark.model
def test_real_choice_leaves_the_cache_as_a_reply_finds_it(llama) -> None:  # type: ignore[no-untyped-def]
    params = SamplingParams(max_tokens=12, seed=3)
    llama.reset_cache()
    before = "".join(llama.generate(["Once upon a time", " there"], params))
    list(
        llama.generate(
            ["Once upon a time", " she felt"], SamplingParams(choices=(" sad.", " glad."))
        )
    )
    after = "".join(llama.generate(["Once upon a time", " there"], params))
    assert before == after


@pytest.mark.model
def test_batched_choices_match_choices_made_alone(llama) -> None:  # type: ignore[no-untyped-def]
    from npc_ai.backends.llama_engine import EngineOptions, LlamaBatchEngine

    alone = [
        "".join(llama.generate([p, " Answer:"], SamplingParams(choices=o))) for p, o in PROMPTS
    ]
    engine = LlamaBatchEngine(
        llama.model_path, options=EngineOptions(slots=4, max_active=4, prefill_chunk=16)
    )
    try:
        jobs = [
            Job(key=i % 3, segments=(p, " Answer:"), params=SamplingParams(choices=o))
            for i, (p, o) in enumerate(PROMPTS * 2)
        ]
        # A plain reply runs alongside the choices.
        jobs.append(Job(key="story", segments=("Once",), params=SamplingParams(max_tokens=8)))
        for job in jobs:
            engine.submit(job)
        got: dict[int, str] = {}
        while engine.busy:
            for piece in engine.step():
                assert piece.error is None
                got[piece.job] = got.get(piece.job, "") + piece.text
    finally:
        engine.close()
    assert [got[j.id] for j in jobs[:-1]] == alone * 2
    assert got[jobs[-1].id]


@pytest.mark.model
def test_real_scores_and_bias(llama) -> None:  # type: ignore[no-untyped-def]
    prompt, options = PROMPTS[0]
    scores = llama.choice_scores([prompt], options)
    assert len(scores) == 3 and scores[0] == max(scores)
    # A bias that outweighs the gap moves the pick to the second choice.
    gap = scores[0] - scores[1] + 1.0
    params = SamplingParams(choices=options, choice_bias=(-gap, 0.0, 0.0))
    assert "".join(llama.generate(prompt, params)) == options[1]
