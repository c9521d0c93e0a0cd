"""The Godot 4 add-on (bridge/godot), checked without a Godot binary (none can be had here).

What runs: gdtoolkit's parser, linter and formatter on every .gd file; the method names the
add-on sends against the server's table and a live server's rpc.describe; its notification
arms against docs/PROTOCOL.md; a port check of the GDScript codec against the MessagePack spec
and the golden vectors (each type byte's decode arm, the encoder's width tables); and the codec
itself, msgpack.gd, run on the golden vectors by tests/gdscript_subset.py, an interpreter of
the GDScript it uses that models Godot's ints and packed byte arrays. What does not run:
Godot. See bridge/godot/README.md, "What is verified".
"""

from __future__ import annotations

import ast
import configparser
import json
import random
import re
import struct
import tempfile
from pathlib import Path
from typing import Any

import pytest
from gdtoolkit.formatter import format_code
from gdtoolkit.linter import lint_code
from gdtoolkit.parser import parser
from lark import Tree

from bridge.methods import METHODS
from tests.conftest import ROOT
from tests.gdscript_godot import ERRORS, GodotLoop, PackedVector2Array, Vector2, load_client
from tests.gdscript_subset import PackedByteArray as GDBytes
from tests.gdscript_subset import Script
from tests.gdscript_values import PackedStringArray

GODOT = ROOT / "bridge" / "godot"
ADDON = GODOT / "addons" / "npc_ai"
SCRIPTS = sorted(GODOT.rglob("*.gd"))
CLIENT = (ADDON / "npc_ai.gd").read_text(encoding="utf-8")
CODEC = (ADDON / "msgpack.gd").read_text(encoding="utf-8")
GOLDEN = json.loads((ROOT / "tests" / "data" / "bridge_golden.json").read_text(encoding="utf-8"))
PROTOCOL_DOC = (ROOT / "docs" / "PROTOCOL.md").read_text(encoding="utf-8")
NOTIFICATIONS = {n for m in METHODS.values() for n in m.notifications}


# -- gdtoolkit -----------------------------------------------------------------------------


def test_the_addon_has_its_files() -> None:
    names = {p.relative_to(GODOT).as_posix() for p in SCRIPTS}
    assert {
        "addons/npc_ai/plugin.gd",
        "addons/npc_ai/npc_ai.gd",
        "addons/npc_ai/msgpack.gd",
        "example/npc_chat.gd",
    } <= names


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_parses_lints_and_is_formatted(script: Path) -> None:
    code = script.read_text(encoding="utf-8")
    parser.parse(code)  # raises on a syntax error
    assert lint_code(code) == []
    assert format_code(code, max_line_length=100) == code, "run gdformat on it"


def test_plugin_registers_the_autoload() -> None:
    cfg = configparser.ConfigParser()
    cfg.read(ADDON / "plugin.cfg", encoding="utf-8")
    assert cfg["plugin"]["script"].strip('"') == "plugin.gd"
    assert (ADDON / "plugin.gd").is_file()
    plugin = (ADDON / "plugin.gd").read_text(encoding="utf-8")
    assert "extends EditorPlugin" in plugin and '"npc_ai.gd"' in plugin
    assert 'const AUTOLOAD := "NpcAi"' in plugin
    assert "add_autoload_singleton(" in plugin and "remove_autoload_singleton(" in plugin


# -- methods and notifications -------------------------------------------------------------


def sent_methods() -> set[str]:
    """Method names in string literals of the client, less the notifications it receives."""
    names = set(re.findall(r'"((?:rpc|npc|translate|subtitle)\.[a-z_]+)"', CLIENT))
    return names - NOTIFICATIONS


def test_every_method_sent_is_in_the_server_table() -> None:
    sent = sent_methods()
    assert sent <= set(METHODS), sent - set(METHODS)
    # And the add-on covers the whole protocol.
    assert sent == set(METHODS)


def test_every_method_sent_is_in_a_live_servers_describe(tmp_path: Path) -> None:
    from bridge.client import Client
    from tests.test_bridge_unity import TOKEN, live_server

    with (
        live_server(tmp_path / "bridge.json") as port,
        Client.connect(port=port, token=TOKEN, timeout=10) as client,
    ):
        described = client.call("rpc.describe")
    listed = {m["name"] for m in described["methods"]}
    assert sent_methods() <= listed


def signals() -> dict[str, list[str]]:
    tree = parser.parse(CLIENT)
    found = {}
    for stmt in tree.find_data("signal_stmt"):
        name = str(stmt.children[0])
        args = [
            str(arg.children[0])
            for arg in stmt.iter_subtrees()
            if isinstance(arg, Tree) and arg.data in ("signal_arg_typed", "signal_arg")
        ]
        found[name] = args
    return found


def test_signals_the_brief_names() -> None:
    found = signals()
    assert found["npc_delta"] == ["stream", "text"]
    assert found["npc_done"][:2] == ["stream", "text"]
    assert found["npc_error"][0] == "stream"
    for name in ("subtitle_partial", "subtitle_final", "subtitle_translation", "subtitle_error"):
        assert name in found
    assert {"connected", "disconnected", "connect_failed", "server_error"} <= found.keys()


def test_every_notification_of_the_protocol_emits_its_signal() -> None:
    # The notifications the server's table names are the ones PROTOCOL.md specifies.
    documented = set(
        re.findall(
            r"`((?:npc|subtitle)\.(?:delta|done|error|partial|final|"
            r"translation))`",
            PROTOCOL_DOC,
        )
    )
    assert documented == NOTIFICATIONS
    found = signals()
    for method in NOTIFICATIONS:
        signal = method.replace(".", "_")
        assert signal in found, signal
        arm = re.search(rf'\n\t\t"{re.escape(method)}":\n((?:\t\t\t.*\n)+)', CLIENT)
        assert arm, f"no match arm for {method}"
        assert f"{signal}.emit(" in arm.group(1), arm.group(1)


def test_hello_sends_what_the_protocol_asks() -> None:
    assert "const PROTOCOL := 1" in CLIENT
    assert '{"protocol": PROTOCOL, "token": _token, "client": client_name}' in CLIENT
    assert 'const HOST := "127.0.0.1"' in CLIENT


# -- the codec, port-checked -----------------------------------------------------------------

# What each MessagePack type byte must do, from the spec (docs/PROTOCOL.md §1; msgpack spec).
SPEC_ARMS: dict[int, str] = {
    0xC0: "value = null",
    0xC2: "value = false",
    0xC3: "value = true",
    0xCA: "value = r.read_float(4)",
    0xCB: "value = r.read_float(8)",
}
for _i, _n in enumerate((1, 2, 4)):
    SPEC_ARMS[0xC4 + _i] = f"value = r.read_bytes(r.read_length({_n}))"  # bin 8/16/32
    SPEC_ARMS[0xC7 + _i] = f"r.skip_ext(at, r.read_length({_n}))"  # ext 8/16/32
    SPEC_ARMS[0xD9 + _i] = f"value = r.read_string(r.read_length({_n}))"  # str 8/16/32
for _i, _n in enumerate((1, 2, 4, 8)):
    SPEC_ARMS[0xCC + _i] = f"value = r.read_int({_n}, false)"  # uint 8..64
    SPEC_ARMS[0xD0 + _i] = f"value = r.read_int({_n}, true)"  # int 8..64
for _i, _n in enumerate((1, 2, 4, 8, 16)):
    SPEC_ARMS[0xD4 + _i] = f"r.skip_ext(at, {_n})"  # fixext 1..16
for _i, _n in enumerate((2, 4)):
    SPEC_ARMS[0xDC + _i] = f"value = _read_array(r, r.read_length({_n}), depth)"
    SPEC_ARMS[0xDE + _i] = f"value = _read_map(r, r.read_length({_n}), depth)"

# The fixed-size families, handled before the match.
SPEC_RANGES = [
    "if tag <= 0x7f:\n\t\tvalue = tag\n",  # positive fixint
    "elif tag >= 0xe0:\n\t\tvalue = tag - 0x100\n",  # negative fixint
    "elif tag >= 0xa0 and tag <= 0xbf:\n\t\tvalue = r.read_string(tag & 0x1f)\n",
    "elif tag >= 0x90 and tag <= 0x9f:\n\t\tvalue = _read_array(r, tag & 0x0f, depth)\n",
    "elif tag >= 0x80 and tag <= 0x8f:\n\t\tvalue = _read_map(r, tag & 0x0f, depth)\n",
]


def decode_arms() -> dict[int, str]:
    body = CODEC[CODEC.index("static func _read_tagged(") :]
    body = body[: body.index("\n\n\n")]
    return {
        int(tag, 16): action.strip()
        for tag, action in re.findall(r"\n\t\t(0x[0-9a-f]{2}):\n\t\t\t(.*)", body)
    }


def golden_tags() -> set[int]:
    """Every type byte in the golden payloads, nested ones included."""
    seen: set[int] = set()

    def walk(data: bytes, pos: int) -> int:
        tag = data[pos]
        seen.add(tag)
        pos += 1
        if tag <= 0x7F or tag >= 0xE0 or tag in (0xC0, 0xC2, 0xC3):
            return pos
        if 0xA0 <= tag <= 0xBF:
            return pos + (tag & 0x1F)
        if 0x80 <= tag <= 0x9F:
            count = (tag & 0x0F) * (2 if tag < 0x90 else 1)
        elif tag in (0xDC, 0xDD, 0xDE, 0xDF):
            width = 2 if tag in (0xDC, 0xDE) else 4
            count = int.from_bytes(data[pos : pos + width], "big") * (2 if tag >= 0xDE else 1)
            pos += width
        elif tag in (0xC4, 0xC5, 0xC6, 0xD9, 0xDA, 0xDB):
            width = {0xC4: 1, 0xC5: 2, 0xC6: 4, 0xD9: 1, 0xDA: 2, 0xDB: 4}[tag]
            return pos + width + int.from_bytes(data[pos : pos + width], "big")
        else:
            return pos + {0xCA: 4, 0xCB: 8, 0xCC: 1, 0xCD: 2, 0xCE: 4, 0xCF: 8}.get(
                tag, {0xD0: 1, 0xD1: 2, 0xD2: 4, 0xD3: 8}.get(tag, 0)
            )
        for _ in range(count):
            pos = walk(data, pos)
        return pos

    for vector in GOLDEN["messages"] + GOLDEN["values"]:
        payload = bytes.fromhex(vector["payload"])
        assert walk(payload, 0) == len(payload), vector["name"]
    return seen


def test_every_golden_type_byte_has_a_decode_arm() -> None:
    arms = decode_arms()
    tags = golden_tags()
    assert len(tags) > 40
    families = [t for t in tags if t <= 0x7F or t >= 0xE0 or 0x80 <= t <= 0xBF]
    tagged = tags - set(families)
    assert tagged <= arms.keys(), sorted(hex(t) for t in tagged - arms.keys())
    for text in SPEC_RANGES:
        assert text in CODEC, text


def test_every_type_byte_decodes_as_the_spec_says() -> None:
    """All of 0xc0..0xdf but the unused 0xc1, 32-bit lengths and ext types included (not in
    the golden file): each arm does the read the spec prescribes."""
    arms = decode_arms()
    assert set(arms) == set(range(0xC0, 0xE0)) - {0xC1}
    wrong = {hex(t): (arms[t], want) for t, want in SPEC_ARMS.items() if arms[t] != want}
    assert not wrong
    assert '_:\n\t\t\tr.fail("byte 0x%02x at offset %d is not a MessagePack type"' in CODEC


def test_decode_is_bounded() -> None:
    # Lengths are checked against the bytes left before any read or allocation.
    assert "func read_length(n: int) -> int:" in CODEC
    assert 'if error == "" and not need(length):' in CODEC
    for fn in ("_read_array", "_read_map"):
        body = CODEC[CODEC.index(f"static func {fn}(") :]
        assert "if not r.need(count):" in body[: body.index("\n\n\n")], fn
    assert "if depth > MAX_DEPTH:" in CODEC
    assert '"%d trailing bytes after the value"' in CODEC


def gd_const(name: str) -> Any:
    found = re.search(rf"^const {name} := (.+)$", CODEC, re.M)
    assert found, name
    return ast.literal_eval(found.group(1))


def test_encoder_width_tables_are_the_specs() -> None:
    assert gd_const("UINT_FORMS") == [[0xFF, 0xCC, 1], [0xFFFF, 0xCD, 2], [0xFFFFFFFF, 0xCE, 4]]
    assert gd_const("UINT64_FORM") == [0xCF, 8]
    assert gd_const("INT_FORMS") == [[-128, 0xD0, 1], [-32768, 0xD1, 2], [-(2**31), 0xD2, 4]]
    assert gd_const("INT64_FORM") == [0xD3, 8]
    assert gd_const("FLOAT64_FORM") == [0xCB, 8]
    assert gd_const("STR_HEADER") == [
        0xA0,
        31,
        [[0xFF, 0xD9, 1], [0xFFFF, 0xDA, 2], [0xFFFFFFFF, 0xDB, 4]],
    ]
    assert gd_const("BIN_HEADER") == [
        0,
        -1,
        [[0xFF, 0xC4, 1], [0xFFFF, 0xC5, 2], [0xFFFFFFFF, 0xC6, 4]],
    ]
    assert gd_const("ARRAY_HEADER") == [0x90, 15, [[0xFFFF, 0xDC, 2], [0xFFFFFFFF, 0xDD, 4]]]
    assert gd_const("MAP_HEADER") == [0x80, 15, [[0xFFFF, 0xDE, 2], [0xFFFFFFFF, 0xDF, 4]]]
    assert "const INT64_MIN := -9223372036854775807 - 1" in CODEC


def encoded_head(value: Any) -> bytes:
    """The first bytes _write_int / _write_header produce for a value, from the GDScript's
    own tables and the selection rule its functions apply."""

    def big_endian(v: int, n: int) -> bytes:
        return (v % (1 << (8 * n))).to_bytes(n, "big")

    def header(n: int, table: list[Any]) -> bytes:
        if n <= table[1]:
            return bytes([table[0] | n])
        form = next(f for f in table[2] if n <= f[0])
        return bytes([form[1]]) + big_endian(n, form[2])

    if isinstance(value, bool) or value is None:
        return bytes([0xC0 if value is None else 0xC2 + value])
    if isinstance(value, int):
        if 0 <= value <= 0x7F or -32 <= value < 0:
            return big_endian(value, 1)
        forms = gd_const("UINT_FORMS") if value >= 0 else gd_const("INT_FORMS")
        for limit, tag, n in forms:
            if (value >= 0 and value <= limit) or (value < 0 and value >= limit):
                return bytes([tag]) + big_endian(value, n)
        tag, n = gd_const("UINT64_FORM") if value >= 0 else gd_const("INT64_FORM")
        return bytes([tag]) + big_endian(value, n)
    if isinstance(value, str):
        return header(len(value.encode("utf-8")), gd_const("STR_HEADER"))
    if isinstance(value, bytes):
        return header(len(value), gd_const("BIN_HEADER"))
    if isinstance(value, list):
        return header(len(value), gd_const("ARRAY_HEADER"))
    assert isinstance(value, dict)
    return header(len(value), gd_const("MAP_HEADER"))


def untag(obj: Any) -> Any:
    """A golden vector's object as Python values (ints, bytes; floats are skipped)."""
    if isinstance(obj, dict) and len(obj) == 1 and next(iter(obj)) in ("$bin", "$int"):
        ((key, value),) = obj.items()
        return bytes.fromhex(value) if key == "$bin" else int(value)
    if isinstance(obj, dict):
        return {k: untag(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [untag(x) for x in obj]
    return obj


def test_encoder_tables_give_the_golden_encodings() -> None:
    checked = 0
    for vector in GOLDEN["values"]:
        if "$f32" in json.dumps(vector["object"]) or "$f64" in json.dumps(vector["object"]):
            continue  # Godot floats are 64-bit: always cb (float32 vectors cannot be encoded)
        value = untag(vector["object"])
        head = encoded_head(value)
        assert bytes.fromhex(vector["payload"]).startswith(head), vector["name"]
        checked += 1
    assert checked > 30
    # The float64 form: the tag, then 8 bytes (the bytes come from PackedByteArray.encode_double
    # reversed to big-endian; Godot is not here to run it).
    assert "out.append(FLOAT64_FORM[0])" in CODEC and "le.encode_double(0, value)" in CODEC


# -- the codec, run ----------------------------------------------------------------------------
# msgpack.gd executed by tests/gdscript_subset.py, an interpreter of the GDScript it uses that
# models Godot's integers and packed byte arrays. A model of Godot, not Godot.

GD = Script(CODEC)


def to_gd(obj: Any) -> Any:
    """A golden object as the GDScript values the add-on would hold."""
    if isinstance(obj, dict) and len(obj) == 1 and next(iter(obj)).startswith("$"):
        ((key, value),) = obj.items()
        if key == "$bin":
            return GDBytes(bytes.fromhex(value))
        return int(value) if key == "$int" else float(value)
    if isinstance(obj, dict):
        return {k: to_gd(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [to_gd(x) for x in obj]
    return obj


def same(a: Any, b: Any) -> bool:
    """Equal values of equal types (a bool is not an int, keys in the same order)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return bool(a == b)


def gd_decode(data: bytes) -> dict[str, Any]:
    result = GD.call("decode", GDBytes(data))
    assert set(result) == {"value", "error"}
    return result  # type: ignore[no-any-return]


VECTORS = GOLDEN["messages"] + GOLDEN["values"]


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: v["name"])
def test_gdscript_decodes_and_encodes_the_golden_vectors(vector: dict[str, Any]) -> None:
    payload = bytes.fromhex(vector["payload"])
    want = to_gd(vector["object"])
    got = gd_decode(payload)
    assert got["error"] == ""
    assert same(got["value"], want), (got["value"], want)
    assert GD.call("frame", GDBytes(payload)) == GDBytes(bytes.fromhex(vector["framed"]))
    encoded = GD.call("encode", want)
    assert encoded["error"] == ""
    if "$f32" in json.dumps(vector["object"]):
        # Godot floats are 64-bit: the add-on sends float64, which the protocol accepts.
        assert gd_decode(bytes(encoded["bytes"].b))["value"] == want
    else:
        assert bytes(encoded["bytes"].b) == payload


@pytest.mark.parametrize(
    ("hex_bytes", "value"),
    [
        ("cd0005", 5),  # a wider encoding than needed
        ("d3ffffffffffffffff", -1),
        ("db00000002c3a9", "\u00e9"),  # str32
        ("c6000000020102", b"\x01\x02"),  # bin32
        ("dd000000020102", [1, 2]),  # array32
        ("df00000001a16101", {"a": 1}),  # map32
        ("ca3fc00000", 1.5),  # float32
    ],
)
def test_gdscript_decodes_every_width(hex_bytes: str, value: Any) -> None:
    got = gd_decode(bytes.fromhex(hex_bytes))
    want = GDBytes(value) if isinstance(value, bytes) else value
    assert got["error"] == "" and same(got["value"], want)


def test_gdscript_encodes_32_bit_lengths() -> None:
    text = "x" * 70_000
    encoded = GD.call("encode", text)["bytes"].b
    assert encoded[:5] == b"\xdb" + (70_000).to_bytes(4, "big")
    assert gd_decode(bytes(encoded))["value"] == text
    blob = GDBytes(bytes(range(256)) * 300)
    encoded = GD.call("encode", blob)["bytes"].b
    assert encoded[:5] == b"\xc6" + (76_800).to_bytes(4, "big")


@pytest.mark.parametrize(
    ("hex_bytes", "why"),
    [
        ("", "no bytes"),
        ("cfffffffffffffffff", "beyond the signed 64-bit range"),
        ("c1", "not a MessagePack type"),
        ("d40100", "the protocol uses no ext types"),
        ("c70201aabb", "the protocol uses no ext types"),
        ("a2c328", "not valid UTF-8"),
        ("810102", "not a string"),
        ("dd7fffffff", "truncated"),
        ("c6ffffffff00", "truncated"),
        ("c0c0", "trailing bytes"),
    ],
)
def test_gdscript_refuses_bad_bytes(hex_bytes: str, why: str) -> None:
    got = gd_decode(bytes.fromhex(hex_bytes))
    assert got["value"] is None and why in got["error"], got


def test_gdscript_refuses_the_golden_malformed_frames() -> None:
    for vector in GOLDEN["invalid"]:
        if vector["code"] != 2002:
            continue  # framing (2001) and message shape (2003, 2005) are not the codec's
        framed = bytes.fromhex(vector["framed"])
        got = gd_decode(framed[4:])
        assert got["error"], vector["name"]


def test_gdscript_decode_of_any_bytes_is_a_value_or_an_error() -> None:
    """Every truncation of every golden payload, then mutated and random bytes: the codec
    answers a value or an error, and never hits a script error (which Godot would print and
    then carry on with null)."""
    rng = random.Random(5)
    payloads = [bytes.fromhex(v["payload"]) for v in VECTORS]
    for payload in payloads:
        for n in range(0, len(payload), 1 if len(payload) < 32 else 5):
            assert gd_decode(payload[:n])["error"], payload[:n].hex()
    for i in range(300):
        if i % 2:
            data = bytearray(rng.choice(payloads))
            for _ in range(rng.randint(1, 3)):
                data[rng.randrange(len(data))] = rng.randrange(256)
        else:
            data = bytearray(rng.randbytes(rng.randint(1, 40)))
        gd_decode(bytes(data))


def test_gdscript_limits_nesting() -> None:
    # The interpreter needs many Python frames per GDScript call, so the guard is run with a
    # smaller limit (the constant itself is checked above).
    shallow = Script(CODEC.replace("const MAX_DEPTH := 128", "const MAX_DEPTH := 8"))
    deep = bytes.fromhex("91" * 12 + "c0")
    got = shallow.call("decode", GDBytes(deep))
    assert got["value"] is None and "nested deeper than 8 levels" in got["error"]
    nested: Any = None
    for _ in range(12):
        nested = [nested]
    got = shallow.call("encode", nested)
    assert "nested deeper than 8 levels" in got["error"]
    assert same(shallow.call("decode", GDBytes(bytes.fromhex("91" * 8 + "c0")))["error"], "")
    assert "const MAX_DEPTH := 128" in CODEC


def test_gdscript_encode_refuses_what_the_protocol_cannot_carry() -> None:
    got = GD.call("encode", {1: "a"})
    assert got["bytes"] == GDBytes() and "map keys must be strings" in got["error"]


def test_the_interpreter_catches_a_wrong_codec() -> None:
    """The run checks can fail: a codec with one wrong width is caught."""
    broken = Script(CODEC.replace("value = r.read_int(2, true)", "value = r.read_int(2, false)"))
    got = broken.call("decode", GDBytes(bytes.fromhex("d1ff7f")))
    assert got["value"] != -129


# -- the client, run against a live server ------------------------------------------------------
# npc_ai.gd executed by the same interpreter, with tests/gdscript_godot.py standing in for the
# engine (StreamPeerTCP on a real socket, frames calling _process), against the server with
# the scripted fake generator.


class Recorder:
    """The signals of one NpcAi node, in order."""

    def __init__(self, loop: GodotLoop) -> None:
        self.events: list[tuple[str, tuple[Any, ...]]] = []
        for name in loop.node.signals:
            loop.on(name, self._recorder(name))

    def _recorder(self, name: str) -> Any:
        return lambda *args: self.events.append((name, args))

    def named(self, *names: str) -> list[tuple[Any, ...]]:
        return [args for name, args in self.events if name in names]

    def of_stream(self, handle: int) -> list[tuple[str, tuple[Any, ...]]]:
        kinds = ("npc_delta", "npc_done", "npc_error")
        return [(n, a) for n, a in self.events if n in kinds and a[0] == handle]

    def ended(self, handle: int) -> bool:
        return any(n != "npc_delta" for n, _ in self.of_stream(handle))


def answer_box(script: Script) -> tuple[list[Any], Any]:
    """A callback for the client, and the list its (result, error) calls land in."""
    got: list[Any] = []
    return got, script.callable(lambda result, error: got.append((result, error)))


@pytest.fixture(scope="module")
def client_script() -> Script:
    return load_client()


def test_gdscript_client_refuses_a_wrong_token(client_script: Script, tmp_path: Path) -> None:
    from tests.test_bridge_unity import live_server

    with live_server(tmp_path / "bridge.json") as port:
        loop = GodotLoop(client_script)
        seen = Recorder(loop)
        assert loop.call("connect_to_server", port, "wrong-token") == 0
        loop.run_until(lambda: bool(seen.named("connect_failed", "connected")))
    ((error,),) = seen.named("connect_failed")
    assert error["code"] == 2007 and error["name"] == "AuthenticationError"
    assert not seen.named("connected") and not loop.call("is_ready")


def test_gdscript_client_against_a_live_server(client_script: Script, tmp_path: Path) -> None:
    from tests.test_bridge_unity import LINE, live_server

    script = client_script
    discovery = tmp_path / "run" / "bridge.json"
    with live_server(discovery) as _port:
        loop = GodotLoop(script)
        seen = Recorder(loop)
        # The port and token from the discovery file; calls before the handshake wait for it.
        assert loop.call("connect_to_server", 0, "", str(discovery)) == 0
        loaded, on_loaded = answer_box(script)
        persona = {"name": "Brom", "role": "blacksmith"}
        loop.call("load_npc", persona, "smith", "focused", on_loaded)
        loop.run_until(lambda: bool(loaded))
        ((server,),) = seen.named("connected")
        assert server["protocol"] == 1 and loop.call("is_ready")
        assert loaded == [({"id": "smith", "name": "Brom"}, {})]

        # rpc.describe lists every method the add-on sends.
        described, on_described = answer_box(script)
        loop.call("describe", on_described)
        loop.run_until(lambda: bool(described))
        assert sent_methods() <= {m["name"] for m in described[0][0]["methods"]}

        # Values round-trip through both codecs.
        echo = {"ints": [0, -1, -33, 255, -129, 65536, -(2**63), 2**63 - 1], "f": 0.1}
        echo |= {"text": "Grüß dich! 🔨", "bin": GDBytes(b"\x00\x01\xff"), "n": [{}, None]}
        pinged, on_pinged = answer_box(script)
        loop.call("ping", echo, on_pinged)
        loop.run_until(lambda: bool(pinged))
        assert same(pinged[0][0]["echo"], echo) and pinged[0][1] == {}

        # A streamed reply: deltas, then exactly one done, all carrying the handle.
        line = loop.call("say", "smith", "Can you mend my sword?")
        loop.run_until(lambda: seen.ended(line))
        for _ in range(20):
            loop.frame()
        events = seen.of_stream(line)
        assert [n for n, _ in events[:-1]] == ["npc_delta"] * (len(events) - 1) >= ["npc_delta"]
        assert events[-1] == ("npc_done", (line, LINE, "smith", "stop"))

        # A cancel asked before npc.say is answered still ends the reply once, cancelled.
        cut = loop.call("say", "smith", "Tell me a long story.")
        loop.call("cancel", cut)
        loop.run_until(lambda: seen.ended(cut))
        for _ in range(20):
            loop.frame()
        ends = [e for e in seen.of_stream(cut) if e[0] != "npc_delta"]
        assert len(ends) == 1 and ends[0][0] == "npc_done" and ends[0][1][3] == "cancelled"

        # An unknown NPC: one npc_error with its handle, nothing else.
        lost = loop.call("say", "nobody", "Hello?")
        loop.run_until(lambda: seen.ended(lost))
        ((kind, (stream, error, npc)),) = seen.of_stream(lost)
        assert (kind, stream, error["code"], npc) == ("npc_error", lost, 1300, "nobody")

        # Errors come back by code; a failed notification as server_error.
        failed, on_failed = answer_box(script)
        loop.call("request", "npc.dance", {}, on_failed)
        loop.call("notify", "npc.dance", {})
        loop.run_until(lambda: bool(failed) and bool(seen.named("server_error")))
        assert failed[0][0] is None and failed[0][1]["code"] == 2004
        assert seen.named("server_error")[0][0]["code"] == 2004

        # Memory for the save slot: export, then import.
        exported, on_exported = answer_box(script)
        loop.call("export_memory", on_exported)
        loop.run_until(lambda: bool(exported))
        assert exported[0][1] == {}, exported
        blob = exported[0][0]["blob"]
        assert isinstance(blob, GDBytes) and blob.b
        imported, on_imported = answer_box(script)
        loop.call("import_memory", blob, on_imported)
        loop.run_until(lambda: bool(imported))
        assert imported[0] == ({"ids": ["smith"]}, {})

        # A server that does not read: once max_outbox bytes wait, calls are refused (2009).
        loop.node.fields["max_outbox"] = 10
        refused, on_refused = answer_box(script)
        assert loop.call("ping", None, on_refused) == -1
        assert loop.call("say", "smith", "Hello?") == -1
        assert loop.call("notify", "rpc.ping", {}) == ERRORS["ERR_BUSY"]
        loop.frame()  # refusals are reported deferred, like Godot's call_deferred
        assert refused[0][0] is None and refused[0][1]["code"] == 2009
        assert seen.named("npc_error")[-1][:2] == (-1, refused[0][1])
        assert [level for level, _ in script.log] == ["warning"]
        script.log.clear()
        loop.node.fields["max_outbox"] = 8 << 20

        # Closing with a reply under way ends that reply with one npc_error (2012).
        open_line = loop.call("say", "smith", "Tell me a long story.")
        loop.call("disconnect_from_server")
        ((kind, (_, error, _)),) = seen.of_stream(open_line)
        assert kind == "npc_error" and error["code"] == 2012
        assert seen.named("disconnected") == [("closed by the client",)]
        assert loop.call("say", "smith", "still there?") == -1
    assert script.log == []  # no push_error / push_warning on the way


def test_gdscript_pcm16_from_frames(client_script: Script) -> None:
    """Stereo frames at 48 kHz become 16 kHz mono int16 little-endian PCM."""
    ramp = PackedVector2Array(Vector2(i / 480, -i / 960) for i in range(480))
    pcm = client_script.call("pcm16_from_frames", ramp, 48_000.0)
    samples = struct.unpack(f"<{len(pcm.b) // 2}h", bytes(pcm.b))
    assert len(samples) == 160  # a third of the frames
    # Mono is the mean of the channels: i/1920 at frame i = 3k, scaled to int16.
    assert samples == tuple(round(3 * k / 1920 * 32767) for k in range(160))
    loud = PackedVector2Array([Vector2(2.0, 2.0)] * 6)
    assert struct.unpack("<2h", bytes(client_script.call("pcm16_from_frames", loud, 48e3).b)) == (
        32767,
        32767,
    )
    empty = client_script.call("pcm16_from_frames", PackedVector2Array(), 48e3)
    assert empty == GDBytes()


@pytest.mark.parametrize("xdg", [True, False])
def test_gdscript_finds_the_discovery_file_where_the_server_writes_it(
    client_script: Script, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, xdg: bool
) -> None:
    from bridge.discovery import default_discovery_path

    if xdg:
        monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    else:
        monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
        monkeypatch.setenv("TMPDIR", str(tmp_path))
        monkeypatch.setattr(tempfile, "tempdir", None)  # Python caches the temp dir
    assert client_script.call("default_discovery_path") == str(default_discovery_path())


# -- protocol 1.1 -------------------------------------------------------------------------------


def test_npc_acted_signal_and_the_1_0_signals_unchanged() -> None:
    found = signals()
    # Old code connected to npc_done keeps working: its arguments are those of 1.0.
    assert found["npc_done"] == ["stream", "text", "npc", "finish_reason"]
    assert found["npc_acted"] == ["stream", "npc", "emotion", "action", "args"]
    arm = re.search(r'\n\t\t"npc.done":\n((?:\t\t\t.*\n)+)', CLIENT)
    assert arm and arm.group(1).index("npc_acted.emit(") < arm.group(1).index("npc_done.emit(")


def test_what_11_added_is_what_the_server_marks_since_1_1() -> None:
    """The client's list of 1.1 methods and parameters (for "the server is too old") is the
    server table's."""
    consts = load_client().consts
    since = {m.name for m in METHODS.values() if m.since == "1.1"}
    assert set(consts["METHODS_11"]) == since
    params = {
        m.name: sorted(p.name for p in m.params if p.since == "1.1")
        for m in METHODS.values()
        if m.since == "1.0" and any(p.since == "1.1" for p in m.params)
    }
    assert {k: sorted(v) for k, v in consts["PARAMS_11"].items()} == params
    assert sorted(consts["LOAD_OPTIONS"]) == params["npc.load"]


def test_gdscript_client_plays_the_11_golden_vectors(client_script: Script) -> None:
    """Each 1.1 call of the add-on against a stand-in server that checks the request byte for
    byte against the golden vector and answers with the golden response; the structured done
    becomes npc_acted then npc_done; 2014 at connect; a 1.0 server's refusals of 1.1 calls
    are said as a server too old."""
    from tests.test_bridge_unity import golden_peer

    script = client_script
    with golden_peer() as (port, problems):
        loop = GodotLoop(script)
        seen = Recorder(loop)
        loop.call("connect_to_server", port, "x")
        loop.run_until(lambda: bool(seen.named("connected", "connect_failed")))
        assert loop.call("server_minor") == 1
        assert loop.call("server_info")["limits"]["max_clients"] == 4

        def answered(msgid: int, name: str, *args: Any, options: Any = None) -> tuple[Any, Any]:
            loop.node.fields["_last_id"] = msgid - 1  # the vectors carry fixed msgids
            got, callback = answer_box(script)
            more = [] if options is None else [options]
            assert loop.call(name, *args, callback, *more) == msgid
            loop.run_until(lambda: bool(got))
            return got[0]  # type: ignore[no-any-return]

        options = {"structured": True, "language": "es", "memory": True}
        loaded = answered(11, "load_npc_file", "blacksmith.toml", "smith", "", options=options)
        assert loaded == ({"id": "smith", "name": "Brakka"}, {})

        loop.node.fields["_last_id"] = 11
        heard_by = PackedStringArray(["guard", "innkeeper"])
        line = loop.call("say", "smith", "¿Puedes arreglar mi espada?", 7, heard_by, "focused")
        assert line == 12
        loop.run_until(lambda: seen.ended(line))
        acted = [(n, a) for n, a in seen.events if n in ("npc_acted", "npc_done")]
        assert acted == [
            ("npc_acted", (line, "smith", "calm", "repair", {"item": "sword"})),
            ("npc_done", (line, "Sí, déjala aquí.", "smith", "stop")),
        ]

        assert answered(13, "prepare_npc", "smith") == ({}, {})
        facts = answered(14, "get_facts", "smith")
        assert facts[1] == {} and facts[0]["facts"] == [
            {"kind": "player.name", "text": "Player's name is Ayla.", "turn": 1},
            {
                "kind": "quest.ore",
                "text": "Ayla agreed to fetch ore from the Greyspur mine.",
                "turn": 3,
            },
        ]
        taught = answered(
            15, "teach", "smith", "Ayla agreed to fetch ore from the Greyspur mine.", "quest.ore"
        )
        assert taught == ({}, {})
        assert answered(16, "adjust_relationship", "smith", 0.25) == ({"relationship": 0.35}, {})
        result, error = answered(17, "get_facts", "smith")
        assert result is None and error["code"] == 1300
        assert error["data"] == {"id": "smith", "loaded_by": "another client"}
        loop.call("disconnect_from_server")

        # Past the server's max_clients: connect_failed with 2014, which says the way out.
        full = GodotLoop(script)
        refused = Recorder(full)
        full.call("connect_to_server", port, "x")
        full.run_until(lambda: bool(refused.named("connected", "connect_failed")))
        ((error,),) = refused.named("connect_failed")
        assert error["code"] == 2014 and error["name"] == "TooManyClientsError"
        assert "--max-clients" in error["message"] and error["data"] == {"max_clients": 4}
        assert script.consts["TOO_MANY_CLIENTS"] == 2014

        # A 1.0 server (no minor in its hello): the 1.1 calls fail, said as a server too old.
        old = GodotLoop(script)
        old_seen = Recorder(old)
        old.call("connect_to_server", port, "x")
        old.run_until(lambda: bool(old_seen.named("connected", "connect_failed")))
        assert old.call("server_minor") == 0
        got, callback = answer_box(script)
        old.call("get_facts", "smith", callback)
        old.call("load_npc_file", "blacksmith.toml", "smith", "", callback, {"structured": True})
        old.run_until(lambda: len(got) == 2)
        (_, unknown), (_, bad) = got
        assert unknown["code"] == 2004 and "npc.facts uses protocol 1.1" in unknown["message"]
        assert "speaks 1.0" in unknown["message"] and "update npc-ai" in unknown["message"]
        assert bad["code"] == 2005 and "npc.load uses protocol 1.1" in bad["message"]
        old.call("disconnect_from_server")
    assert problems == []
    assert script.log == []


def test_gdscript_client_speaks_1_1_to_a_live_server(client_script: Script, tmp_path: Path) -> None:
    """Every 1.1 call and field against the live server (scripted fake, memory store, no
    translator): load options, a structured reply overheard by two NPCs at focused priority,
    prepare, teach, facts, the relationship, and their errors."""
    from npc_ai.memory import load_state
    from tests.test_bridge_unity import LINE, TOKEN, live_server

    script = client_script
    with live_server(tmp_path / "bridge.json") as port:
        loop = GodotLoop(script)
        seen = Recorder(loop)
        loop.call("connect_to_server", port, TOKEN)

        def call(name: str, *args: Any) -> tuple[Any, Any]:
            got, callback = answer_box(script)
            loop.call(name, *args, callback)
            loop.run_until(lambda: bool(got))
            return got[0]  # type: ignore[no-any-return]

        def load(file: str, npc: str, options: dict[str, Any]) -> tuple[Any, Any]:
            got, callback = answer_box(script)
            loop.call("load_npc_file", file, npc, "", callback, options)
            loop.run_until(lambda: bool(got))
            return got[0]  # type: ignore[no-any-return]

        assert load("blacksmith.toml", "smith", {"structured": True})[1] == {}
        assert loop.call("server_minor") == 1
        assert load("guard.toml", "guard", {"memory": True})[1] == {}
        assert load("innkeeper.toml", "inn", {"memory": False})[1] == {}
        _, error = load("innkeeper.toml", "inn_es", {"language": "es"})
        assert error["code"] == 2011 and error["data"]["param"] == "language"

        # Options are checked by name and type before anything is sent.
        for wrong in ({"structure": True}, {"memory": "yes"}):
            got, callback = answer_box(script)
            assert loop.call("load_npc_file", "guard.toml", "g2", "", callback, wrong) == -1
            loop.frame()
            assert got[0][0] is None and got[0][1]["code"] == 2005, got
        assert [level for level, _ in script.log] == ["error", "error"]
        assert "structure is not a load option" in script.log[0][1]
        assert "memory must be a bool" in script.log[1][1]
        script.log.clear()

        assert call("prepare_npc", "smith") == ({}, {})

        # A structured reply, overheard by the guard and the innkeeper, at focused priority:
        # npc_acted, then the one npc_done.
        heard_by = PackedStringArray(["guard", "inn"])
        line = loop.call(
            "say", "smith", "My name is Ayla. Can you mend my sword?", -1, heard_by, "focused"
        )
        loop.run_until(lambda: seen.ended(line))
        ends = [(n, a) for n, a in seen.events if n in ("npc_acted", "npc_done", "npc_error")]
        assert ends == [
            ("npc_acted", (line, "smith", "calm", "repair", {"item": "sword"})),
            ("npc_done", (line, LINE, "smith", "stop")),
        ]

        # No npc_acted for a plain NPC, nor for a cancelled structured reply.
        plain = loop.call("say", "guard", "Good morning.")
        cut = loop.call("say", "smith", "Tell me a long story.")
        loop.call("cancel", cut)
        loop.run_until(lambda: seen.ended(plain) and seen.ended(cut))
        assert [a[0] for a in seen.named("npc_acted")] == [line]
        assert [e[1][3] for e in seen.of_stream(cut) if e[0] == "npc_done"] == ["cancelled"]

        # heard_by names only this client's NPCs.
        stray = loop.call("say", "smith", "Hello?", -1, PackedStringArray(["nobody"]))
        loop.run_until(lambda: seen.ended(stray))
        ((kind, (_, error, _)),) = seen.of_stream(stray)
        assert kind == "npc_error" and error["code"] == 1300

        # Facts found in what the player said, and taught by the game.
        assert call("teach", "smith", "Ayla agreed to fetch ore.", "quest.ore") == ({}, {})
        facts, error = call("get_facts", "smith")
        assert error == {}
        kinds = {f["kind"]: f for f in facts["facts"]}
        assert "Ayla" in kinds["player.name"]["text"] and kinds["player.name"]["turn"] >= 1
        assert kinds["quest.ore"]["text"] == "Ayla agreed to fetch ore."
        assert call("get_facts", "guard") == ({"facts": []}, {})  # overheard: no facts
        _, error = call("get_facts", "inn")
        assert error["code"] == 1300  # loaded with memory: false

        # The relationship, read and moved (clamped to -1..1).
        (before, _) = call("get_relationship", "smith")
        got, callback = answer_box(script)
        loop.call("adjust_relationship", "smith", 0.3, callback)
        loop.run_until(lambda: bool(got))
        after = got[0][0]["relationship"]
        assert isinstance(after, float)
        assert after == pytest.approx(min(1.0, before["relationship"] + 0.3))
        got, callback = answer_box(script)
        loop.call("adjust_relationship", "smith", 5.0, callback)
        loop.run_until(lambda: bool(got))
        assert got[0][1]["code"] == 2005

        # The guard was within earshot: its memory holds the exchange as overheard.
        exported, on_exported = answer_box(script)
        loop.call("export_memory", on_exported, PackedStringArray(["guard"]))
        loop.run_until(lambda: bool(exported))
        (guard,) = load_state(bytes(exported[0][0]["blob"].b))
        overheard = [m.text for m in guard.memories if m.source == "earshot:smith"]
        assert any("Ayla" in t for t in overheard) and any(LINE in t for t in overheard)
        loop.call("disconnect_from_server")
    assert script.log == []


# -- the examples --------------------------------------------------------------------------------
# Godot is not here to run them: their scene wiring is checked against the scene file, their
# calls against the add-on, and the example's pure logic is run by the interpreter.

EXAMPLES = sorted((GODOT / "example").glob("*.gd"))


def res_path(path: str) -> Path:
    assert path.startswith("res://"), path
    return GODOT / path.removeprefix("res://")


def scene(path: Path) -> tuple[dict[str, str], str]:
    """A text scene's nodes (path from the root, "." for the root -> type) and its root's
    script (a res:// path)."""
    text = path.read_text(encoding="utf-8")
    resources = {
        m["id"]: m["path"]
        for m in re.finditer(
            r'^\[ext_resource type="Script" path="(?P<path>[^"]+)" id="(?P<id>[^"]+)"\]$',
            text,
            re.M,
        )
    }
    nodes = {}
    pattern = r'^\[node name="([^"]+)" type="(\w+)"(?: parent="([^"]+)")?\]$'
    for name, kind, parent in re.findall(pattern, text, re.M):
        nodes["." if not parent else name if parent == "." else f"{parent}/{name}"] = kind
    root = text[text.index('[node name="') :]
    root = root[: root.index("\n\n")]
    script = re.search(r'^script = ExtResource\("([^"]+)"\)$', root, re.M)
    assert script, path
    return nodes, resources[script.group(1)]


def test_the_example_project_opens_on_the_mood_scene() -> None:
    project = configparser.ConfigParser()
    project.read_string("[top]\n" + (GODOT / "project.godot").read_text(encoding="utf-8"))
    main = project["application"]["run/main_scene"].strip('"')
    assert main == "res://example/npc_mood.tscn" and res_path(main).is_file()
    assert project["autoload"]["NpcAi"] == '"*res://addons/npc_ai/npc_ai.gd"'
    assert res_path("res://addons/npc_ai/npc_ai.gd").is_file()
    plugins = project["editor_plugins"]["enabled"]
    assert plugins == 'PackedStringArray("res://addons/npc_ai/plugin.cfg")'


def test_the_mood_scene_has_the_nodes_its_script_uses() -> None:
    nodes, script_path = scene(GODOT / "example" / "npc_mood.tscn")
    script = res_path(script_path)
    assert script == GODOT / "example" / "npc_mood.gd"
    code = script.read_text(encoding="utf-8")
    assert f"extends {nodes['.']}\n" in code
    used = re.findall(r"^@onready var \w+: (\w+) = \$([\w/]+)$", code, re.M)
    assert len(used) == 5
    for kind, path in used:
        assert nodes.get(path) == kind, (path, kind, nodes)


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_examples_use_only_what_the_addon_has(example: Path) -> None:
    code = example.read_text(encoding="utf-8")
    found = signals()
    functions = set(re.findall(r"^(?:static )?func (\w+)\(", CLIENT, re.M))
    connected = set(re.findall(r"\bNpcAi\.(\w+)\.connect\(", code))
    called = set(re.findall(r"\bNpcAi\.(\w+)\(", code))
    assert connected and called
    assert connected <= found.keys(), connected - found.keys()
    assert called <= functions, called - functions
    # Each handler takes what its signal sends.
    for signal in connected:
        handler = re.search(rf"NpcAi\.{signal}\.connect\((_\w+)\)", code)
        if handler:
            head = re.search(rf"^func {handler.group(1)}\(([^)]*)\)", code, re.M)
            assert head, handler.group(1)
            params = [p.split(":")[0].strip() for p in head.group(1).split(",") if p.strip()]
            assert len(params) == len(found[signal]), (signal, params)


def test_the_mood_example_shows_emotion_and_action() -> None:
    code = (GODOT / "example" / "npc_mood.gd").read_text(encoding="utf-8")
    # Structured NPCs, the other one within earshot, the reply's choices on screen.
    assert '{"structured": true}' in code
    assert 'NpcAi.say(speaker, text, -1, earshot, "focused")' in code
    assert "NpcAi.npc_acted.connect(_on_npc_acted)" in code
    assert '_emotion.text = "%s feels %s" % [who, emotion]' in code
    assert "_actions.add_item(" in code
    example = Script(code)
    assert example.call("action_text", "repair", {"item": "sword"}) == "repair (item: sword)"
    assert example.call("action_text", "turn_away", {}) == "turn away"
    two = {"item": "axe", "place": "the inn"}
    assert example.call("action_text", "sell_to", two) == "sell to (item: axe, place: the inn)"


@pytest.mark.parametrize("doc", ["bridge/godot/README.md", "docs/BRIDGE.md"])
def test_the_documented_gdscript_parses_and_uses_only_the_addon(doc: str) -> None:
    blocks = re.findall(r"```gdscript\n(.*?)```", (ROOT / doc).read_text(encoding="utf-8"), re.S)
    assert len(blocks) >= 2
    code = "\n".join(blocks)
    for block in blocks:
        parser.parse(block)  # raises on a syntax error
    functions = set(re.findall(r"^(?:static )?func (\w+)\(", CLIENT, re.M))
    connected = set(re.findall(r"\bNpcAi\.(\w+)\.connect\(", code))
    called = set(re.findall(r"\bNpcAi\.(\w+)\(", code))
    assert connected <= signals().keys(), connected - signals().keys()
    assert called <= functions, called - functions
    # The 1.1 example: structured replies and overhearing.
    assert '{"structured": true}' in code and "NpcAi.npc_acted.connect(" in code
    assert re.search(r'NpcAi\.say\("smith", words, -1, PackedStringArray\(\["guard"\]\)', code)
