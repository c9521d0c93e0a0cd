"""Structured replies through the dialogue API and the game-loop runtime."""

from __future__ import annotations

import time

from npc_ai.backends import ScriptedGenerator
from npc_ai.dialogue.npc import DialogueOptions, Npc
from npc_ai.dialogue.persona import Persona
from npc_ai.engine import SerialEngine
from npc_ai.runtime import ReplyDone, Runtime, RuntimeOptions


def pick(prompt: str, choices: tuple[str, ...]) -> str:
    """Annoyed, and mends the sword, when the scripted fake is asked to choose."""
    for wanted in (" annoyed.", " repair sword]"):
        if wanted in choices:
            return wanted
    return choices[-1]


def test_a_structured_reply_carries_a_valid_emotion_and_action(blacksmith: Persona) -> None:
    model = ScriptedGenerator(["Hmph. Leave it on the anvil.", "Shields cost more."], choose=pick)
    npc = Npc(blacksmith, model, options=DialogueOptions(structured=True))
    reply = npc.say("Can you fix my sword?")
    assert reply.read() == "Hmph. Leave it on the anvil."
    result = reply.structured
    assert result is not None
    assert (result.say, result.emotion) == ("Hmph. Leave it on the anvil.", "annoyed")
    assert result.emotion in blacksmith.emotions
    assert result.action in {a.name for a in blacksmith.actions} | {"none"}
    # The choices follow the line in the line's own (cached) prompt.
    assert model.prompts[-1].startswith("".join(reply.prompt.segments))
    assert not npc.needs_calibration  # measured once, on a content-free exchange
    npc.say("And my shield?").read()
    assert not npc.needs_calibration


def test_plain_replies_carry_no_structure(blacksmith: Persona) -> None:
    reply = Npc(blacksmith, ScriptedGenerator(["Hmph."])).say("Hello.")
    reply.read()
    assert reply.structured is None


def test_the_runtime_delivers_the_structure_with_the_done_event(blacksmith: Persona) -> None:
    script = ["Hmph. Leave it on the anvil.", "Shields cost more."]
    generator = ScriptedGenerator(script, choose=pick)
    engine = SerialEngine(generator)
    with Runtime(engine, options=RuntimeOptions(threaded=False)) as runtime:
        smith = runtime.add_npc(blacksmith, dialogue=DialogueOptions(structured=True))
        handle = runtime.say(smith, "Can you fix my sword?")
        events: list[object] = []
        deadline = time.monotonic() + 5
        while not handle.done and time.monotonic() < deadline:
            events += runtime.update()
        done = events[-1]
        assert isinstance(done, ReplyDone)
        assert done.structured is not None
        assert done.structured.say == done.text == "Hmph. Leave it on the anvil."
        assert done.structured.emotion == "annoyed"
        # Calibrated once, on a content-free exchange, before the first choice.
        neutral = [p for p in generator.prompts if "Player: ...\n" in p]
        assert len(neutral) == 2  # the emotion's and the action's reading
        # Cancelling while the choices run ends the reply once, as cancelled.
        handle = runtime.say(smith, "And my shield?")
        for _ in range(50):
            runtime.update()
            if handle.text:
                break
        handle.cancel()
        while not handle.done:
            runtime.update()
        assert handle.finish_reason in ("cancelled", "stop")
