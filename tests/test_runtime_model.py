"""The runtime on the real model: several NPCs batched on one llama.cpp context."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from npc_ai.backends.llama_engine import EngineOptions, LlamaBatchEngine
from npc_ai.dialogue.npc import DialogueOptions
from npc_ai.dialogue.persona import Persona
from npc_ai.engine import Job, Priority
from npc_ai.generation import SamplingParams
from npc_ai.models import DEFAULT_MODEL, resolve_model
from npc_ai.runtime import ReplyDelta, ReplyDone, Runtime
from tests.frames import assert_no_stall, run_frames
from tests.test_runtime import pump

pytestmark = pytest.mark.model

LONG = DialogueOptions(max_tokens=60, max_sentences=8)


@pytest.fixture(scope="module")
def engine_path() -> str:
    return str(resolve_model(DEFAULT_MODEL))


@pytest.fixture
def runtime(engine_path: str) -> Iterator[Runtime]:
    engine = LlamaBatchEngine(engine_path, options=EngineOptions(slots=4, max_active=4))
    with Runtime(engine) as rt:
        yield rt


def test_npcs_talk_at_once_without_stalling_frames(
    runtime: Runtime, blacksmith: Persona, guard: Persona
) -> None:
    ids = [
        runtime.add_npc(p, npc_id=f"{p.name}{i}", dialogue=LONG)
        for i, p in enumerate([blacksmith, guard, blacksmith])
    ]
    handles = [
        runtime.say(n, "Tell me a long story about this village.", seed=i)
        for i, n in enumerate(ids)
    ]
    frames = run_frames(runtime.update, frames=240)  # 4 s of a 60 FPS game
    pump(runtime, lambda: all(h.done for h in handles), timeout=120)
    assert_no_stall(frames)
    for handle in handles:
        assert handle.text.strip() and handle.finish_reason in ("stop", "sentences", "length")
        assert "\n" not in handle.text


def test_same_persona_prompt_is_copied_not_reread(runtime: Runtime, blacksmith: Persona) -> None:
    a = runtime.add_npc(blacksmith, npc_id="a")
    b = runtime.add_npc(blacksmith, npc_id="b")
    runtime.prepare(a).result(timeout=60)
    engine = runtime.engine
    assert isinstance(engine, LlamaBatchEngine)
    prefix = engine.cached_tokens("a")
    assert prefix > 100
    started = time.perf_counter()
    runtime.prepare(b).result(timeout=60)
    # Reading ~600 tokens takes seconds here; copying them takes milliseconds.
    assert time.perf_counter() - started < 0.5
    assert engine.cached_tokens("b") == prefix


def test_cancel_mid_generation_stops_within_a_step(runtime: Runtime, guard: Persona) -> None:
    npc = runtime.add_npc(guard, dialogue=LONG)
    handle = runtime.say(npc, "Tell me everything about the Watch.", seed=3)
    pump(runtime, lambda: len(handle.text.split()) >= 2, timeout=60)
    handle.cancel()
    events = pump(runtime, lambda: handle.done, timeout=5)
    done = [e for e in events if isinstance(e, ReplyDone)]
    assert done[-1].finish_reason == "cancelled"
    time.sleep(0.3)  # several steps' worth
    late = [e for e in runtime.update() if isinstance(e, ReplyDelta) and e.reply == handle.id]
    assert late == []
    assert runtime.engine.busy is False


def test_close_mid_generation_joins_quickly(engine_path: str, blacksmith: Persona) -> None:
    rt = Runtime(LlamaBatchEngine(engine_path, options=EngineOptions(slots=2, max_active=2)))
    npc = rt.add_npc(blacksmith, dialogue=LONG)
    handle = rt.say(npc, "Tell me a long story.", seed=1)
    pump(rt, lambda: len(handle.text) > 0, timeout=60)
    started = time.perf_counter()
    rt.close()
    assert time.perf_counter() - started < 0.2
    assert handle.future.cancelled()


def test_close_while_reading_a_prompt_joins_quickly(engine_path: str, guard: Persona) -> None:
    # A 256-token prompt chunk takes about a second to read here: the abort flag cuts it.
    engine = LlamaBatchEngine(
        engine_path, options=EngineOptions(slots=1, max_active=1, prefill_chunk=256)
    )
    rt = Runtime(engine)
    npc = rt.add_npc(guard)
    rt.say(npc, "Hello.")
    time.sleep(0.15)
    started = time.perf_counter()
    rt.close()
    assert time.perf_counter() - started < 0.2


def test_a_focused_line_preempts_the_step_under_way(
    runtime: Runtime, blacksmith: Persona, guard: Persona
) -> None:
    from npc_ai.engine import Priority

    talkers = [runtime.add_npc(blacksmith, npc_id=f"t{i}", dialogue=LONG) for i in range(2)]
    focus = runtime.add_npc(guard, npc_id="focus", priority=Priority.FOCUSED)
    runtime.prepare(focus).result(timeout=60)
    background = [
        runtime.say(t, "Tell me a long story about iron.", seed=i) for i, t in enumerate(talkers)
    ]
    pump(runtime, lambda: all(len(h.text) > 0 for h in background), timeout=120)
    handle = runtime.say(focus, "Who goes there?", seed=2)
    pump(runtime, lambda: handle.done and all(h.done for h in background), timeout=120)
    # Cut steps are run again: every reply still comes out whole and clean.
    for h in [handle, *background]:
        assert h.text.strip() and "\n" not in h.text
        assert h.finish_reason in ("stop", "sentences", "length")


def test_structured_replies_and_memory_on_the_real_model(
    engine_path: str, blacksmith: Persona
) -> None:
    from npc_ai.memory import MemoryStore

    engine = LlamaBatchEngine(engine_path, options=EngineOptions(slots=4, max_active=4))
    with Runtime(engine, memory=MemoryStore(":memory:")) as runtime:
        smith = runtime.add_npc(blacksmith, dialogue=DialogueOptions(structured=True))
        for line in ("My horse is called Pepper.", "What is my horse called?"):
            handle = runtime.say(smith, line, seed=5)
            events = pump(runtime, lambda h=handle: h.done, timeout=120)
            done = events[-1]
            assert isinstance(done, ReplyDone) and done.text
            assert done.structured is not None
            assert done.structured.emotion in blacksmith.emotions
            assert done.structured.action in {a.name for a in blacksmith.actions} | {"none"}
        assert runtime.memory(smith).facts()["player.horse"].text.endswith("Pepper.")
        prompt = runtime.history(smith)[-2]
        assert prompt.note == "(Brakka remembers: Player's horse is called Pepper.)"


def run_job(engine: LlamaBatchEngine, job: Job) -> str:
    engine.submit(job)
    text = ""
    while engine.busy:
        for piece in engine.step():
            text += piece.text
    return text


@pytest.mark.parametrize("keep", [True, False])
def test_the_next_turn_starts_from_the_cached_reply(engine_path: str, keep: bool) -> None:
    engine = LlamaBatchEngine(
        engine_path, options=EngineOptions(slots=2, max_active=2, keep_generated=keep)
    )
    try:
        prefix = "A blacksmith talks with a traveller at the forge.\n\n"
        line = "Traveller: Good morning! Can you mend my sword?\nSmith:"
        params = SamplingParams(max_tokens=12, seed=1, temperature=0.0)
        reply = run_job(engine, Job(key="smith", segments=(prefix, line), params=params))
        assert reply.strip()
        turn = (prefix, line, f"{reply}\nTraveller: Thanks.\nSmith:")
        offsets: list[int] = []
        start = engine._start

        def started(*args: Any) -> Any:
            active = start(*args)
            offsets.append(active.todo_offset)  # tokens of the new segment already cached
            return active

        engine._start = started  # type: ignore[method-assign]
        engine.submit(Job(key="smith", segments=turn, params=params))
        engine.step()
        (kept,) = offsets
        reply_tokens = len(engine.model.tokenize(reply, add_bos=False))
        if keep:
            # the reply's tokens were generated into the cache: the turn starts after them
            assert reply_tokens - 2 <= kept < reply_tokens + 3, (reply, kept)
        else:
            assert kept == 0
        while engine.busy:
            engine.step()
    finally:
        engine.close()


def test_npcs_asked_at_once_share_each_steps_prompt_budget(engine_path: str) -> None:
    engine = LlamaBatchEngine(
        engine_path, options=EngineOptions(slots=4, max_active=4, prefill_chunk=64)
    )
    steps: list[list[tuple[object, int]]] = []
    decode = engine._decode

    def recorded(plan: Any) -> None:
        steps.append([(active.job.key, len(tokens)) for active, tokens, _ in plan if active.todo])
        decode(plan)

    engine._decode = recorded  # type: ignore[method-assign]
    try:
        params = SamplingParams(max_tokens=4, seed=1)
        prompts = {
            key: f"{key.title()} is a villager of Thornvale who tells long stories about the "
            "harvest, the weather, the mill, the river and the travellers on the road.\nPlayer:"
            for key in ("smith", "guard", "cook")
        }
        for key, prompt in prompts.items():
            engine.submit(Job(key=key, segments=(prompt,), params=params))
        while engine.busy:
            engine.step()
        lengths = {key: len(engine.model.tokenize(p, add_bos=True)) for key, p in prompts.items()}
        assert all(20 < n < 64 for n in lengths.values()), lengths
        first = steps[0]
        # the first step is filled to the budget from two prompts, not one whole prompt
        assert sum(n for _, n in first) == 64 and len(first) == 2, steps
        # every NPC has read part of its prompt by the second step
        assert {key for step in steps[:2] for key, _ in step} == set(prompts), steps
        read = {key: sum(n for step in steps for k, n in step if k == key) for key in prompts}
        assert read == lengths  # each token read once
    finally:
        engine.close()


def test_a_reply_reads_on_from_a_prepare_still_under_way(engine_path: str) -> None:
    engine = LlamaBatchEngine(engine_path, options=EngineOptions(slots=2, max_active=2))
    offsets: list[int] = []
    start = engine._start

    def started(*args: Any) -> Any:
        active = start(*args)
        offsets.append(active.todo_offset)
        return active

    engine._start = started  # type: ignore[method-assign]
    try:
        prefix = "The smith of Thornvale, gruff and proud. " * 20  # ~200 tokens: several chunks
        engine.submit(Job(key="smith", segments=(prefix,), params=SamplingParams(max_tokens=0)))
        engine.step()
        engine.step()  # two chunks of the persona read, more to go
        read = engine.cached_tokens("smith")
        assert 0 < read < len(engine.model.tokenize(prefix, add_bos=True))
        line = "\nPlayer: Can you mend my sword?\nSmith:"
        reply = Job(
            key="smith",
            segments=(prefix, line),
            params=SamplingParams(max_tokens=4, seed=1),
            priority=Priority.FOCUSED,
        )
        engine.submit(reply)
        pieces = engine.step()
        # the prepare ends where it was; the reply goes on from there, in the same slot
        assert any(p.end == "prefilled" for p in pieces)
        assert offsets[-1] == read
        while engine.busy:
            engine.step()
    finally:
        engine.close()
