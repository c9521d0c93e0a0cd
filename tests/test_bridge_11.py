"""Bridge protocol 1.1 (docs/PROTOCOL.md §10) on a real socket, with the scripted fake generator:
the minor version, structured replies, the player's language, memory, earshot, npc.prepare, the
memory methods and their scope between clients, the client limit, two servers side by side, and
fuzzed parameters of every new method."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.client import Client
from bridge.discovery import read_discovery
from bridge.errors import RemoteError, UnavailableError
from bridge.methods import METHODS
from bridge.protocol import ClientConnection, Limits, Response, pack
from npc_ai.backends import ScriptedGenerator
from npc_ai.dialogue.npc import DialogueOptions
from npc_ai.dialogue.persona import load_persona
from npc_ai.engine import SerialEngine
from npc_ai.memory import MemoryStore
from npc_ai.runtime import ReplyDone, Runtime, RuntimeOptions
from npc_ai.translation.fake import IdentityTranslator
from tests.conftest import PERSONAS, ROOT
from tests.test_bridge_server import (
    REPLY,
    SMITH_LINE,
    TOKEN,
    closed,
    read_messages,
    say_toml,
    serving,
)

GOLDEN = {
    v["name"]: v
    for v in json.loads((ROOT / "tests" / "data" / "bridge_golden.json").read_text("utf-8"))[
        "messages"
    ]
}
NEW_METHODS = ("npc.prepare", "npc.facts", "npc.teach", "npc.relationship")
BLACKSMITH = load_persona(PERSONAS / "blacksmith.toml")


def pick(prompt: str, choices: tuple[str, ...]) -> str:
    """Annoyed, and mends the sword, when the scripted fake is asked to choose."""
    for wanted in (" annoyed.", " repair sword]"):
        if wanted in choices:
            return wanted
    return choices[-1]


def allowed_args(action: str) -> dict[str, tuple[str, ...]]:
    """Each argument of one of the blacksmith's actions and its allowed values."""
    if action == "none":
        return {}
    found = next(a for a in BLACKSMITH.actions if a.name == action)
    return {arg.name: tuple(arg.values) for arg in found.args}


def code_of(call: Any) -> RemoteError:
    with pytest.raises(RemoteError) as info:
        call()
    return info.value


# -- the version -----------------------------------------------------------------------------


def test_the_server_announces_1_1(tmp_path: Path) -> None:
    path = tmp_path / "bridge.json"
    with serving(discovery=path, memory=MemoryStore()) as srv, srv.client() as c:
        assert (c.server["protocol"], c.server["minor"], c.minor) == (1, 1, 1)
        assert c.server["limits"]["max_clients"] == 4
        d = c.call("rpc.describe")
        assert (d["protocol"], d["minor"]) == (1, 1)
        since = {m["name"]: m["since"] for m in d["methods"]}
        assert {n for n, v in since.items() if v == "1.1"} == set(NEW_METHODS)
        load = next(m for m in d["methods"] if m["name"] == "npc.load")
        assert {p["name"]: p["since"] for p in load["params"] if p["since"] == "1.1"} == {
            "structured": "1.1",
            "language": "1.1",
            "memory": "1.1",
        }
        assert all(m["available"] for m in d["methods"] if m["name"] in NEW_METHODS)
        info = read_discovery(path)
        assert (info["protocol"], info["minor"]) == (1, 1)


def test_the_hello_result_is_the_golden_vector() -> None:
    with serving() as srv, srv.raw() as sock:
        conn = ClientConnection()
        sock.sendall(conn.hello(TOKEN, "golden"))
        got = read_messages(sock, conn, lambda m: len(m) >= 1)
        assert pack(got[0]).hex() == GOLDEN["hello_response_11"]["framed"]


def test_memory_methods_are_unavailable_without_a_store() -> None:
    with serving() as srv, srv.client() as c:
        d = c.call("rpc.describe")
        available = {m["name"]: m["available"] for m in d["methods"]}
        assert available["npc.prepare"] is True
        assert not any(available[n] for n in ("npc.facts", "npc.teach", "npc.relationship"))
        c.load("smith", persona=say_toml())
        for method in ("npc.facts", "npc.relationship"):
            assert code_of(lambda m=method: c.call(m, id="smith")).remote_code == 2011
        error = code_of(lambda: c.load("guard", persona=say_toml(), memory=True))
        assert error.remote_code == 2011 and error.remote_data["param"] == "memory"


def test_a_1_0_client_keeps_working_unchanged() -> None:
    """The messages of a 1.0 client, byte for byte as before: same answers, no new keys on
    a plain NPC's done."""
    with serving(memory=MemoryStore()) as srv, srv.raw() as sock:
        conn = ClientConnection()
        sock.sendall(conn.hello(TOKEN, "godot 1.0"))
        sock.sendall(conn.request("npc.load", {"id": "smith", "persona": say_toml()})[1])
        sock.sendall(conn.request("npc.say", {"npc": "smith", "text": "Hi", "seed": 1})[1])

        def done(m: list[Any]) -> bool:
            return any(getattr(x, "method", "") == "npc.done" for x in m)

        got = read_messages(sock, conn, done)
        hello, load, say = (m for m in got if isinstance(m, Response))
        assert hello.result["protocol"] == 1 and load.result == {
            "id": "smith",
            "name": "Brakka Ironhand",
        }
        finished = next(m for m in got if getattr(m, "method", "") == "npc.done")
        assert finished.params == {
            "stream": say.result["stream"],
            "npc": "smith",
            "text": SMITH_LINE,
            "finish_reason": "stop",
        }


def test_helpers_refuse_1_1_calls_to_a_1_0_server() -> None:
    with serving() as srv, srv.client() as c:
        c.server = {k: v for k, v in c.server.items() if k != "minor"}  # as a 1.0 server says
        assert c.minor == 0
        for call in (
            lambda: c.facts("smith"),
            lambda: c.prepare("smith"),
            lambda: c.load("x", persona=say_toml(), structured=True),
            lambda: c.say("x", "hi", heard_by=["y"]),
        ):
            with pytest.raises(UnavailableError) as info:
                call()
            assert "needs bridge protocol 1.1" in info.value.message
        assert c.call("rpc.ping", echo=1) == {"echo": 1}  # nothing was sent


# -- structured replies ---------------------------------------------------------------------


def in_process(script: list[str], seed: int, line: str) -> ReplyDone:
    """The same structured reply in Python: a runtime on the same fake, one NPC, same seed."""
    generator = ScriptedGenerator(script, choose=pick)
    with Runtime(SerialEngine(generator), options=RuntimeOptions(threaded=False)) as runtime:
        smith = runtime.add_npc(BLACKSMITH, dialogue=DialogueOptions(structured=True))
        handle = runtime.say(smith, line, seed=seed)
        events: list[Any] = []
        deadline = time.monotonic() + 5
        while not handle.done and time.monotonic() < deadline:
            events += runtime.update()
        done = events[-1]
        assert isinstance(done, ReplyDone)
        return done


def test_a_structured_reply_over_the_bridge_matches_python() -> None:
    script = ["Hmph. Leave it on the anvil.", "Shields cost more."]
    expected = in_process(script, 7, "Can you fix my sword?")
    assert expected.structured is not None
    with serving(script, choose=pick) as srv, srv.client() as c:
        assert c.load("smith", file="blacksmith.toml", structured=True)["name"] == "Brakka Ironhand"
        reply = c.say("smith", "Can you fix my sword?", seed=7)
        assert reply.read() == expected.text == "Hmph. Leave it on the anvil."
        assert (reply.emotion, reply.action, reply.args) == (
            expected.structured.emotion,
            expected.structured.action,
            dict(expected.structured.args),
        )
        assert (reply.emotion, reply.action, reply.args) == ("annoyed", "repair", {"item": "sword"})
        # A plain NPC on the same server: no structure on its done.
        c.load("guard", file="guard.toml")
        plain = c.say("guard", "Who goes there?")
        plain.read()
        assert (plain.emotion, plain.action, plain.args) == (None, None, None)


def test_structured_choices_are_always_the_personas_own() -> None:
    """Whatever the model prefers, the choices are constrained: every done is valid."""
    names = {a.name for a in BLACKSMITH.actions}
    for rule in (lambda p, c: c[0], lambda p, c: c[-1], lambda p, c: c[len(c) // 2]):
        with serving(["Aye.", "No.", "Maybe so."], choose=rule) as srv, srv.client() as c:
            c.load("smith", file="blacksmith.toml", structured=True)
            for seed in range(3):
                reply = c.say("smith", "What do you sell?", seed=seed)
                reply.read()
                assert reply.emotion in BLACKSMITH.emotions
                assert reply.action in names | {"none"}
                allowed = allowed_args(reply.action)
                assert reply.args is not None and set(reply.args) == set(allowed)
                assert all(v in allowed[k] for k, v in reply.args.items())


def test_the_structured_done_has_the_golden_shape() -> None:
    golden = GOLDEN["done_notification_structured_11"]["object"][2][0]
    with serving(["Aye."], choose=pick) as srv, srv.raw() as sock:
        conn = ClientConnection()
        sock.sendall(conn.hello(TOKEN, "raw"))
        sock.sendall(conn.request("npc.load", {"file": "blacksmith.toml", "structured": True})[1])
        sock.sendall(conn.request("npc.say", {"npc": "Brakka Ironhand", "text": "Mend it?"})[1])

        def done(m: list[Any]) -> bool:
            return any(getattr(x, "method", "") == "npc.done" for x in m)

        got = read_messages(sock, conn, done)
        params = next(m for m in got if getattr(m, "method", "") == "npc.done").params
        assert list(params) == list(golden)  # the same keys in the same order
        assert params["emotion"] == "annoyed" and params["finish_reason"] == "stop"
        assert params["action"] == "repair" and params["args"] == {"item": "sword"}


# -- the player's language ------------------------------------------------------------------


def test_language_translates_the_line_in_and_the_reply_out() -> None:
    translator = IdentityTranslator(tag=True)
    with (
        serving([" Aye. I can mend it."], memory=MemoryStore(), translator=translator) as srv,
        srv.client() as c,
    ):
        c.load("smith", file="blacksmith.toml", language="es")
        reply = c.say("smith", "¿Puedes arreglar mi espada?")
        pieces = list(reply)
        assert reply.text == "[es] Aye. [es] I can mend it."
        assert "".join(pieces) == reply.text
        assert ("¿Puedes arreglar mi espada?", "es", "en") in translator.calls
        # The NPC keeps its own language: its transcript holds the English line.
        history = srv.server.runtime.history("smith")
        assert any("I can mend it." in turn.text and "[es]" not in turn.text for turn in history)
        # The same language as the persona's translates nothing.
        c.load("guard", file="guard.toml", language="en")
        assert "[" not in c.say("guard", "Hello").read()


def test_language_errors() -> None:
    with serving() as srv, srv.client() as c:  # no translator
        error = code_of(lambda: c.load("smith", file="blacksmith.toml", language="es"))
        assert error.remote_code == 2011 and error.remote_data["param"] == "language"
        assert "no translator" in error.message
    only = IdentityTranslator(pairs=[("en", "de"), ("de", "en")])
    with serving(translator=only) as srv, srv.client() as c:
        error = code_of(lambda: c.load("smith", file="blacksmith.toml", language="es"))
        assert error.remote_code == 1701  # MissingLanguagePairError, with the installed pairs
        for bad in ("", "e", "es es", "x" * 17, "es\n", "../../etc"):
            error = code_of(lambda b=bad: c.load("smith", file="blacksmith.toml", language=b))
            assert error.remote_code == 2005 and error.remote_data["param"] == "language"
        assert c.load("smith", file="blacksmith.toml", language="de")["id"] == "smith"


# -- memory, earshot, priority --------------------------------------------------------------


def test_memory_is_on_by_default_with_a_store_and_can_be_off() -> None:
    store = MemoryStore()
    with serving(memory=store) as srv, srv.client() as c:
        c.load("smith", persona=say_toml())
        c.say("smith", "My name is Arin.").read()
        assert c.facts("smith") == [
            {"kind": "player.name", "text": "Player's name is Arin.", "turn": 1}
        ]
        c.load("guard", file="guard.toml", memory=False)
        c.say("guard", "My name is Arin.").read()
        assert store.memories("guard") == []  # nothing written to the store
        for call in (
            lambda: c.facts("guard"),
            lambda: c.teach("guard", "x", kind="y"),
            lambda: c.relationship("guard"),
        ):
            error = code_of(call)
            assert error.remote_code == 1300 and "memory: false" in error.message
        # Unloaded and loaded again with memory: the id is an ordinary one again.
        c.call("npc.unload", id="guard")
        c.load("guard", file="guard.toml")
        assert c.facts("guard") == []


def test_heard_by_remembers_the_exchange_and_stays_in_scope() -> None:
    store = MemoryStore()
    with serving(memory=store) as srv, srv.client() as a, srv.client() as b:
        a.load("smith", persona=say_toml())
        a.load("guard", file="guard.toml")
        a.say("smith", "My name is Arin.", heard_by=["guard", "guard", "smith"]).read()
        heard = [(m.speaker, m.source, m.text) for m in store.memories("guard")]
        assert heard == [
            ("player", "earshot:smith", "My name is Arin."),
            ("smith", "earshot:smith", SMITH_LINE),
        ]
        assert a.facts("guard") == []  # overheard lines teach no facts
        b.load("inn", file="innkeeper.toml")
        error = code_of(lambda: b.say("inn", "Hello", heard_by=["smith"]))
        assert error.remote_code == 1300
        assert error.remote_data == {"id": "smith", "loaded_by": "another client"}
        assert code_of(lambda: b.say("inn", "Hello", heard_by=["nobody"])).remote_code == 1300
        many = [f"n{i}" for i in range(65)]
        error = code_of(lambda: b.say("inn", "Hello", heard_by=many))
        assert error.remote_code == 2005 and error.remote_data["param"] == "heard_by"
        assert b.say("inn", "Hello", heard_by=[]).read()


def test_say_with_a_priority_sets_the_npcs_priority() -> None:
    from npc_ai.engine import Priority

    with serving() as srv, srv.client() as c:
        c.load("smith", persona=say_toml(), priority="background")
        c.say("smith", "Hi", priority="focused").read()
        assert srv.server.runtime._npcs["smith"].priority == Priority.FOCUSED
        error = code_of(lambda: c.say("smith", "Hi", priority="urgent"))
        assert error.remote_code == 2005 and error.remote_data["param"] == "priority"


def test_prepare_answers_once_the_persona_is_read() -> None:
    with serving(delay=0.01) as srv, srv.client() as a, srv.client() as b:
        a.load("smith", file="blacksmith.toml")
        prepare = a.request("npc.prepare", id="smith")
        ping = a.request("rpc.ping", echo="meanwhile")
        assert a.result(ping) == {"echo": "meanwhile"}
        assert a.result(prepare) == {}
        generator = srv.server.runtime.engine.generator  # type: ignore[attr-defined]
        assert any("Brakka" in prompt for prompt in generator.prefilled)
        assert a.say("smith", "Hi").read() == SMITH_LINE
        error = code_of(lambda: b.prepare("smith"))
        assert error.remote_code == 1300 and error.remote_data["loaded_by"] == "another client"
        assert code_of(lambda: b.prepare("nobody")).remote_code == 1300
        # Unloading meanwhile is harmless; the answer still comes.
        msgid = a.request("npc.prepare", id="smith")
        a.call("npc.unload", id="smith")
        a.result(msgid)


# -- the memory methods and their scope -----------------------------------------------------


def test_facts_teach_and_relationship() -> None:
    with serving(memory=MemoryStore()) as srv, srv.client() as c:
        c.load("smith", persona=say_toml())
        c.teach("smith", "Ayla agreed to fetch ore from the Greyspur mine.", kind="quest.ore")
        c.teach("smith", "Ayla brought the ore.", kind="quest.ore")  # replaces it
        c.teach("smith", "The bridge is out.", kind="world.bridge")
        assert [(f["kind"], f["text"]) for f in c.facts("smith")] == [
            ("quest.ore", "Ayla brought the ore."),
            ("world.bridge", "The bridge is out."),
        ]
        assert c.relationship("smith") == 0.0
        assert c.relationship("smith", adjust=0.25) == 0.25
        assert c.relationship("smith", adjust=2) == 1.0  # clamped
        assert c.relationship("smith", adjust=-2) == -1.0
        assert c.relationship("smith", adjust=1) == 0.0
        for kind, text in (("", "x"), (" a", "x"), ("a\nb", "x"), ("k" * 101, "x")):
            error = code_of(lambda k=kind, t=text: c.teach("smith", t, kind=k))
            assert error.remote_code == 1300 and error.remote_data["param"] == "kind", kind
        for text in ("", "   ", "x" * 8001):
            assert code_of(lambda t=text: c.teach("smith", t, kind="k")).remote_code == 1300
        for adjust in (math.nan, math.inf, 2.5, -3):
            error = code_of(lambda a=adjust: c.relationship("smith", adjust=a))
            assert error.remote_code == 2005 and error.remote_data["param"] == "adjust"
        for bad_id in ("", " smith", "a\nb", "x" * 101):
            assert code_of(lambda i=bad_id: c.facts(i)).remote_code == 1300


def test_ids_no_client_loaded_are_read_and_taught_from_the_store() -> None:
    with serving(memory=MemoryStore()) as srv, srv.client() as c:
        assert c.facts("miller") == []
        c.teach("miller", "The mill wheel is broken.", kind="mill.wheel")
        assert c.relationship("miller", adjust=0.5) == 0.5
        c.load("miller", file="innkeeper.toml")  # now loaded: it knows what it was taught
        assert [f["kind"] for f in c.facts("miller")] == ["mill.wheel"]
        assert c.relationship("miller") == 0.5


def test_a_client_reaches_only_its_own_npcs_or_unloaded_ids() -> None:
    with serving(memory=MemoryStore()) as srv, srv.client() as a, srv.client() as b:
        a.load("smith", persona=say_toml())
        a.say("smith", "My name is Arin.").read()
        before = a.facts("smith")
        blob_a = a.call("npc.export")["blob"]
        scope = GOLDEN["scope_error_response_11"]["object"][2]
        for call, doing in (
            (lambda: b.facts("smith"), "read"),
            (lambda: b.teach("smith", "You owe me.", kind="debt"), "teach"),
            (lambda: b.relationship("smith", adjust=-1), "read or move the relationship of"),
            (lambda: b.call("npc.export", ids=["smith"]), "export"),
            (lambda: b.say("smith", "Hi"), "speak to or change"),
            (lambda: b.call("npc.unload", id="smith"), "speak to or change"),
            (lambda: b.call("npc.priority", id="smith", priority="focused"), "speak to or change"),
            (lambda: b.prepare("smith"), "speak to or change"),
        ):
            error = code_of(call)
            assert (error.remote_code, error.remote_name) == (1300, "InputError")
            assert error.remote_data == scope["data"]
            assert error.message == scope["message"].replace("can read", f"can {doing}")
        # The import of a blob holding a's NPC is refused whole: nothing changes.
        b.teach("miller", "The wheel is broken.", kind="mill")
        both = b.call("npc.export", ids=["miller"])["blob"]
        error = code_of(lambda: b.call("npc.import", blob=blob_a))
        assert error.remote_code == 1300 and error.remote_data["ids"] == ["smith"]
        assert "nothing was changed" in error.message
        assert a.facts("smith") == before
        assert a.relationship("smith") == 0.0
        # b's own ids and ids no one loaded are fine.
        assert b.call("npc.import", blob=both) == {"ids": ["miller"]}
        # Once a lets go of the id, b may reach it.
        a.call("npc.unload", id="smith")
        assert b.facts("smith") == before
        assert b.call("npc.import", blob=blob_a) == {"ids": ["smith"]}


# -- the client limit -----------------------------------------------------------------------


def test_a_client_past_max_clients_is_refused_with_2014() -> None:
    with serving() as srv:
        clients = [srv.client() for _ in range(4)]
        try:
            error = code_of(srv.client)
            assert (error.remote_code, error.remote_name) == (2014, "TooManyClientsError")
            assert error.remote_data == {"max_clients": 4}
            assert "--max-clients" in error.message
            with srv.raw() as sock:  # the answer is the golden vector, then the close
                conn = ClientConnection()
                sock.sendall(conn.hello(TOKEN, "fifth"))
                got = read_messages(sock, conn, closed)
                assert pack(got[0]).hex() == GOLDEN["too_many_clients_response_11"]["framed"]
            for c in clients:  # the others are unaffected
                assert c.call("rpc.ping", echo=1) == {"echo": 1}
            clients.pop().close()
            deadline = time.monotonic() + 5
            while True:  # the server notices the close, then the slot is free
                try:
                    with srv.client() as again:
                        assert again.call("rpc.ping", echo=2) == {"echo": 2}
                    break
                except RemoteError:
                    assert time.monotonic() < deadline
                    time.sleep(0.05)
        finally:
            for c in clients:
                c.close()
    with serving(limits=Limits(max_clients=1)) as srv, srv.client():
        assert code_of(srv.client).remote_data == {"max_clients": 1}


def test_connections_without_a_hello_do_not_count() -> None:
    with serving(limits=Limits(max_clients=1)) as srv:
        idle = [srv.raw() for _ in range(3)]
        try:
            with srv.client() as c:
                assert c.call("rpc.ping", echo=0) == {"echo": 0}
        finally:
            for sock in idle:
                sock.close()


# -- two servers ----------------------------------------------------------------------------


def test_two_servers_side_by_side(tmp_path: Path) -> None:
    first, second = tmp_path / "one" / "bridge.json", tmp_path / "two" / "bridge.json"
    with (
        serving(discovery=first) as one,
        serving(["Second server here."], discovery=second) as two,
    ):
        assert one.port != two.port
        with Client.connect(first) as a, Client.connect(second) as b:
            a.load("smith", persona=say_toml())
            b.load("smith", persona=say_toml())  # a different server: the id is free there
            assert a.say("smith", "Hi").read() == SMITH_LINE
            assert b.say("smith", "Hi").read() == "Second server here."
        # A third, in another process, on the first one's file is refused and told the way
        # out; the first one goes on.
        code = (
            "import asyncio, pathlib, sys\n"
            "from bridge.server import BridgeServer, ServerOptions\n"
            "from npc_ai.backends import ScriptedGenerator\n"
            "from npc_ai.engine import SerialEngine\n"
            "from npc_ai.errors import NpcAiError\n"
            "from npc_ai.runtime import Runtime\n"
            "rt = Runtime(SerialEngine(ScriptedGenerator()))\n"
            "server = BridgeServer(rt, ServerOptions(discovery=pathlib.Path(sys.argv[1])))\n"
            "try:\n"
            "    asyncio.run(server.start())\n"
            "except NpcAiError as exc:\n"
            "    print(exc.message)\n"
            "rt.close()\n"
        )
        out = subprocess.run(
            [sys.executable, "-c", code, str(first)],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        assert f"another npc-ai server (pid {os.getpid()}, port {one.port})" in out.stdout
        assert "--discovery OTHER_PATH" in out.stdout
        assert read_discovery(first)["port"] == one.port  # the first one's file is untouched
        with Client.connect(first) as a:
            assert a.call("rpc.ping", echo=3) == {"echo": 3}


def test_npc_ai_serve_on_a_taken_discovery_file_says_so_before_loading_a_model(
    tmp_path: Path,
) -> None:
    path = tmp_path / "bridge.json"
    with serving(discovery=path) as srv:
        started = time.monotonic()
        out = subprocess.run(
            [sys.executable, "-m", "npc_ai", "serve", "--discovery", str(path), "--no-subtitles"],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        assert out.returncode == 2
        assert f"another npc-ai server (pid {os.getpid()}, port {srv.port})" in out.stderr
        assert "--discovery OTHER_PATH" in out.stderr
        assert "Traceback" not in out.stderr
        assert time.monotonic() - started < 30  # no model was loaded
        assert read_discovery(path)["port"] == srv.port


# -- fuzzing the new parameters --------------------------------------------------------------

VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40)
    | st.binary(max_size=40)
    | st.sampled_from(["smith", "theirs", "", " ", "x" * 101, "a\nb", "es", "focused"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)
PARAM_NAMES = sorted(
    {p.name for m in METHODS.values() for p in m.params if m.name.startswith("npc.")}
    | {"nope", "Id", ""}
)
FUZZED = [*NEW_METHODS, "npc.load", "npc.say", "npc.export", "npc.import"]
#: What bad input may give: bad params, bad input, a persona error, a missing language pair, a
#: bad save blob. Never 1000 (an internal error), and never a closed connection.
EXPECTED = {2005, 1300, 1200, 1501, 1701, 2011}


@pytest.fixture(scope="module")
def fuzz_server() -> Any:
    translator = IdentityTranslator(pairs=[("en", "es"), ("es", "en")])
    with serving(memory=MemoryStore(), translator=translator, choose=pick) as srv:
        owner, fuzzer = srv.client(), srv.client()
        owner.load("theirs", persona=say_toml())
        owner.teach("theirs", "The owner's fact.", kind="owner")
        fuzzer.load("smith", persona=say_toml())
        yield srv, owner, fuzzer
        owner.close()
        fuzzer.close()


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    method=st.sampled_from(FUZZED),
    params=st.dictionaries(st.sampled_from(PARAM_NAMES), VALUES, max_size=5),
)
def test_fuzzed_params_are_bad_input_and_nothing_else(
    fuzz_server: Any, method: str, params: dict[str, Any]
) -> None:
    _, _, c = fuzz_server
    try:
        result = c.call(method, **params)
    except RemoteError as error:
        assert error.remote_code in EXPECTED, (method, params, error.to_dict())
    else:
        assert isinstance(result, dict)
        if method == "npc.load":  # a good load: make room for the next
            c.call("npc.unload", id=result["id"])
    c.poll(0.001)  # replies the fuzzing started may run; their events must break nothing
    assert c.call("rpc.ping", echo=1) == {"echo": 1}  # the connection survived


def test_after_the_fuzzing_a_well_behaved_client_is_served(fuzz_server: Any) -> None:
    srv, owner, fuzzer = fuzz_server
    assert fuzzer.call("rpc.ping", echo=2) == {"echo": 2}
    # The owner's NPC is as it was: no other client could teach, import or say to it.
    assert owner.facts("theirs") == [{"kind": "owner", "text": "The owner's fact.", "turn": 0}]
    assert owner.relationship("theirs") == 0.0
    assert owner.say("theirs", "Hi").read() == SMITH_LINE
    with srv.client() as c:
        error = code_of(lambda: c.load("smith", persona=say_toml()))  # the fuzzer's
        assert error.remote_data == {"id": "smith", "loaded_by": "another client"}
        c.load("newcomer", file="blacksmith.toml", structured=True)
        reply = c.say("newcomer", "Can you fix my sword?", seed=1, heard_by=[])
        assert reply.read() and reply.emotion == "annoyed"
        c.teach("newcomer", "A good customer.", kind="player.standing")
        assert c.facts("newcomer")[-1]["kind"] == "player.standing"
        c.prepare("newcomer")


def test_raw_garbage_params_of_new_methods_keep_the_connection() -> None:
    """Params that are not a map, or a map with non-string keys, for each new method."""
    with serving(memory=MemoryStore()) as srv, srv.raw() as sock:
        conn = ClientConnection()
        sock.sendall(conn.hello(TOKEN, "raw"))
        frames = []
        for i, method in enumerate(NEW_METHODS):
            for params in ({"id": "x"}, [1, 2], [{1: "x"}], "id", [None]):
                payload = msgpack.packb([0, 100 + 10 * i + len(frames) % 10, method, params])
                frames.append(len(payload).to_bytes(4, "little") + payload)
        for data in frames:
            sock.sendall(data)
        got = read_messages(sock, conn, lambda m: len(m) >= 1 + len(frames))
        assert not closed(got)
        assert all(isinstance(m, Response) and m.error is not None for m in got[1:])
        # Not [map] is 2005; a map with a key that is not a string is malformed (2002).
        assert {m.error["code"] for m in got[1:]} == {2002, 2005}  # type: ignore[index]
        sock.sendall(conn.request("rpc.ping", {"echo": "alive"})[1])
        got = read_messages(sock, conn, lambda m: len(m) >= 1)
        assert got[-1].result == {"echo": "alive"}  # type: ignore[union-attr]


def test_stdio_server_speaks_1_1() -> None:
    code = (
        "import asyncio, sys\n"
        "from npc_ai.backends import ScriptedGenerator\n"
        "from npc_ai.engine import SerialEngine\n"
        "from npc_ai.memory import MemoryStore\n"
        "from npc_ai.runtime import Runtime\n"
        "from bridge.server import BridgeServer, ServerOptions, claim_stdout\n"
        "out_fd = claim_stdout()\n"
        f"rt = Runtime(SerialEngine(ScriptedGenerator([{REPLY!r}])), memory=MemoryStore())\n"
        "server = BridgeServer(rt, ServerOptions(write_discovery=False))\n"
        "asyncio.run(server.serve_stdio(None, out_fd=out_fd))\n"
        "rt.close()\n"
    )
    with Client.spawn([sys.executable, "-c", code], timeout=20) as c:
        assert c.minor == 1
        c.load("smith", persona=say_toml(), structured=True)
        reply = c.say("smith", "Mend it?", seed=2)
        assert reply.read() == SMITH_LINE and reply.emotion in BLACKSMITH.emotions
        c.teach("smith", "Owes two silver.", kind="debt")
        assert c.facts("smith")[0]["kind"] == "debt"


@pytest.mark.model
def test_real_model_structured_reply_over_stdio() -> None:
    npc_ai = str(Path(sys.executable).with_name("npc-ai"))
    command = [npc_ai, "serve", "--stdio", "--personas", str(PERSONAS), "--threads", "1"]
    command += ["--no-subtitles", "--translator", "none"]
    names = {a.name for a in BLACKSMITH.actions}
    with Client.spawn(command, timeout=180) as c:
        assert c.minor == 1
        c.load("smith", file="blacksmith.toml", structured=True, priority="focused")
        c.prepare("smith")
        for seed, line in ((7, "Can you mend my sword?"), (3, "What do you sell?")):
            reply = c.say("smith", line, seed=seed)
            assert reply.read().strip()
            assert reply.emotion in BLACKSMITH.emotions
            assert reply.action in names | {"none"}
            allowed = allowed_args(reply.action)
            assert reply.args is not None and set(reply.args) == set(allowed)
            assert all(value in allowed[arg] for arg, value in reply.args.items())


def test_the_parameters_of_a_new_method_are_as_new_as_it() -> None:
    from bridge.methods import describe

    table = {m["name"]: m for m in describe()["methods"]}
    assert table["npc.prepare"]["since"] == "1.1"
    assert {p["since"] for p in table["npc.prepare"]["params"]} == {"1.1"}
    say = {p["name"]: p["since"] for p in table["npc.say"]["params"]}
    assert say["text"] == "1.0" and say["heard_by"] == "1.1"
