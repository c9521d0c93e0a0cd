"""Write tests/data/bridge_golden.json: bridge messages and values with their exact bytes.

The Python, Godot and Unity codecs are all tested against this one file.
Run it only when the protocol changes (then bump its version in docs/PROTOCOL.md). The 1.0
vectors never change: a minor version adds its own after them (their names end in ``_11``).

    .venv/bin/python tools/make_bridge_golden.py
"""

from __future__ import annotations

import json
import struct
import sys
from pathlib import Path
from typing import Any

import msgpack

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bridge.protocol import PROTOCOL_MINOR, PROTOCOL_VERSION, frame  # noqa: E402

OUT = ROOT / "tests" / "data" / "bridge_golden.json"


class F32(float):
    """A float the vectors encode as MessagePack float32."""


def tagged(obj: Any) -> Any:
    """The JSON form: floats and bin are tagged, big ints are strings."""
    if isinstance(obj, F32):
        return {"$f32": float(obj)}
    if isinstance(obj, float):
        return {"$f64": obj}
    if isinstance(obj, bool) or obj is None or isinstance(obj, str):
        return obj
    if isinstance(obj, int):
        return obj if abs(obj) <= 2**53 else {"$int": str(obj)}
    if isinstance(obj, bytes):
        return {"$bin": obj.hex()}
    if isinstance(obj, list):
        return [tagged(x) for x in obj]
    if isinstance(obj, dict):
        return {k: tagged(v) for k, v in obj.items()}
    raise TypeError(type(obj))


def packed(obj: Any) -> bytes:
    """MessagePack bytes, float32 where the object says so (msgpack-python has no
    per-value float32, so containers are assembled here)."""
    if isinstance(obj, F32):
        return b"\xca" + struct.pack(">f", obj)
    if isinstance(obj, (list, dict)):
        n = len(obj)
        small, mid, big = (0x90, 0xDC, 0xDD) if isinstance(obj, list) else (0x80, 0xDE, 0xDF)
        if n < 16:
            head = bytes([small | n])
        elif n < 65536:
            head = bytes([mid]) + struct.pack(">H", n)
        else:
            head = bytes([big]) + struct.pack(">I", n)
        if isinstance(obj, list):
            return head + b"".join(packed(x) for x in obj)
        return head + b"".join(packed(k) + packed(v) for k, v in obj.items())
    return bytes(msgpack.packb(obj, use_bin_type=True))


def has_f32(obj: Any) -> bool:
    if isinstance(obj, F32):
        return True
    if isinstance(obj, list):
        return any(has_f32(x) for x in obj)
    if isinstance(obj, dict):
        return any(has_f32(x) for x in obj.values())
    return False


TOKEN = "c2a1f0e4b7d94a6f8e3b5d7a9c1e2f40"
PCM = struct.pack("<8h", 0, 1000, -1000, 32767, -32768, 256, -256, 1)
LIMITS = {"max_frame": 1048576, "max_pending": 64, "hello_timeout": 5.0, "max_queue": 8388608}

MESSAGES: list[tuple[str, str, Any]] = [
    (
        "hello_request",
        "client -> server, first message",
        [0, 1, "rpc.hello", [{"protocol": PROTOCOL_VERSION, "token": TOKEN, "client": "godot"}]],
    ),
    (
        "hello_response",
        "server -> client",
        [1, 1, None, {"server": "npc-ai 0.1.0", "protocol": PROTOCOL_VERSION, "limits": LIMITS}],
    ),
    ("describe_request", "params may be an empty array", [0, 2, "rpc.describe", []]),
    (
        "describe_response",
        "server -> client, one method shown",
        [
            1,
            2,
            None,
            {
                "protocol": PROTOCOL_VERSION,
                "methods": [
                    {
                        "name": "npc.cancel",
                        "doc": "Stop a reply; it ends with npc.done (finish_reason cancelled).",
                        "params": [
                            {"name": "stream", "type": "int", "required": True, "doc": "stream id"}
                        ],
                        "result": "{cancelled: bool}",
                        "notifications": [],
                    }
                ],
            },
        ],
    ),
    (
        "load_request",
        "persona as a map",
        [
            0,
            3,
            "npc.load",
            [{"id": "smith", "persona": {"name": "Brom", "role": "blacksmith"}}],
        ],
    ),
    ("load_response", "", [1, 3, None, {"id": "smith", "name": "Brom"}]),
    (
        "say_request",
        "",
        [0, 4, "npc.say", [{"npc": "smith", "text": "Can you mend my sword?"}]],
    ),
    ("say_response", "", [1, 4, None, {"stream": 17}]),
    ("delta_notification", "", [2, "npc.delta", [{"stream": 17, "text": " Aye,"}]]),
    (
        "done_notification",
        "",
        [
            2,
            "npc.done",
            [{"stream": 17, "npc": "smith", "text": "Aye, leave it.", "finish_reason": "stop"}],
        ],
    ),
    (
        "npc_error_notification",
        "a reply failed",
        [
            2,
            "npc.error",
            [
                {
                    "stream": 18,
                    "npc": "smith",
                    "error": {
                        "code": 1400,
                        "name": "BackendError",
                        "message": "the model failed",
                        "data": {},
                    },
                }
            ],
        ],
    ),
    (
        "error_response",
        "unknown method",
        [
            1,
            5,
            {
                "code": 2004,
                "name": "UnknownMethodError",
                "message": "no method 'npc.dance' (rpc.describe lists them)",
                "data": {"method": "npc.dance"},
            },
            None,
        ],
    ),
    (
        "error_response_nil_msgid",
        "answers a message whose msgid could not be read",
        [
            1,
            None,
            {
                "code": 2002,
                "name": "MalformedMessageError",
                "message": "the frame is not one valid MessagePack object",
                "data": {},
            },
            None,
        ],
    ),
    ("cancel_request", "", [0, 6, "npc.cancel", [{"stream": 17}]]),
    (
        "subtitle_push_request",
        "16 kHz mono int16 little-endian PCM as bin",
        [0, 7, "subtitle.push", [{"session": 1, "pcm": PCM}]],
    ),
    (
        "subtitle_push_notification",
        "the same chunk, no response wanted",
        [2, "subtitle.push", [{"session": 1, "pcm": PCM}]],
    ),
    (
        "subtitle_final_notification",
        "times in seconds as float64",
        [
            2,
            "subtitle.final",
            [
                {
                    "session": 1,
                    "segment": 3,
                    "revision": 2,
                    "text": "Hello there.",
                    "start": 1.25,
                    "end": 2.5,
                    "language": "en",
                    "words": [{"text": "Hello", "start": 1.25, "end": 1.6, "probability": 0.98}],
                }
            ],
        ],
    ),
]

# Protocol 1.1 (docs/PROTOCOL.md §10), after the 1.0 vectors, which keep their bytes.
MESSAGES_11: list[tuple[str, str, Any]] = [
    (
        "hello_response_11",
        "a 1.1 server announces its minor version and max_clients",
        [
            1,
            1,
            None,
            {
                "server": "npc-ai 0.1.0",
                "protocol": PROTOCOL_VERSION,
                "minor": 1,
                "limits": {**LIMITS, "max_clients": 4},
            },
        ],
    ),
    (
        "load_request_11",
        "structured replies, the player's language, long-term memory",
        [
            0,
            11,
            "npc.load",
            [
                {
                    "id": "smith",
                    "file": "blacksmith.toml",
                    "structured": True,
                    "language": "es",
                    "memory": True,
                }
            ],
        ],
    ),
    (
        "say_request_11",
        "NPCs within earshot and a priority",
        [
            0,
            12,
            "npc.say",
            [
                {
                    "npc": "smith",
                    "text": "¿Puedes arreglar mi espada?",
                    "seed": 7,
                    "heard_by": ["guard", "innkeeper"],
                    "priority": "focused",
                }
            ],
        ],
    ),
    (
        "done_notification_structured_11",
        "a structured NPC's done: emotion, action and its args",
        [
            2,
            "npc.done",
            [
                {
                    "stream": 19,
                    "npc": "smith",
                    "text": "Sí, déjala aquí.",
                    "finish_reason": "stop",
                    "emotion": "calm",
                    "action": "repair",
                    "args": {"item": "sword"},
                }
            ],
        ],
    ),
    ("prepare_request_11", "", [0, 13, "npc.prepare", [{"id": "smith"}]]),
    ("prepare_response_11", "answered once the persona is read", [1, 13, None, {}]),
    ("facts_request_11", "", [0, 14, "npc.facts", [{"id": "smith"}]]),
    (
        "facts_response_11",
        "the newest fact of each kind, in the order learned",
        [
            1,
            14,
            None,
            {
                "facts": [
                    {"kind": "player.name", "text": "Player's name is Ayla.", "turn": 1},
                    {
                        "kind": "quest.ore",
                        "text": "Ayla agreed to fetch ore from the Greyspur mine.",
                        "turn": 3,
                    },
                ]
            },
        ],
    ),
    (
        "teach_request_11",
        "",
        [
            0,
            15,
            "npc.teach",
            [
                {
                    "id": "smith",
                    "text": "Ayla agreed to fetch ore from the Greyspur mine.",
                    "kind": "quest.ore",
                }
            ],
        ],
    ),
    (
        "relationship_request_11",
        "adjust as float64",
        [0, 16, "npc.relationship", [{"id": "smith", "adjust": 0.25}]],
    ),
    ("relationship_response_11", "", [1, 16, None, {"relationship": 0.35}]),
    (
        "scope_error_response_11",
        "another client's NPC",
        [
            1,
            17,
            {
                "code": 1300,
                "name": "InputError",
                "message": "NPC 'smith' was loaded by another client; a client can read only "
                "the NPCs it loaded (or ids no client has loaded)",
                "data": {"id": "smith", "loaded_by": "another client"},
            },
            None,
        ],
    ),
    (
        "too_many_clients_response_11",
        "the hello of a client past max_clients; the connection closes",
        [
            1,
            1,
            {
                "code": 2014,
                "name": "TooManyClientsError",
                "message": "this server already serves 4 clients, its limit; close one of "
                "them, or start the server with --max-clients N",
                "data": {"max_clients": 4},
            },
            None,
        ],
    ),
]

VALUES: list[tuple[str, Any]] = [
    ("nil", None),
    ("true", True),
    ("false", False),
    ("positive_fixint_0", 0),
    ("positive_fixint_127", 127),
    ("negative_fixint_-1", -1),
    ("negative_fixint_-32", -32),
    ("uint8_128", 128),
    ("uint8_255", 255),
    ("uint16_256", 256),
    ("uint16_65535", 65535),
    ("uint32_65536", 65536),
    ("uint32_4294967295", 4294967295),
    ("uint64_4294967296", 4294967296),
    ("uint64_int64_max", 2**63 - 1),
    ("int8_-33", -33),
    ("int8_-128", -128),
    ("int16_-129", -129),
    ("int16_-32768", -32768),
    ("int32_-32769", -32769),
    ("int32_-2147483648", -(2**31)),
    ("int64_-2147483649", -(2**31) - 1),
    ("int64_min", -(2**63)),
    ("float32_1.5", F32(1.5)),
    ("float32_-0.25", F32(-0.25)),
    ("float64_0.1", 0.1),
    ("float64_-1e300", -1e300),
    ("float64_2.0", 2.0),
    ("fixstr_empty", ""),
    ("fixstr_ascii", "hello"),
    ("fixstr_31", "a" * 31),
    ("str8_32", "b" * 32),
    ("str8_utf8", "Grüß dich, 鍛冶屋の親方! 🔨"),
    ("str16_256", "c" * 256),
    ("bin8_empty", b""),
    ("bin8_pcm", PCM),
    ("bin16_256", bytes(range(256))),
    ("fixarray_empty", []),
    ("fixarray_15", list(range(15))),
    ("array16_16", list(range(16))),
    ("fixmap_empty", {}),
    ("fixmap_mixed", {"a": 1, "b": [True, None], "c": {"d": 0.5}}),
    ("map16_16", {f"k{i:02d}": i for i in range(16)}),
    ("nested", [[[[]]], {"x": [{"y": {}}]}]),
]

# Frames a decoder must refuse: the error code, and whether the connection closes.
INVALID: list[tuple[str, str, bytes, int, bool]] = [
    (
        "frame_too_large",
        "length prefix over max_frame (1 MiB): checked before reading, connection closed",
        struct.pack("<I", (1 << 20) + 1),
        2001,
        True,
    ),
    ("not_msgpack", "0xc1 is never used", frame(b"\xc1"), 2002, False),
    ("truncated", "array of 4 with 2 items", frame(b"\x94\x00\x01"), 2002, False),
    ("trailing_bytes", "two objects in one frame", frame(b"\x90\x90"), 2002, False),
    ("ext_type", "ext types are not used", frame(b"\xd4\x01\x00"), 2002, False),
    ("empty_frame", "length 0", frame(b""), 2002, False),
    ("not_an_array", "a map", frame(msgpack.packb({"a": 1})), 2003, False),
    ("wrong_type", "type 3", frame(msgpack.packb([3, 1, "x", []])), 2003, False),
    ("bad_msgid", "msgid -1", frame(msgpack.packb([0, -1, "rpc.ping", []])), 2003, False),
    (
        "params_not_array",
        "params as a bare map: answered with msgid 9",
        frame(msgpack.packb([0, 9, "rpc.ping", {"a": 1}])),
        2005,
        False,
    ),
]


def main() -> None:
    doc = {
        "protocol": PROTOCOL_VERSION,
        "minor": PROTOCOL_MINOR,
        "format": (
            "Each vector: object (JSON; tags: {'$bin': hex} is MessagePack bin, {'$f32': x} "
            "float32, {'$f64': x} float64, {'$int': 'decimal'} an int beyond 2^53; every other "
            "JSON number is an integer), payload (hex of the MessagePack bytes, smallest "
            "encoding, map keys in the order shown), framed (hex: 4-byte little-endian length, "
            "then payload). invalid: framed bytes a server must refuse with error code; "
            "fatal means the connection is closed."
        ),
        "messages": [],
        "values": [],
        "invalid": [],
    }
    for name, note, obj in MESSAGES + MESSAGES_11:
        payload = packed(obj)
        assert payload == msgpack.packb(obj, use_bin_type=True)
        doc["messages"].append(
            {
                "name": name,
                "note": note,
                "object": tagged(obj),
                "payload": payload.hex(),
                "framed": frame(payload).hex(),
            }
        )
    for name, obj in VALUES:
        payload = packed(obj)
        # The reference encoder agrees wherever it can express the value.
        assert has_f32(obj) or payload == msgpack.packb(obj, use_bin_type=True), name
        doc["values"].append(
            {
                "name": name,
                "object": tagged(obj),
                "payload": payload.hex(),
                "framed": frame(payload).hex(),
            }
        )
    for name, note, data, code, fatal in INVALID:
        doc["invalid"].append(
            {"name": name, "note": note, "framed": data.hex(), "code": code, "fatal": fatal}
        )
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
