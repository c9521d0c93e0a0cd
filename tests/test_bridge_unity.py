"""The Unity client (bridge/unity): its C# core compiled with Mono's mcs as C# 6, its codec run
against the golden vectors, and its smoke program run against a live server with the scripted
fake generator. Unity itself is not here: the MonoBehaviour is type-checked against a stub of
the few UnityEngine names it uses."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import shutil
import socket
import struct
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import msgpack
import pytest

from bridge.methods import METHODS
from tests.conftest import PERSONAS, ROOT

UNITY = ROOT / "bridge" / "unity"
RUNTIME = UNITY / "Runtime"
GOLDEN = ROOT / "tests" / "data" / "bridge_golden.json"
MCS, MONO = shutil.which("mcs"), shutil.which("mono")
TOKEN = "unity-test-token"
LINE = "Aye, leave it here. I will mend it by dusk."

needs_mono = pytest.mark.skipif(
    MCS is None or MONO is None,
    reason="Mono is not installed (./dev installs it: apt-get install mono-mcs mono-runtime)",
)


def core_sources() -> list[Path]:
    return sorted(p for p in RUNTIME.glob("*.cs") if p.name != "NpcAiBridge.cs")


def mcs(out: Path, sources: list[Path], *, library: bool = False) -> None:
    # -langversion:6 keeps the code to what the brief and older Unity versions accept.
    command = [MCS or "mcs", "-langversion:6", "-warnaserror", "-nologo", f"-out:{out}"]
    if library:
        command.append("-target:library")
    done = subprocess.run(
        [*command, *map(str, sources)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture(scope="module")
def smoke_exe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # The whole package, with the UnityEngine stub, so the component can be driven too.
    out = tmp_path_factory.mktemp("unity") / "BridgeSmoke.exe"
    tests = sorted((UNITY / "Tests~").glob("*.cs"))
    mcs(out, [*sorted(RUNTIME.glob("*.cs")), *tests])
    return out


def run_smoke(exe: Path, *args: str) -> tuple[int, str]:
    done = subprocess.run(
        [MONO or "mono", "--debug", str(exe), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.returncode, done.stdout + done.stderr


def totals(output: str) -> tuple[int, int]:
    found = re.search(r"^(\d+) passed, (\d+) failed$", output, re.M)
    assert found, output
    return int(found.group(1)), int(found.group(2))


# -- the package ---------------------------------------------------------------------------


def test_package_manifest_and_assembly_definition() -> None:
    package = json.loads((UNITY / "package.json").read_text(encoding="utf-8"))
    assert package["name"] == "com.npc-ai.bridge"
    assert re.fullmatch(r"\d+\.\d+\.\d+", package["version"])
    assert re.fullmatch(r"\d{4}\.\d", package["unity"])
    asmdef = json.loads((RUNTIME / "NpcAi.Bridge.asmdef").read_text(encoding="utf-8"))
    assert asmdef["name"] == "NpcAi.Bridge"


def test_every_asset_has_a_meta_file_with_its_own_guid() -> None:
    # Unity ignores files without .meta in packages installed from git (read-only).
    assets = [UNITY / "Runtime", UNITY / "package.json", UNITY / "README.md"]
    assets += [p for p in RUNTIME.iterdir() if p.suffix != ".meta"]
    guids = []
    for asset in assets:
        meta = asset.with_name(asset.name + ".meta")
        assert meta.is_file(), f"{asset.relative_to(UNITY)} has no .meta"
        guid = re.search(r"^guid: ([0-9a-f]{32})$", meta.read_text(encoding="utf-8"), re.M)
        assert guid, meta
        guids.append(guid.group(1))
    assert len(set(guids)) == len(guids)
    orphans = [m for m in RUNTIME.glob("*.meta") if not m.with_suffix("").exists()]
    assert not orphans


def test_only_the_component_uses_unity() -> None:
    for source in core_sources():
        assert "UnityEngine" not in source.read_text(encoding="utf-8"), source.name
    assert "using UnityEngine;" in (RUNTIME / "NpcAiBridge.cs").read_text(encoding="utf-8")


def test_the_client_sends_only_methods_of_the_protocol() -> None:
    """Every method name in the C# sources is one the server's table has, or a
    notification the server sends; MethodsUsed is the whole table."""
    notifications = {n for m in METHODS.values() for n in m.notifications}
    text = "\n".join(p.read_text(encoding="utf-8") for p in RUNTIME.glob("*.cs"))
    names = set(re.findall(r'"((?:rpc|npc|translate|subtitle)\.[a-z_]+)"', text))
    assert names
    assert names <= set(METHODS) | notifications, names - set(METHODS) - notifications
    block = re.search(r"MethodsUsed =\s*\{(.*?)\};", text, re.S)
    assert block
    assert set(re.findall(r'"([a-z_.]+)"', block.group(1))) == set(METHODS)
    # And it handles every notification the protocol defines.
    assert {n for n in notifications if f'case "{n}":' in text} == notifications


def test_what_11_added_is_what_the_server_marks_since_1_1() -> None:
    """The client's lists of 1.1 methods and parameters (for "the server is too old") are the
    server table's."""
    text = (RUNTIME / "BridgeClient.cs").read_text(encoding="utf-8")

    def listed(name: str) -> set[str]:
        block = re.search(rf"{name} =\s*\{{(.*?)\}};", text, re.S)
        assert block, name
        return set(re.findall(r'"([a-z_.]+)"', block.group(1)))

    assert listed("Methods11") == {m.name for m in METHODS.values() if m.since == "1.1"}
    for method, name in (("npc.load", "LoadParams11"), ("npc.say", "SayParams11")):
        assert listed(name) == {p.name for p in METHODS[method].params if p.since == "1.1"}
    added = {
        m.name
        for m in METHODS.values()
        if m.since == "1.0" and any(p.since == "1.1" for p in m.params)
    }
    assert added == {"npc.load", "npc.say"}


# -- compiled ------------------------------------------------------------------------------


@needs_mono
def test_core_compiles_as_csharp_6_without_unity(tmp_path: Path) -> None:
    mcs(tmp_path / "NpcAi.Bridge.dll", core_sources(), library=True)


@needs_mono
def test_component_compiles_against_the_unity_api_it_uses(tmp_path: Path) -> None:
    sources = [*sorted(RUNTIME.glob("*.cs")), UNITY / "Tests~" / "UnityStubs.cs"]
    mcs(tmp_path / "WithUnity.dll", sources, library=True)


@needs_mono
def test_codec_against_the_golden_vectors(smoke_exe: Path) -> None:
    code, output = run_smoke(smoke_exe, "golden", str(GOLDEN))
    passed, failed = totals(output)
    assert code == 0 and failed == 0, output
    vectors = json.loads(GOLDEN.read_text(encoding="utf-8"))
    # At least: decode, encode, frame and one-frame per vector, one per invalid frame.
    assert passed >= 4 * (len(vectors["messages"]) + len(vectors["values"]))


@needs_mono
def test_codec_check_fails_on_a_wrong_vector(smoke_exe: Path, tmp_path: Path) -> None:
    """The golden check can fail: one changed byte in a payload is caught."""
    vectors = json.loads(GOLDEN.read_text(encoding="utf-8"))
    vector = next(v for v in vectors["values"] if v["name"] == "int16_-129")
    vector["payload"] = "d1ff7e"
    vector["framed"] = "03000000d1ff7e"
    bad = tmp_path / "golden.json"
    bad.write_text(json.dumps(vectors), encoding="utf-8")
    code, output = run_smoke(smoke_exe, "golden", str(bad))
    assert code == 1
    assert "FAIL int16_-129: decode" in output and "FAIL int16_-129: encode" in output


@needs_mono
@pytest.mark.parametrize("xdg", [True, False])
def test_finds_the_discovery_file_where_the_server_writes_it(
    smoke_exe: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, xdg: bool
) -> None:
    from bridge.discovery import default_discovery_path

    if xdg:
        monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    else:
        monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
        monkeypatch.setenv("TMPDIR", str(tmp_path))
        monkeypatch.setattr(tempfile, "tempdir", None)  # Python caches the temp dir
    code, output = run_smoke(smoke_exe, "discovery-path")
    assert code == 0 and output.strip() == str(default_discovery_path())


# -- against a live server -----------------------------------------------------------------


def script(prompt: str) -> str:
    if "long story" in prompt:
        return " " + " ".join(f"word{i}" for i in range(200)) + "."
    return f" {LINE}\nPlayer: x"


@contextmanager
def live_server(discovery: Path, *, max_clients: int | None = None) -> Iterator[int]:
    """``npc-ai serve``'s server in this process on a free port, with the scripted fake
    generator (a few ms per word, so a cancel lands mid-reply) and an in-memory store; no
    translator. ``max_clients``: the server's client limit (default the protocol's)."""
    from bridge.protocol import Limits
    from bridge.server import BridgeServer, ServerOptions
    from npc_ai.backends import ScriptedGenerator
    from npc_ai.engine import SerialEngine
    from npc_ai.memory import MemoryStore
    from npc_ai.runtime import Runtime, RuntimeOptions

    generator = ScriptedGenerator(script, delay=0.01)
    runtime = Runtime(
        SerialEngine(generator), options=RuntimeOptions(budget_ms=5), memory=MemoryStore()
    )
    limits = Limits() if max_clients is None else Limits(max_clients=max_clients)
    options = ServerOptions(
        token=TOKEN, limits=limits, persona_dirs=(PERSONAS,), discovery=discovery
    )
    server = BridgeServer(runtime, options)
    loop = asyncio.new_event_loop()
    port = loop.run_until_complete(server.start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        asyncio.run_coroutine_threadsafe(server.close(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        runtime.close()
        loop.close()


@needs_mono
@pytest.mark.parametrize("how", ["port", "discovery"])
def test_smoke_against_a_live_server(smoke_exe: Path, tmp_path: Path, how: str) -> None:
    discovery = tmp_path / "run" / "bridge.json"
    with live_server(discovery) as port:
        if how == "port":
            args = ["--port", str(port), "--token", TOKEN]
        else:
            assert json.loads(discovery.read_text(encoding="utf-8"))["port"] == port
            args = ["--discovery", str(discovery)]
        code, output = run_smoke(smoke_exe, "smoke", *args)
    passed, failed = totals(output)
    assert code == 0 and failed == 0, output
    assert passed >= 25, output
    # The streamed reply is the scripted line, cut at the role marker.
    assert f"reply: {LINE} (" in output, output
    # The cancel was asked before npc.say was answered; with the fake's per-word delay it
    # lands mid-reply.
    assert "cancel: True, finish_reason cancelled" in output, output


@needs_mono
def test_component_delivers_on_the_main_thread(smoke_exe: Path, tmp_path: Path) -> None:
    """NpcAiBridge, built against the UnityEngine stub and driven frame by frame like Unity's
    player loop: events and callbacks on the main thread, in order, bounded per frame; the 1.1
    calls and a structured reply through it; a client past max_clients refused with 2014."""
    with live_server(tmp_path / "bridge.json", max_clients=1) as port:
        code, output = run_smoke(smoke_exe, "component", "--port", str(port), "--token", TOKEN)
    passed, failed = totals(output)
    assert code == 0 and failed == 0, output
    assert passed >= 22, output


# -- the 1.1 golden vectors, played by a stand-in server ---------------------------------------
# Both engine clients are driven through their own API against a peer that checks every
# request they send against the golden bytes (tests/data/bridge_golden.json, the vectors
# ending in _11) and answers with the golden responses.

VECTORS_11 = {
    v["name"]: v
    for v in json.loads(GOLDEN.read_text(encoding="utf-8"))["messages"]
    if v["name"].endswith("_11")
}
#: The 1.1 vectors the peer plays, in the order the clients use them.
NAMES_11 = [
    "hello_response_11",
    "load_request_11",
    "say_request_11",
    "done_notification_structured_11",
    "prepare_request_11",
    "prepare_response_11",
    "facts_request_11",
    "facts_response_11",
    "teach_request_11",
    "relationship_request_11",
    "relationship_response_11",
    "scope_error_response_11",
    "too_many_clients_response_11",
]


def framed(obj: Any) -> bytes:
    payload = msgpack.packb(obj, use_bin_type=True)
    return struct.pack("<I", len(payload)) + payload


def golden_11(name: str) -> bytes:
    return bytes.fromhex(VECTORS_11[name]["framed"])


def _read_frame(conn: socket.socket) -> bytes:
    """One whole frame, length prefix included (empty at end of stream)."""

    def exactly(n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = conn.recv(n - len(data))
            if not chunk:
                return b""
            data += chunk
        return data

    head = exactly(4)
    return head + exactly(struct.unpack("<I", head)[0]) if head else b""


# A step: the frame the client must send (bytes, compared byte for byte; or a check of the
# decoded message that returns what is wrong), and the frames to answer with.
Step = tuple[bytes | Callable[[Any], str], list[bytes]]


def _hello(reply: bytes) -> Step:
    def check(message: Any) -> str:
        ok = message[:3] == [0, 1, "rpc.hello"] and message[3][0]["protocol"] == 1
        return "" if ok else f"not a hello with msgid 1: {message}"

    return check, [reply]


def _refused_11(method: str, code: int, name: str) -> Step:
    """A 1.0 server's answer to a 1.1 call: no such method (2004) or parameter (2005)."""

    def check(message: Any) -> str:
        return "" if message[2] == method else f"expected {method}, got {message}"

    error = {"code": code, "name": name, "message": f"{method}: not in protocol 1.0", "data": {}}
    return check, [framed([1, -1, error, None])]  # -1: the request's msgid, filled in


#: What the peer plays on each connection, in order.
PEER_SCRIPT: list[list[Step]] = [
    [
        _hello(golden_11("hello_response_11")),
        (golden_11("load_request_11"), [framed([1, 11, None, {"id": "smith", "name": "Brakka"}])]),
        (
            golden_11("say_request_11"),
            [framed([1, 12, None, {"stream": 19}]), golden_11("done_notification_structured_11")],
        ),
        (golden_11("prepare_request_11"), [golden_11("prepare_response_11")]),
        (golden_11("facts_request_11"), [golden_11("facts_response_11")]),
        (golden_11("teach_request_11"), [framed([1, 15, None, {}])]),
        (golden_11("relationship_request_11"), [golden_11("relationship_response_11")]),
        (framed([0, 17, "npc.facts", [{"id": "smith"}]]), [golden_11("scope_error_response_11")]),
    ],
    [_hello(golden_11("too_many_clients_response_11"))],
    # A 1.0 server (the 1.0 hello result, no minor): the 1.1 calls are refused.
    [
        _hello(
            bytes.fromhex(
                next(
                    v["framed"]
                    for v in json.loads(GOLDEN.read_text(encoding="utf-8"))["messages"]
                    if v["name"] == "hello_response"
                )
            )
        ),
        _refused_11("npc.facts", 2004, "UnknownMethodError"),
        _refused_11("npc.load", 2005, "BadParamsError"),
    ],
]


@contextmanager
def golden_peer() -> Iterator[tuple[int, list[str]]]:
    """A stand-in server on a free port that plays :data:`PEER_SCRIPT`, one connection after
    another. Yields its port and the list of what the client got wrong (empty when every
    request was byte for byte the golden one, and every connection came)."""
    problems: list[str] = []
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(20)

    def serve() -> None:
        for number, steps in enumerate(PEER_SCRIPT):
            try:
                conn, _ = listener.accept()
            except OSError as exc:
                problems.append(f"connection {number}: never came ({exc})")
                return
            with conn:
                conn.settimeout(20)
                for i, (want, replies) in enumerate(steps):
                    try:
                        got = _read_frame(conn)
                    except OSError as exc:
                        problems.append(f"connection {number} step {i}: {exc}")
                        break
                    if not got:
                        problems.append(f"connection {number} step {i}: the client hung up")
                        break
                    message = msgpack.unpackb(got[4:], raw=False)
                    if isinstance(want, bytes):
                        wrong = "" if got == want else f"sent {got.hex()}, not {want.hex()}"
                    else:
                        wrong = want(message)
                    if wrong:
                        problems.append(f"connection {number} step {i}: {wrong}")
                    for reply in replies:
                        conn.sendall(_with_msgid(reply, message[1]))
                # Wait for the client to hang up (or the peer to give up).
                try:
                    while _read_frame(conn):
                        pass
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], problems
        thread.join(30)
        if thread.is_alive():
            problems.append("the peer did not finish its script")
    finally:
        listener.close()


def _with_msgid(reply: bytes, msgid: int) -> bytes:
    """A response built with msgid -1 gets the request's msgid; others are sent as they are."""
    message = msgpack.unpackb(reply[4:], raw=False)
    if message[0] == 1 and message[1] == -1:
        return framed([1, msgid, *message[2:]])
    return reply


def test_the_peer_plays_every_11_vector() -> None:
    """The stand-in server uses each 1.1 vector the protocol lists (docs/PROTOCOL.md §10.9)."""
    assert sorted(NAMES_11) == sorted(VECTORS_11), "tests/data/bridge_golden.json changed"
    played = {x for steps in PEER_SCRIPT for _, replies in steps for x in replies}
    played |= {want for steps in PEER_SCRIPT for want, _ in steps if isinstance(want, bytes)}
    assert {n for n in NAMES_11 if golden_11(n) not in played} == set()


@needs_mono
def test_the_11_golden_vectors_through_the_client(smoke_exe: Path) -> None:
    """The typed 1.1 API against the golden bytes: every request byte for byte, every result
    and the structured npc.done read into their C# types, 2014 at connect, and a 1.0
    server's refusals of 1.1 calls said as a server too old."""
    with golden_peer() as (port, problems):
        code, output = run_smoke(smoke_exe, "golden11", "--port", str(port), "--token", "x")
    passed, failed = totals(output)
    assert code == 0 and failed == 0, output
    assert problems == []
    assert passed >= 16, output


@needs_mono
def test_smoke_11_against_a_live_server(smoke_exe: Path, tmp_path: Path) -> None:
    """What 1.1 added, on the live server with the scripted fake: load options, structured
    replies, overhearing, priority, prepare, facts, teach, relationship, and their errors."""
    from npc_ai.memory import load_state

    with live_server(tmp_path / "bridge.json") as port:
        code, output = run_smoke(smoke_exe, "smoke11", "--port", str(port), "--token", TOKEN)
    passed, failed = totals(output)
    assert code == 0 and failed == 0, output
    assert passed >= 19, output
    assert f"structured: {LINE} [calm, repair item=sword]" in output, output
    # The guard was within earshot: it remembers the player's line and the smith's reply as
    # overheard, in its save blob.
    found = re.search(r"^guard memory: (\S+)$", output, re.M)
    assert found, output
    (guard,) = load_state(base64.b64decode(found.group(1)))
    overheard = [m for m in guard.memories if m.source == "earshot:smith"]
    assert any("Ayla" in m.text for m in overheard), guard.memories
    assert any(LINE in m.text for m in overheard), guard.memories


README_STUBS = """
namespace UnityEngine
{
    public class Animator : Behaviour { public void SetTrigger(string name) { } }
}
namespace UnityEngine.UI
{
    public class Text : Behaviour { public string text = ""; }
}
"""


@needs_mono
def test_the_readme_examples_compile(tmp_path: Path) -> None:
    """The README's example components compile as C# 6 against the package (with stubs of
    the Unity names they use)."""
    readme = (UNITY / "README.md").read_text(encoding="utf-8")
    blocks = [b for b in re.findall(r"```csharp\n(.*?)```", readme, re.S) if " class " in b]
    assert len(blocks) == 2 and "LoadOptions" in blocks[1] and "heardBy:" in blocks[1]
    sources = [*sorted(RUNTIME.glob("*.cs")), UNITY / "Tests~" / "UnityStubs.cs"]
    for i, block in enumerate(blocks):
        sources.append(tmp_path / f"Readme{i}.cs")
        sources[-1].write_text(block, encoding="utf-8")
    (tmp_path / "ReadmeStubs.cs").write_text(README_STUBS, encoding="utf-8")
    mcs(tmp_path / "Readme.dll", [*sources, tmp_path / "ReadmeStubs.cs"], library=True)
