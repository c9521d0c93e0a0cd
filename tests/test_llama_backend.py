"""The real dialogue path: llama.cpp with the default Gemma 3 270M model."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from npc_ai.backends.llama_cpp import LlamaCppGenerator, LlamaOptions
from npc_ai.dialogue.npc import Npc
from npc_ai.dialogue.persona import Persona
from npc_ai.errors import BackendError, InputError, ModelLoadError
from npc_ai.generation import SamplingParams
from npc_ai.models import DEFAULT_MODEL, resolve_model

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def model_path() -> Path:
    return resolve_model(DEFAULT_MODEL)


@pytest.fixture(scope="module")
def model(model_path: Path) -> Iterator[LlamaCppGenerator]:
    with LlamaCppGenerator(model_path, options=LlamaOptions(context_size=2048)) as gen:
        yield gen


def test_npc_replies_in_one_clean_line(model: LlamaCppGenerator, blacksmith: Persona) -> None:
    npc = Npc(blacksmith, model)
    for seed in range(4):
        reply = npc.say("Can you fix my sword?", seed=seed)
        pieces = list(reply)
        text = reply.text
        assert text and text == "".join(pieces) == text.strip()
        assert "\n" not in text
        assert "Player:" not in text and "Brakka Ironhand:" not in text
        assert reply.finish_reason in ("stop", "sentences", "length")
        npc.reset()


def test_same_seed_same_reply_cold_and_warm(model: LlamaCppGenerator, guard: Persona) -> None:
    model.reset_cache()
    cold = Npc(guard, model).reply("Who goes there?", seed=11)
    # Now the persona prefix is cached; the reply must not change.
    warm = Npc(guard, model).reply("Who goes there?", seed=11)
    assert cold == warm


def test_prompt_markup_is_plain_text(model: LlamaCppGenerator) -> None:
    control = model.tokenize("<start_of_turn>", add_bos=False)
    assert len(control) > 1  # not the single control token 105


def test_reply_is_never_empty(model: LlamaCppGenerator, blacksmith: Persona) -> None:
    npc = Npc(blacksmith, model)
    # A reply that could well end at once: the player has the last word.
    for seed in range(6):
        reply = npc.say("...", seed=seed)
        assert reply.read().strip()
        assert reply.finish_reason != "fallback"
        npc.reset()


def test_closing_the_stream_stops_within_one_token(model: LlamaCppGenerator) -> None:
    model.reset_cache()
    prompt = "Once upon a time, in a village by the river, there lived"
    stream = model.generate(prompt, SamplingParams(max_tokens=100, seed=1))
    next(stream)
    next(stream)
    decoded = model.cached_tokens
    stream.close()  # type: ignore[attr-defined]
    assert model.cached_tokens == decoded
    # The model is free again at once.
    assert next(model.generate(prompt, SamplingParams(max_tokens=4, seed=1)))


def test_second_open_stream_on_one_thread_is_refused(model: LlamaCppGenerator) -> None:
    first = model.generate("Hello", SamplingParams(max_tokens=8, seed=1))
    next(first)
    with pytest.raises(BackendError, match="already has a generation open"):
        model.generate("Hello", SamplingParams(max_tokens=8, seed=1))
    first.close()  # type: ignore[attr-defined]


def test_prompt_longer_than_the_context_is_an_input_error(model: LlamaCppGenerator) -> None:
    with pytest.raises(InputError, match="context"):
        model.generate("word " * 5000, SamplingParams(max_tokens=8))


def test_not_a_gguf_file(tmp_path: Path) -> None:
    bad = tmp_path / "model.gguf"
    bad.write_bytes(b"PK\x03\x04 not a model")
    with pytest.raises(ModelLoadError, match="not a GGUF"):
        LlamaCppGenerator(bad)


def test_truncated_gguf_is_a_clear_error(tmp_path: Path, model_path: Path) -> None:
    bad = tmp_path / "truncated.gguf"
    with model_path.open("rb") as src:
        bad.write_bytes(src.read(1_000_000))
    with pytest.raises(ModelLoadError, match="npc-ai models verify"):
        LlamaCppGenerator(bad)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="does not exist"):
        LlamaCppGenerator(tmp_path / "nope.gguf")


def test_closed_model_refuses_work(model_path: Path) -> None:
    gen = LlamaCppGenerator(model_path)
    gen.close()
    gen.close()
    with pytest.raises(BackendError, match="closed"):
        gen.generate("hi", SamplingParams())


def test_a_conversation_replays_the_same_from_a_cold_cache(
    model: LlamaCppGenerator, blacksmith: Persona
) -> None:
    lines = ["Hello there.", "Can you fix my sword?", "How much will it cost?"]
    npc = Npc(blacksmith, model)
    warm = [npc.reply(line, seed=i) for i, line in enumerate(lines)]
    replay = Npc(blacksmith, model)
    cold = []
    for i, line in enumerate(lines):
        model.reset_cache()
        cold.append(replay.reply(line, seed=i))
    assert warm == cold


def test_prepare_then_reply_matches_a_cold_reply(
    model: LlamaCppGenerator, blacksmith: Persona
) -> None:
    model.reset_cache()
    cold = Npc(blacksmith, model).reply("Is the north road safe?", seed=4)
    model.reset_cache()
    npc = Npc(blacksmith, model)
    npc.prepare()
    prepared = model.cached_tokens
    assert prepared > 100
    assert npc.reply("Is the north road safe?", seed=4) == cold


def test_a_preferred_word_comes_out_once(model: LlamaCppGenerator) -> None:
    prompt = "Player: Quick, tell me the name of a colour!\nGuard:"
    base = SamplingParams(max_tokens=24, temperature=0.0, stop=("\n",))
    plain = "".join(model.generate(prompt, base))
    assert "teal" not in plain.casefold()  # greedy: the model does not say it unprompted
    nudged = "".join(model.generate(prompt, replace(base, prefer=("teal",), prefer_bias=12.0)))
    assert "teal" in nudged.casefold()
    # The nudge stops once the word is out: it is not repeated to the end of the reply.
    assert nudged.casefold().count("teal") == 1, nudged


def test_a_banned_opening_is_not_drawn(model: LlamaCppGenerator) -> None:
    prompt = "Player: Is the forge hot today?\nBlacksmith:"
    base = SamplingParams(max_tokens=8, temperature=0.0, stop=("\n",))
    plain = "".join(model.generate(prompt, base)).strip()
    first = plain.split()[0]
    other = "".join(model.generate(prompt, replace(base, ban_first=(plain,)))).strip()
    assert other and other.split()[0] != first, (plain, other)
    # Only the opening is banned: the word may come later.
    assert "".join(model.generate(prompt, replace(base, ban_first=("xyzzy",)))).strip() == plain
