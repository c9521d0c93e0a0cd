"""The bridge's wire protocol with no I/O: bytes in, events out, messages to send back.

Framing is a 4-byte little-endian unsigned length, then a MessagePack payload
(Godot's ``PacketPeerStream`` framing). Payloads are MessagePack-RPC messages::

    [0, msgid, method, params]   request       params: [] or [{name: value, ...}]
    [1, msgid, error, result]    response      error: nil or {code, name, message, data}
    [2, method, params]          notification

:class:`FrameDecoder` checks every length prefix against the frame limit
before buffering the payload, and unpacks each whole frame with
``msgpack.unpackb`` (whose limits are sized by the frame). After a framing
error the stream cannot be resynchronised: the connection is dead.

:class:`ServerConnection` is the server side's state machine: it enforces
the ``rpc.hello`` handshake (protocol version, token) and the in-flight
request limit, and turns every bad message into an error :class:`Response`
for the server to send. :class:`ClientConnection` is the clients' side.
Neither touches a socket; ``docs/PROTOCOL.md`` is the specification.
"""

from __future__ import annotations

import hmac
import itertools
import struct
from dataclasses import dataclass, field
from typing import Any

import msgpack

from bridge.errors import (
    AuthenticationError,
    BadMessageError,
    BadParamsError,
    BridgeError,
    ConnectionDeadError,
    FrameError,
    MalformedMessageError,
    NotAuthenticatedError,
    TooBusyError,
    VersionMismatchError,
)
from npc_ai.errors import NpcAiError

__all__ = [
    "NOTIFICATION",
    "PROTOCOL_VERSION",
    "REQUEST",
    "RESPONSE",
    "ClientConnection",
    "Event",
    "FrameDecoder",
    "HelloAccepted",
    "Limits",
    "Message",
    "Notification",
    "Rejected",
    "Request",
    "Response",
    "ServerConnection",
    "decode",
    "encode",
    "error_map",
    "frame",
    "pack",
]

#: The protocol's major version; ``rpc.hello`` must carry it.
PROTOCOL_VERSION = 1
REQUEST, RESPONSE, NOTIFICATION = 0, 1, 2
_MAX_MSGID = 2**32 - 1
_HEADER = struct.Struct("<I")


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """Per-connection limits; the hello result reports them to the client."""

    #: Largest payload of one frame, in bytes (the 4-byte prefix not counted).
    max_frame: int = 1 << 20
    #: Requests of one client in flight (received, not yet answered).
    max_pending: int = 64
    #: Seconds a new connection has to send ``rpc.hello``.
    hello_timeout: float = 5.0
    #: Bytes queued for a client that does not read before it is disconnected.
    max_queue: int = 8 << 20

    def __post_init__(self) -> None:
        if self.max_frame < 64 or self.max_pending < 1 or self.hello_timeout <= 0:
            raise ValueError("max_frame must be >= 64, max_pending >= 1, hello_timeout > 0")

    def to_dict(self) -> dict[str, Any]:
        """The map sent in the hello result."""
        return {
            "max_frame": self.max_frame,
            "max_pending": self.max_pending,
            "hello_timeout": self.hello_timeout,
            "max_queue": self.max_queue,
        }


@dataclass(frozen=True, slots=True)
class Request:
    """``[0, msgid, method, [params]]``."""

    msgid: int
    method: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Response:
    """``[1, msgid, error, result]``; ``msgid`` is None when it answers a message
    whose id could not be read."""

    msgid: int | None
    error: dict[str, Any] | None = None
    result: Any = None


@dataclass(frozen=True, slots=True)
class Notification:
    """``[2, method, [params]]``."""

    method: str
    params: dict[str, Any] = field(default_factory=dict)


Message = Request | Response | Notification


@dataclass(frozen=True, slots=True)
class Rejected:
    """A message was refused; ``reply`` is the error response to send.

    When ``fatal`` is set the connection is dead: send ``reply``, then close.
    """

    error: BridgeError
    reply: Response
    fatal: bool = False


@dataclass(frozen=True, slots=True)
class HelloAccepted:
    """The handshake succeeded; ``reply`` is the hello result to send."""

    client: str
    reply: Response


Event = Request | Notification | Response | Rejected | HelloAccepted


def error_map(error: NpcAiError) -> dict[str, Any]:
    """The wire form of an error: ``{"code", "name", "message", "data"}``."""
    return error.to_dict()


# -- codec -------------------------------------------------------------------------------


def encode(message: Message) -> bytes:
    """The MessagePack payload of a message (no frame)."""
    obj: list[Any]
    if isinstance(message, Request):
        obj = [REQUEST, message.msgid, message.method, [message.params] if message.params else []]
    elif isinstance(message, Response):
        obj = [RESPONSE, message.msgid, message.error, message.result]
    else:
        obj = [NOTIFICATION, message.method, [message.params] if message.params else []]
    # default=str: an error's data holding some other object still goes out, as text.
    return msgpack.packb(obj, use_bin_type=True, default=str)  # type: ignore[no-any-return]


def frame(payload: bytes) -> bytes:
    """Prefix a payload with its 4-byte little-endian length."""
    return _HEADER.pack(len(payload)) + payload


def pack(message: Message) -> bytes:
    """A message, encoded and framed: the bytes to write."""
    return frame(encode(message))


def decode(payload: bytes) -> Message:
    """Read one frame's payload as a message.

    Raises :class:`MalformedMessageError` when it is not one MessagePack
    object, :class:`BadMessageError` when the object is not a
    MessagePack-RPC message, :class:`BadParamsError` when ``params`` is
    not ``[]`` or ``[map]``. These carry ``msgid`` in ``data`` when it
    could be read, so the error response can name the request.
    """
    try:
        # Limits default to the payload's length: a frame can claim no more
        # items than it has bytes. Ext types (and timestamps) are refused.
        obj = msgpack.unpackb(
            payload, raw=False, strict_map_key=True, use_list=True, ext_hook=_refuse_ext
        )
    except Exception as exc:  # msgpack raises many types for bad bytes
        raise MalformedMessageError(
            f"the frame is not one valid MessagePack object ({type(exc).__name__}: {exc})"
        ) from None
    return _shape(obj)


def _refuse_ext(code: int, data: bytes) -> Any:
    raise ValueError(f"MessagePack ext type {code} is not used by this protocol")


def _shape(obj: Any) -> Message:
    if not isinstance(obj, list) or not obj:
        raise BadMessageError(
            f"a message must be an array [type, ...], got {_kind(obj)}",
            expected="[0, msgid, method, params] | [1, msgid, error, result] | [2, method, params]",
        )
    kind = obj[0] if type(obj[0]) is int else None
    if kind == REQUEST and len(obj) == 4:
        msgid = _msgid(obj[1])
        return Request(msgid, _method(obj[2], msgid), _params(obj[3], msgid))
    if kind == RESPONSE and len(obj) == 4:
        answers = None if obj[1] is None else _msgid(obj[1])
        error = obj[2]
        if error is not None and not (isinstance(error, dict) and _str_keys(error)):
            raise BadMessageError("a response's error must be nil or a map", msgid=answers)
        return Response(answers, error, obj[3])
    if kind == NOTIFICATION and len(obj) == 3:
        return Notification(_method(obj[1], None), _params(obj[2], None))
    # A request of the wrong length still names its msgid: answer it.
    named = obj[1] if kind == REQUEST and len(obj) >= 2 and _is_msgid(obj[1]) else None
    raise BadMessageError(
        f"not a MessagePack-RPC message: type {obj[0]!r} with {len(obj)} elements",
        expected="[0, msgid, method, params] | [1, msgid, error, result] | [2, method, params]",
        msgid=named,
    )


def _is_msgid(value: Any) -> bool:
    return type(value) is int and 0 <= value <= _MAX_MSGID


def _msgid(value: Any) -> int:
    if not _is_msgid(value):
        raise BadMessageError(f"msgid must be an integer 0..2^32-1, got {_kind(value)}")
    return int(value)


def _method(value: Any, msgid: int | None) -> str:
    if not isinstance(value, str) or not value:
        raise BadMessageError(f"method must be a non-empty string, got {_kind(value)}", msgid=msgid)
    return value


def _params(value: Any, msgid: int | None) -> dict[str, Any]:
    if isinstance(value, list) and not value:
        return {}
    if (
        isinstance(value, list)
        and len(value) == 1
        and isinstance(value[0], dict)
        and _str_keys(value[0])
    ):
        return value[0]  # type: ignore[no-any-return,unused-ignore]
    raise BadParamsError(
        f"params must be [] or [map of named arguments], got {_kind(value)}", msgid=msgid
    )


def _str_keys(value: dict[Any, Any]) -> bool:
    return all(isinstance(k, str) for k in value)


def _kind(value: Any) -> str:
    if value is None:
        return "nil"
    if isinstance(value, list):
        return f"an array of {len(value)}"
    return type(value).__name__


class FrameDecoder:
    """Splits a byte stream into frame payloads, checking each length first.

    :meth:`feed` returns the complete payloads so far (none when more bytes
    are needed). A length over ``max_frame`` raises :class:`FrameError`;
    from then on the decoder is dead and :meth:`feed` raises
    :class:`ConnectionDeadError`.
    """

    def __init__(self, max_frame: int) -> None:
        self.max_frame = max_frame
        self._buffer = bytearray()
        self._need: int | None = None  # payload length of the frame being read
        self.dead = False

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned as a payload."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[bytes]:
        if self.dead:
            raise ConnectionDeadError("the connection is closed after a framing error")
        self._buffer += data
        frames: list[bytes] = []
        while True:
            if self._need is None:
                if len(self._buffer) < 4:
                    return frames
                (length,) = _HEADER.unpack_from(self._buffer)
                if length > self.max_frame:
                    self.dead = True
                    self._buffer.clear()
                    raise FrameError(
                        f"a frame announces {length} bytes, over the limit of {self.max_frame}; "
                        "the connection is closed",
                        length=length,
                        max_frame=self.max_frame,
                    )
                del self._buffer[:4]
                self._need = length
            if len(self._buffer) < self._need:
                return frames
            frames.append(bytes(self._buffer[: self._need]))
            del self._buffer[: self._need]
            self._need = None


# -- connection state machines -------------------------------------------------------------


class ServerConnection:
    """One client as the server sees it: ``hello`` → ``ready`` → ``closed``.

    Feed received bytes to :meth:`receive_data`; it returns events in
    order. Requests and notifications come out only after a good hello.
    Every refused message becomes a :class:`Rejected` carrying the error
    response; a fatal one also closes the connection (the server sends
    the reply, then closes the socket). Encode what to send with
    :meth:`send`, which also keeps the in-flight count.

    ``token`` None accepts any token (stdio, where the pipe is private).
    """

    def __init__(
        self,
        *,
        token: str | None,
        limits: Limits | None = None,
        server: str = "npc-ai",
    ) -> None:
        self.limits = limits or Limits()
        self.state = "hello"
        self.client = ""
        self.pending = 0
        self._token = token
        self._server = server
        self._decoder = FrameDecoder(self.limits.max_frame)
        self._in_flight: set[int] = set()

    @property
    def closed(self) -> bool:
        return self.state == "closed"

    def receive_data(self, data: bytes) -> list[Event]:
        """Events from newly received bytes (raises nothing for bad input)."""
        if self.closed:
            return []
        try:
            payloads = self._decoder.feed(data)
        except BridgeError as exc:
            self.state = "closed"
            return [Rejected(exc, Response(None, exc.to_dict()), fatal=True)]
        events: list[Event] = []
        for payload in payloads:
            events.append(self._receive(payload))
            if self.closed:
                break
        return events

    def timed_out(self, error: BridgeError) -> Rejected | None:
        """Close a connection still waiting for its hello; None when it is past that."""
        if self.state != "hello":
            return None
        self.state = "closed"
        return Rejected(error, Response(None, error.to_dict()), fatal=True)

    def close(self) -> None:
        self.state = "closed"

    def send(self, message: Message) -> bytes:
        """Frame a message for this client; responses end their request's flight."""
        self.sent(message)
        return pack(message)

    def sent(self, message: Message) -> None:
        """Note a message framed elsewhere as sent (a response ends its request's flight)."""
        if isinstance(message, Response) and message.msgid in self._in_flight:
            self._in_flight.discard(message.msgid)
            self.pending = len(self._in_flight)

    def _receive(self, payload: bytes) -> Event:
        try:
            message = decode(payload)
        except BridgeError as exc:
            return self._reject(exc, exc.data.get("msgid"))
        if self.state == "hello":
            return self._hello(message)
        if isinstance(message, Response):
            return self._reject(BadMessageError("the server sends no requests: drop responses"))
        if isinstance(message, Request):
            if message.method == "rpc.hello":
                return self._reject(BadMessageError("rpc.hello was already done"), message.msgid)
            if message.msgid in self._in_flight:
                return self._reject(
                    BadMessageError(f"msgid {message.msgid} is already in flight"), message.msgid
                )
            if len(self._in_flight) >= self.limits.max_pending:
                return self._reject(
                    TooBusyError(
                        f"{len(self._in_flight)} requests are in flight, the limit is "
                        f"{self.limits.max_pending}; wait for answers before sending more",
                        max_pending=self.limits.max_pending,
                    ),
                    message.msgid,
                )
            self._in_flight.add(message.msgid)
            self.pending = len(self._in_flight)
        return message

    def _hello(self, message: Message) -> Event:
        if not isinstance(message, Request) or message.method != "rpc.hello":
            msgid = message.msgid if isinstance(message, Request) else None
            return self._reject(
                NotAuthenticatedError("the first message must be the request rpc.hello"), msgid
            )
        p = message.params
        protocol, token, client = p.get("protocol"), p.get("token"), p.get("client", "")
        if type(protocol) is not int or not isinstance(token, str) or not isinstance(client, str):
            return self._reject(
                BadParamsError(
                    "rpc.hello needs {protocol: int, token: str, client: str}",
                    expected="{protocol: int, token: str, client: str}",
                ),
                message.msgid,
            )
        if protocol != PROTOCOL_VERSION:
            return self._reject(
                VersionMismatchError(
                    f"this server speaks protocol {PROTOCOL_VERSION}, the client {protocol}",
                    supported=[PROTOCOL_VERSION],
                ),
                message.msgid,
            )
        if self._token is not None and not hmac.compare_digest(
            token.encode("utf-8"), self._token.encode("utf-8")
        ):
            return self._reject(
                AuthenticationError("wrong token (read it from the discovery file)"),
                message.msgid,
            )
        self.state = "ready"
        self.client = client
        result = {
            "server": self._server,
            "protocol": PROTOCOL_VERSION,
            "limits": self.limits.to_dict(),
        }
        return HelloAccepted(client, Response(message.msgid, None, result))

    def _reject(self, error: BridgeError, msgid: int | None = None) -> Rejected:
        # Before the hello every error closes: an unauthenticated peer gets one answer.
        fatal = error.fatal or self.state == "hello"
        if fatal:
            self.state = "closed"
        return Rejected(error, Response(msgid, error.to_dict()), fatal=fatal)


class ClientConnection:
    """The client side: builds requests, matches responses, checks the hello.

    :meth:`hello` and :meth:`request` return the bytes to write;
    :meth:`receive_data` returns :class:`Response` and
    :class:`Notification` events (a framing error raises
    :class:`FrameError`; a message that is not valid raises its error).
    """

    def __init__(self, *, max_frame: int = 64 << 20) -> None:
        self._decoder = FrameDecoder(max_frame)
        self._ids = itertools.count(1)
        self.hello_id: int | None = None
        self.server: dict[str, Any] | None = None

    def hello(self, token: str, client: str) -> bytes:
        self.hello_id, data = self.request(
            "rpc.hello", {"protocol": PROTOCOL_VERSION, "token": token, "client": client}
        )
        return data

    def request(self, method: str, params: dict[str, Any] | None = None) -> tuple[int, bytes]:
        msgid = next(self._ids) & _MAX_MSGID
        return msgid, pack(Request(msgid, method, params or {}))

    def notify(self, method: str, params: dict[str, Any] | None = None) -> bytes:
        return pack(Notification(method, params or {}))

    def receive_data(self, data: bytes) -> list[Response | Notification]:
        out: list[Response | Notification] = []
        for payload in self._decoder.feed(data):
            message = decode(payload)
            if isinstance(message, Request):
                raise BadMessageError("the server sent a request; clients answer none")
            if (
                isinstance(message, Response)
                and message.msgid == self.hello_id
                and message.error is None
            ):
                self.server = message.result if isinstance(message.result, dict) else {}
            out.append(message)
        return out
