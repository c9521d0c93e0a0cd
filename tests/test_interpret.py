"""NPC dialogue in the player's language: the line translated in, the reply out by sentence."""

from __future__ import annotations

import shutil
import time

import pytest

from npc_ai.backends import ScriptedGenerator
from npc_ai.dialogue.interpret import Interpreter
from npc_ai.dialogue.npc import Npc
from npc_ai.dialogue.persona import Persona
from npc_ai.engine import SerialEngine
from npc_ai.errors import InputError, MissingLanguagePairError
from npc_ai.runtime import ReplyDelta, ReplyDone, Runtime, RuntimeOptions
from npc_ai.translation import IdentityTranslator


def tagging() -> Interpreter:
    return Interpreter(IdentityTranslator(tag=True), player="es", npc="en")


def test_the_npc_hears_its_language_and_the_player_reads_theirs(blacksmith: Persona) -> None:
    model = ScriptedGenerator([" Good steel. Come back at dusk.\nPlayer: more"])
    npc = Npc(blacksmith, model, interpreter=tagging())
    reply = npc.say("¿Puedes arreglar mi espada?")
    pieces = list(reply)
    assert pieces == ["[es] Good steel.", " [es] Come back at dusk."]  # whole sentences
    assert reply.text == "".join(pieces)
    assert reply.original == "Good steel. Come back at dusk."
    assert "Player: [en] ¿Puedes arreglar mi espada?" in "".join(model.prompts[-1])
    assert [t.text for t in npc.history] == [
        "[en] ¿Puedes arreglar mi espada?",
        "Good steel. Come back at dusk.",
    ]


def test_same_language_translates_nothing(blacksmith: Persona) -> None:
    translator = IdentityTranslator(tag=True)
    npc = Npc(
        blacksmith,
        ScriptedGenerator(["Hmph."]),
        interpreter=Interpreter(translator, player="en", npc="en"),
    )
    assert npc.reply("Hello.") == "Hmph."
    assert translator.calls == []


def test_a_missing_pair_fails_at_once_naming_the_installed_ones() -> None:
    translator = IdentityTranslator(pairs=[("en", "es"), ("es", "en")])
    with pytest.raises(MissingLanguagePairError, match="en->es"):
        Interpreter(translator, player="fr", npc="en")
    with pytest.raises(InputError):
        Interpreter(translator, player="", npc="en")


def test_the_runtime_streams_translated_sentences(blacksmith: Persona) -> None:
    engine = SerialEngine(ScriptedGenerator([" Good steel. Come back at dusk."]))
    with Runtime(engine, options=RuntimeOptions(threaded=False)) as runtime:
        smith = runtime.add_npc(blacksmith, interpreter=tagging())
        handle = runtime.say(smith, "Hola.")
        events: list[object] = []
        deadline = time.monotonic() + 5
        while not handle.done and time.monotonic() < deadline:
            events += runtime.update()
        deltas = [e.text for e in events if isinstance(e, ReplyDelta)]
        assert deltas == ["[es] Good steel.", " [es] Come back at dusk."]
        done = events[-1]
        assert isinstance(done, ReplyDone)
        assert done.text == "[es] Good steel. [es] Come back at dusk."
        assert runtime.history(smith)[-1].text == "Good steel. Come back at dusk."


@pytest.mark.skipif(shutil.which("apertium") is None, reason="apertium is not installed")
def test_a_real_translator_between_spanish_and_english(blacksmith: Persona) -> None:
    from npc_ai.translation import open_translator

    with open_translator("apertium") as translator:
        model = ScriptedGenerator([" The forge is hot. Come back tomorrow."])
        npc = Npc(blacksmith, model, interpreter=Interpreter(translator, player="es", npc="en"))
        reply = npc.say("¿Dónde está la forja?")
        text = reply.read()
        heard = npc.history[0].text
        assert "forge" in heard.casefold() or "where" in heard.casefold()
        assert "forja" in text.casefold() and "mañana" in text.casefold()
        assert reply.original == "The forge is hot. Come back tomorrow."


def test_the_runtime_switches_an_npcs_language_between_replies(blacksmith: Persona) -> None:
    engine = SerialEngine(ScriptedGenerator([" Good steel.", " Hot iron.", " Cold slag."]))
    with Runtime(engine, options=RuntimeOptions(threaded=False)) as runtime:
        smith = runtime.add_npc(blacksmith)

        def reply(line: str) -> str:
            handle = runtime.say(smith, line)
            deadline = time.monotonic() + 5
            while not handle.done and time.monotonic() < deadline:
                runtime.update()
            return handle.text

        assert reply("Hello.") == "Good steel."
        runtime.set_interpreter(smith, tagging())
        assert reply("Hola.") == "[es] Hot iron."
        assert runtime.history(smith)[-2].text == "[en] Hola."  # heard in its own language
        runtime.set_interpreter(smith, None)
        assert reply("Hello again.") == "Cold slag."
