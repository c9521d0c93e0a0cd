from __future__ import annotations

import asyncio
import ctypes
import re
import threading
import time

import pytest

from npc_ai.backends import ScriptedGenerator
from npc_ai.dialogue.npc import DialogueOptions
from npc_ai.dialogue.persona import Persona
from npc_ai.engine import Piece, Priority, SerialEngine
from npc_ai.errors import BackendError, InputError
from npc_ai.runtime import ReplyDelta, ReplyDone, ReplyError, Runtime, RuntimeOptions
from tests.frames import assert_no_stall, busy, run_frames


def pump(rt: Runtime, until: object, timeout: float = 5.0) -> list[object]:
    events: list[object] = []
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        events += rt.update()
        if callable(until) and until():
            return events
        time.sleep(0.002)
    raise AssertionError("timed out")


@pytest.fixture(params=[True, False], ids=["threaded", "stepped"])
def threaded(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


def make(
    script: list[str] | None = None, *, delay: float = 0.0, threaded: bool = True, **gen: object
) -> Runtime:
    generator = ScriptedGenerator(script or [" Hmph. Leave it.\nPlayer: x"], delay=delay, **gen)  # type: ignore[arg-type]
    return Runtime(SerialEngine(generator), options=RuntimeOptions(threaded=threaded, budget_ms=5))


def test_replies_arrive_through_update(blacksmith: Persona, guard: Persona, threaded: bool) -> None:
    with make([" Hmph. Leave it.\nPlayer: x", " Halt, citizen."], threaded=threaded) as rt:
        a, b = rt.add_npc(blacksmith), rt.add_npc(guard)
        main = threading.get_ident()
        seen: list[int] = []
        ha = rt.say(a, "Fix my sword?", on_delta=lambda e: seen.append(threading.get_ident()))
        hb = rt.say(b, "Hello")
        events = pump(rt, lambda: ha.done and hb.done)
        assert ha.text == "Hmph. Leave it." and hb.text == "Halt, citizen."
        deltas = "".join(e.text for e in events if isinstance(e, ReplyDelta) and e.npc == a)
        assert deltas == ha.text
        assert ha.future.result() == ha.text
        assert seen and set(seen) == {main}  # callbacks run on the game thread
        assert [t.speaker for t in rt.history(a)] == ["player", "npc"]


def test_update_stays_within_its_budget(blacksmith: Persona) -> None:
    words = " ".join(f"w{i}" for i in range(400)) + "."
    gen = ScriptedGenerator([words])
    rt = Runtime(SerialEngine(gen), options=RuntimeOptions(budget_ms=1.0))
    with rt:
        npc = rt.add_npc(blacksmith, dialogue=DialogueOptions(max_tokens=400, max_sentences=9))
        # The game's own handling of each piece takes 0.1 ms.
        handle = rt.say(npc, "Talk", on_delta=lambda e: busy(0.1))
        time.sleep(0.5)  # let the worker pile up events
        started = time.perf_counter()
        first = rt.update()
        spent = (time.perf_counter() - started) * 1000
        assert 0 < len(first) < 100
        assert spent < 3  # 1 ms budget and one piece over it; slack for a noisy machine
        pump(rt, lambda: handle.done)
        assert handle.text == words


def test_cancel_stops_within_a_step_and_keeps_what_was_said(
    blacksmith: Persona, threaded: bool
) -> None:
    script = [" one two three four five six seven eight nine ten eleven."]
    rt = make(script, delay=0.02, threaded=threaded)
    with rt:
        npc = rt.add_npc(blacksmith)
        handle = rt.say(npc, "Talk")
        pump(rt, lambda: len(handle.text) > 0)
        handle.cancel()
        events = pump(rt, lambda: handle.done)
        assert handle.finish_reason == "cancelled"
        done = [e for e in events if isinstance(e, ReplyDone)]
        assert done and done[-1].text == handle.text
        time.sleep(0.1)
        assert not [e for e in rt.update() if isinstance(e, ReplyDelta)]
        assert handle.text and len(handle.text.split()) < 11
        assert rt.history(npc)[-1].text == handle.text


def test_saying_again_interrupts_without_garbling_history(blacksmith: Persona) -> None:
    rt = make([" one two three four five six seven.", " Fine."], delay=0.02)
    with rt:
        npc = rt.add_npc(blacksmith)
        first = rt.say(npc, "first")
        pump(rt, lambda: len(first.text) > 0)
        second = rt.say(npc, "second")
        pump(rt, lambda: first.done and second.done)
        assert first.finish_reason == "cancelled"
        assert second.text == "Fine."
        speakers = [(t.speaker, t.text) for t in rt.history(npc)]
        assert speakers == [("player", "first"), ("player", "second"), ("npc", "Fine.")]


def test_backend_error_reaches_the_game_and_the_npc_recovers(blacksmith: Persona) -> None:
    gen = ScriptedGenerator([" a b c d."], fail_after=2)
    with Runtime(SerialEngine(gen)) as rt:
        npc = rt.add_npc(blacksmith)
        handle = rt.say(npc, "Hi")
        events = pump(rt, lambda: handle.done)
        errors = [e for e in events if isinstance(e, ReplyError)]
        assert errors and isinstance(errors[0].error, BackendError)
        with pytest.raises(BackendError):
            handle.future.result()


class _Exploding(SerialEngine):
    calls = 0

    def step(self) -> list[Piece]:
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("boom")
        return super().step()


def test_a_crashing_engine_step_fails_replies_not_the_runtime(blacksmith: Persona) -> None:
    with Runtime(_Exploding(ScriptedGenerator([" Hm.", " Yes."]))) as rt:
        npc = rt.add_npc(blacksmith)
        first = rt.say(npc, "Hi")
        events = pump(rt, lambda: first.done)
        assert any(isinstance(e, ReplyError) for e in events)
        second = rt.say(npc, "Again")
        pump(rt, lambda: second.done)
        assert second.finish_reason == "stop" and second.text


def test_empty_output_is_retried_then_falls_back(blacksmith: Persona, threaded: bool) -> None:
    rt = make(["\nPlayer: hi"], threaded=threaded)
    with rt:
        npc = rt.add_npc(blacksmith, dialogue=DialogueOptions(fallback_reply="Hmph."))
        handle = rt.say(npc, "Hi")
        pump(rt, lambda: handle.done)
        assert handle.text == "Hmph." and handle.finish_reason == "fallback"


def test_focused_npc_is_served_first(blacksmith: Persona, guard: Persona) -> None:
    gen = ScriptedGenerator(lambda prompt: " Mine." if "Venn" in prompt[:200] else " Other.")
    engine = SerialEngine(gen)
    rt = Runtime(engine, options=RuntimeOptions(threaded=False, budget_ms=50))
    with rt:
        chatter = rt.add_npc(blacksmith, priority=Priority.BACKGROUND)
        focus = rt.add_npc(guard, priority=Priority.FOCUSED)
        late = rt.say(chatter, "Hello")
        first = rt.say(focus, "Hello")
        pump(rt, lambda: late.done and first.done)
        assert gen.prompts[0].count("Venn") > 0  # the focused guard's prompt went first


def test_long_conversation_never_overflows_the_context(blacksmith: Persona) -> None:
    gen = ScriptedGenerator([" Hmph. " + "word " * 20 + "."], context_size=1024)
    with Runtime(SerialEngine(gen)) as rt:
        npc = rt.add_npc(blacksmith)
        for i in range(40):
            handle = rt.say(npc, f"Tell me about thing number {i} " + "please " * 10)
            pump(rt, lambda h=handle: h.done)  # type: ignore[misc]
            assert handle.finish_reason != "error"
        assert max(len(p) for p in gen.prompts) // 4 < 1024


def test_replies_can_be_awaited(blacksmith: Persona) -> None:
    async def main(rt: Runtime) -> str:
        npc = rt.add_npc(blacksmith)
        return await rt.say(npc, "Hi")

    with make() as rt:
        assert asyncio.run(main(rt)) == "Hmph. Leave it."


def test_prepare_reads_the_persona_ahead(blacksmith: Persona) -> None:
    gen = ScriptedGenerator()
    with Runtime(SerialEngine(gen)) as rt:
        npc = rt.add_npc(blacksmith)
        rt.prepare(npc).result(timeout=2)
        assert gen.prefilled and "Brakka Ironhand" in gen.prefilled[0]


def test_bad_ids_and_closed_runtime(blacksmith: Persona) -> None:
    rt = make()
    rt.add_npc(blacksmith, npc_id="smith")
    with pytest.raises(InputError, match="already"):
        rt.add_npc(blacksmith, npc_id="smith")
    with pytest.raises(InputError, match="known: smith"):
        rt.say("nobody", "hi")
    with pytest.raises(InputError, match="empty"):
        rt.say("smith", "   ")
    rt.close()
    rt.close()
    with pytest.raises(BackendError, match="closed"):
        rt.say("smith", "hi")


def test_close_mid_generation_is_quick(blacksmith: Persona, threaded: bool) -> None:
    rt = make([" " + "word " * 200 + "."], delay=0.01, threaded=threaded)
    npc = rt.add_npc(blacksmith, dialogue=DialogueOptions(max_tokens=200, max_sentences=5))
    handle = rt.say(npc, "Talk")
    pump(rt, lambda: len(handle.text) > 10)
    started = time.perf_counter()
    rt.close()
    assert time.perf_counter() - started < 0.2
    assert handle.future.cancelled()


# -- frame stalls ---------------------------------------------------------------------------
# tests/frames.py says how a stall is measured: from the frame's due time, less the time the
# game thread waited for a CPU that other processes held, so a loaded machine does not fail
# these tests and a thread holding the GIL still does.


class _SlowStepEngine(SerialEngine):
    """Steps that take the time a model call takes, off the GIL (as llama.cpp does)."""

    def step(self) -> list[Piece]:
        time.sleep(0.03)
        return super().step()


class _GilHoldingEngine(SerialEngine):
    """Steps that block the whole interpreter for 30 ms: a C call that keeps the GIL."""

    _libc = ctypes.PyDLL(None)

    def step(self) -> list[Piece]:
        self._libc.usleep(30_000)
        return super().step()


_BACKTRACK = re.compile(r"(a+)+b")


def _backtrack_length(cpu_ms: float) -> int:
    """A string length for which ``_BACKTRACK`` computes at least ``cpu_ms`` of CPU time."""
    n = 12
    while True:
        started = time.thread_time()
        _BACKTRACK.match("a" * n)
        if (time.thread_time() - started) * 1000 >= cpu_ms:
            return n
        n += 1


class _GilComputingEngine(SerialEngine):
    """Steps that compute for 30 ms of CPU in C without letting go of the GIL (the regex
    engine never releases it): a backend that forgot to release the GIL around its work."""

    length = 0

    def step(self) -> list[Piece]:
        _BACKTRACK.match("a" * self.length)
        return super().step()


def _talking(engine_cls: type[SerialEngine], persona: Persona) -> Runtime:
    gen = ScriptedGenerator([" " + "word " * 500 + "."])
    rt = Runtime(engine_cls(gen))
    for i in range(3):
        npc = rt.add_npc(
            persona, npc_id=f"n{i}", dialogue=DialogueOptions(max_tokens=500, max_sentences=9)
        )
        rt.say(npc, "Talk")
    return rt


def test_no_frame_stalls_while_npcs_talk(blacksmith: Persona) -> None:
    with _talking(_SlowStepEngine, blacksmith) as rt:
        frames = run_frames(rt.update, frames=90)
    assert_no_stall(frames)


def test_the_stall_test_catches_a_backend_that_blocks_the_game(blacksmith: Persona) -> None:
    with _talking(_GilHoldingEngine, blacksmith) as rt:
        frames = run_frames(rt.update, frames=90)
    with pytest.raises(AssertionError, match="a frame took"):
        assert_no_stall(frames)


def test_the_stall_test_catches_a_backend_that_computes_holding_the_gil(
    blacksmith: Persona, monkeypatch: pytest.MonkeyPatch
) -> None:
    # CPU time, not wall time: on a loaded machine the hold only gets longer.
    monkeypatch.setattr(_GilComputingEngine, "length", _backtrack_length(30.0))
    with _talking(_GilComputingEngine, blacksmith) as rt:
        frames = run_frames(rt.update, frames=90)
    with pytest.raises(AssertionError, match="a frame took"):
        assert_no_stall(frames)


def test_on_events_wakes_a_host_instead_of_polling(blacksmith: Persona) -> None:
    words = " ".join(f"w{i}" for i in range(60)) + "."
    with make([words], delay=0.005) as rt:
        npc = rt.add_npc(blacksmith, dialogue=DialogueOptions(max_tokens=80, max_sentences=9))
        ready = threading.Event()
        calls: list[int] = []

        def told() -> None:
            calls.append(threading.get_ident())
            ready.set()

        rt.on_events(told)
        handle = rt.say(npc, "Talk")
        updates = 0
        while not handle.done:
            assert ready.wait(5), "no events were told"
            ready.clear()
            time.sleep(0.02)  # several pieces come in meanwhile: they are told of once
            rt.update()
            updates += 1
        assert handle.text == words
        # once per update, not once per piece (60 pieces), from the worker thread
        assert len(calls) <= updates + 1 < 40
        assert threading.get_ident() not in calls
        rt.on_events(None)
        again = rt.say(npc, "More")
        pump(rt, lambda: again.done)
        assert len(calls) <= updates + 1  # stopped


def test_on_events_tells_again_of_what_the_budget_left(blacksmith: Persona) -> None:
    words = " ".join(f"w{i}" for i in range(300)) + "."
    rt = Runtime(SerialEngine(ScriptedGenerator([words])), options=RuntimeOptions(budget_ms=0.05))
    with rt:
        npc = rt.add_npc(blacksmith, dialogue=DialogueOptions(max_tokens=400, max_sentences=9))
        handle = rt.say(npc, "Talk", on_delta=lambda e: busy(0.1))
        time.sleep(0.3)  # the worker piles up events
        calls: list[int] = []
        rt.on_events(lambda: calls.append(1))
        assert calls == [1]  # events were already waiting
        rt.update()  # the budget leaves most of them: told again
        assert calls == [1, 1]
        pump(rt, lambda: handle.done)


def test_a_failing_on_events_callback_does_not_stop_replies(blacksmith: Persona) -> None:
    with make() as rt:
        npc = rt.add_npc(blacksmith)

        def broken() -> None:
            raise RuntimeError("the host's bug")

        rt.on_events(broken)
        handle = rt.say(npc, "Hello")
        pump(rt, lambda: handle.done)
        assert handle.text == "Hmph. Leave it."
