"""The bridge codec and connection state machines, with no sockets."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge import errors, protocol
from bridge.protocol import (
    ClientConnection,
    FrameDecoder,
    HelloAccepted,
    Limits,
    Notification,
    Rejected,
    Request,
    Response,
    ServerConnection,
    decode,
    encode,
    frame,
    pack,
)

GOLDEN = json.loads(
    (Path(__file__).parent / "data" / "bridge_golden.json").read_text(encoding="utf-8")
)
TOKEN = "secret-token"


def untag(obj: Any) -> Any:
    if isinstance(obj, dict):
        if len(obj) == 1:
            ((key, value),) = obj.items()
            if key == "$bin":
                return bytes.fromhex(value)
            if key in ("$f32", "$f64"):
                return float(value)
            if key == "$int":
                return int(value)
        return {k: untag(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [untag(x) for x in obj]
    return obj


def as_message(obj: list[Any]) -> protocol.Message:
    if obj[0] == 0:
        return Request(obj[1], obj[2], obj[3][0] if obj[3] else {})
    if obj[0] == 1:
        return Response(obj[1], obj[2], obj[3])
    return Notification(obj[1], obj[2][0] if obj[2] else {})


def hello_bytes(token: str = TOKEN, version: int = protocol.PROTOCOL_VERSION) -> bytes:
    return pack(Request(1, "rpc.hello", {"protocol": version, "token": token, "client": "t"}))


def ready(**kw: Any) -> ServerConnection:
    conn = ServerConnection(token=TOKEN, **kw)
    (event,) = conn.receive_data(hello_bytes())
    assert isinstance(event, HelloAccepted)
    return conn


# -- golden vectors ----------------------------------------------------------------------


@pytest.mark.parametrize("vector", GOLDEN["messages"], ids=lambda v: v["name"])
def test_golden_messages_decode_and_encode(vector: dict[str, Any]) -> None:
    obj = untag(vector["object"])
    framed = bytes.fromhex(vector["framed"])
    payload = bytes.fromhex(vector["payload"])
    assert framed == struct.pack("<I", len(payload)) + payload
    (got,) = FrameDecoder(1 << 20).feed(framed)
    message = decode(got)
    assert message == as_message(obj)
    assert encode(message) == payload


@pytest.mark.parametrize("vector", GOLDEN["values"], ids=lambda v: v["name"])
def test_golden_values(vector: dict[str, Any]) -> None:
    obj = untag(vector["object"])
    payload = bytes.fromhex(vector["payload"])
    assert bytes.fromhex(vector["framed"]) == frame(payload)
    decoded = msgpack.unpackb(payload, raw=False)
    assert decoded == obj and type(decoded) is type(obj)
    if "$f32" not in json.dumps(vector["object"]):
        assert msgpack.packb(obj, use_bin_type=True) == payload


def test_golden_covers_every_width() -> None:
    heads = {bytes.fromhex(v["payload"])[0] for v in GOLDEN["values"]}
    for head in (0xC0, 0xC2, 0xC3, 0xC4, 0xC5, 0xCA, 0xCB, 0xCC, 0xCD, 0xCE, 0xCF):
        assert head in heads, hex(head)
    for head in (0xD0, 0xD1, 0xD2, 0xD3, 0xD9, 0xDA, 0xDC, 0xDE, 0x00, 0xFF, 0xA0, 0x90, 0x80):
        assert head in heads, hex(head)


@pytest.mark.parametrize("vector", GOLDEN["invalid"], ids=lambda v: v["name"])
def test_golden_invalid_frames(vector: dict[str, Any]) -> None:
    conn = ready()
    events = conn.receive_data(bytes.fromhex(vector["framed"]))
    (event,) = events
    assert isinstance(event, Rejected)
    assert event.reply.error is not None
    assert event.reply.error["code"] == vector["code"]
    assert event.fatal == vector["fatal"] == conn.closed
    if not vector["fatal"]:  # the connection still serves
        (ok,) = conn.receive_data(pack(Request(50, "rpc.ping", {})))
        assert ok == Request(50, "rpc.ping", {})


def test_bad_params_error_names_the_msgid() -> None:
    conn = ready()
    (event,) = conn.receive_data(frame(msgpack.packb([0, 9, "rpc.ping", {"a": 1}])))
    assert isinstance(event, Rejected) and event.reply.msgid == 9


# -- framing -------------------------------------------------------------------------------


def test_length_is_checked_before_the_payload_arrives() -> None:
    decoder = FrameDecoder(100)
    with pytest.raises(errors.FrameError) as info:
        decoder.feed(struct.pack("<I", 101))  # no payload sent at all
    assert info.value.code == 2001 and info.value.data["length"] == 101
    assert decoder.dead
    with pytest.raises(errors.ConnectionDeadError):
        decoder.feed(frame(b"\x90"))


def test_frame_at_the_limit_is_accepted() -> None:
    payload = msgpack.packb(b"x" * 90)
    decoder = FrameDecoder(len(payload))
    assert decoder.feed(frame(payload)) == [payload]


def every_golden_frame() -> bytes:
    return b"".join(bytes.fromhex(v["framed"]) for v in GOLDEN["messages"] + GOLDEN["values"])


def test_byte_by_byte_gives_the_same_frames() -> None:
    stream = every_golden_frame()
    whole = FrameDecoder(1 << 20).feed(stream)
    decoder = FrameDecoder(1 << 20)
    pieces: list[bytes] = []
    for i in range(len(stream)):
        pieces += decoder.feed(stream[i : i + 1])
    assert pieces == whole
    assert len(whole) == len(GOLDEN["messages"]) + len(GOLDEN["values"])
    assert decoder.buffered == 0


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.integers(min_value=1, max_value=64), min_size=1, max_size=200))
def test_any_split_gives_the_same_events(cuts: list[int]) -> None:
    stream = hello_bytes() + b"".join(
        bytes.fromhex(v["framed"]) for v in GOLDEN["messages"] if v["object"][0] != 1
    )
    expected = ServerConnection(token=TOKEN).receive_data(stream)
    conn = ServerConnection(token=TOKEN)
    got: list[protocol.Event] = []
    pos = 0
    for cut in cuts:
        got += conn.receive_data(stream[pos : pos + cut])
        pos += cut
    got += conn.receive_data(stream[pos:])
    assert [repr(e) for e in got] == [repr(e) for e in expected]


# -- fuzz: any bytes give messages or a protocol error, nothing else -----------------------


@settings(max_examples=500)
@given(st.binary(max_size=300))
def test_decode_any_bytes(data: bytes) -> None:
    try:
        message = decode(data)
    except errors.BridgeError as exc:
        assert 2000 < exc.code < 2100
    else:
        assert isinstance(message, Request | Response | Notification)


msgpack_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | st.binary(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=5), inner, max_size=5)
    ),
    max_leaves=20,
)


@settings(max_examples=500)
@given(st.lists(msgpack_values, max_size=5))
def test_decode_any_msgpack_array(obj: list[Any]) -> None:
    # Structured input reaches the shape checks that random bytes rarely do.
    try:
        message = decode(msgpack.packb(obj, use_bin_type=True))
    except errors.BridgeError as exc:
        assert exc.code in (2002, 2003, 2005)
    else:
        assert isinstance(message, Request | Response | Notification)


@settings(max_examples=300)
@given(st.binary(max_size=400), st.integers(min_value=1, max_value=50))
def test_server_connection_any_bytes(data: bytes, step: int) -> None:
    conn = ready(limits=Limits(max_frame=200))
    for i in range(0, len(data), step):
        for event in conn.receive_data(data[i : i + step]):
            assert isinstance(event, Request | Notification | Rejected)
            if isinstance(event, Rejected):
                assert event.reply.error is not None
                assert 2000 < event.reply.error["code"] < 2100
    # Whatever came before, a closed connection yields nothing and raises nothing.
    conn.close()
    assert conn.receive_data(hello_bytes()) == []


# -- handshake -----------------------------------------------------------------------------


def test_hello_accepted_reports_limits() -> None:
    conn = ServerConnection(token=TOKEN, limits=Limits(max_pending=3), server="npc-ai test")
    (event,) = conn.receive_data(hello_bytes())
    assert isinstance(event, HelloAccepted) and event.client == "t"
    assert event.reply.msgid == 1
    assert event.reply.result["protocol"] == 1
    assert event.reply.result["limits"]["max_pending"] == 3
    assert conn.state == "ready"


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (hello_bytes(token="wrong"), 2007),
        (hello_bytes(version=2), 2008),
        (pack(Request(1, "npc.say", {"npc": "a", "text": "b"})), 2006),
        (pack(Notification("rpc.hello", {})), 2006),
        (pack(Request(1, "rpc.hello", {"protocol": "1", "token": TOKEN})), 2005),
        (frame(b"\xc1"), 2002),
    ],
)
def test_hello_failures_close(data: bytes, code: int) -> None:
    conn = ServerConnection(token=TOKEN)
    events = conn.receive_data(data + pack(Request(2, "rpc.ping", {})))
    assert len(events) == 1  # nothing after the failure is read
    (event,) = events
    assert isinstance(event, Rejected) and event.fatal and conn.closed
    assert event.reply.error is not None and event.reply.error["code"] == code


def test_version_mismatch_lists_supported() -> None:
    (event,) = ServerConnection(token=TOKEN).receive_data(hello_bytes(version=9))
    assert isinstance(event, Rejected) and event.reply.error is not None
    assert event.reply.error["data"]["supported"] == [1]


def test_no_token_accepts_any() -> None:
    (event,) = ServerConnection(token=None).receive_data(hello_bytes(token="anything"))
    assert isinstance(event, HelloAccepted)


def test_hello_timeout_only_before_hello() -> None:
    conn = ServerConnection(token=TOKEN)
    rejected = conn.timed_out(errors.HelloTimeoutError("no hello"))
    assert rejected is not None and rejected.fatal and conn.closed
    assert ready().timed_out(errors.HelloTimeoutError("no hello")) is None


def test_second_hello_is_refused_but_not_fatal() -> None:
    conn = ready()
    (event,) = conn.receive_data(hello_bytes())
    assert isinstance(event, Rejected) and not event.fatal and not conn.closed


# -- in-flight accounting ------------------------------------------------------------------


def test_too_busy_until_answers_go_out() -> None:
    conn = ready(limits=Limits(max_pending=2))
    events = conn.receive_data(b"".join(pack(Request(i, "rpc.ping", {})) for i in (10, 11, 12)))
    assert [type(e) for e in events] == [Request, Request, Rejected]
    busy = events[2]
    assert isinstance(busy, Rejected) and busy.reply.msgid == 12
    assert busy.reply.error is not None and busy.reply.error["code"] == 2009
    assert conn.pending == 2
    conn.send(Response(10, None, {}))
    assert conn.pending == 1
    (event,) = conn.receive_data(pack(Request(12, "rpc.ping", {})))
    assert isinstance(event, Request)


def test_duplicate_msgid_in_flight_is_refused() -> None:
    conn = ready()
    events = conn.receive_data(pack(Request(5, "rpc.ping", {})) * 2)
    assert isinstance(events[0], Request) and isinstance(events[1], Rejected)


def test_client_response_is_refused() -> None:
    conn = ready()
    (event,) = conn.receive_data(pack(Response(3, None, 1)))
    assert isinstance(event, Rejected) and event.reply.error is not None
    assert event.reply.error["code"] == 2003


# -- the client side -----------------------------------------------------------------------


def test_client_and_server_talk() -> None:
    client = ClientConnection()
    server = ServerConnection(token=TOKEN)
    (hello,) = server.receive_data(client.hello(TOKEN, "py"))
    assert isinstance(hello, HelloAccepted)
    (reply,) = client.receive_data(server.send(hello.reply))
    assert isinstance(reply, Response) and client.server is not None
    assert client.server["protocol"] == 1
    msgid, data = client.request("npc.say", {"npc": "smith", "text": "Hi"})
    (request,) = server.receive_data(data)
    assert request == Request(msgid, "npc.say", {"npc": "smith", "text": "Hi"})
    sent = server.send(Response(msgid, None, {"stream": 1}))
    sent += server.send(Notification("npc.delta", {"stream": 1, "text": "Hey"}))
    assert client.receive_data(sent) == [
        Response(msgid, None, {"stream": 1}),
        Notification("npc.delta", {"stream": 1, "text": "Hey"}),
    ]
    (note,) = server.receive_data(client.notify("subtitle.push", {"session": 1, "pcm": b"\0\0"}))
    assert note == Notification("subtitle.push", {"session": 1, "pcm": b"\0\0"})


def test_client_refuses_requests_from_the_server() -> None:
    with pytest.raises(errors.BadMessageError):
        ClientConnection().receive_data(pack(Request(1, "x", {})))


def test_limits_checked() -> None:
    with pytest.raises(ValueError):
        Limits(max_frame=1)


def test_all_names_exist() -> None:
    for module in (protocol, errors):
        for name in module.__all__:
            assert hasattr(module, name)
    assert protocol.__all__ == sorted(protocol.__all__, key=lambda n: (not n.isupper(), n))
