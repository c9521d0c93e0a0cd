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

Import every name from here: the message records live in :mod:`bridge.messages`, the
framing and MessagePack codec in :mod:`bridge.codec`, the connections in this module.
"""

from __future__ import annotations

import hmac
import itertools
from typing import Any

from bridge.codec import FrameDecoder, decode, encode, frame, pack
from bridge.errors import (
    AuthenticationError,
    BadMessageError,
    BadParamsError,
    BridgeError,
    NotAuthenticatedError,
    TooBusyError,
    VersionMismatchError,
)
from bridge.messages import (
    MAX_MSGID,
    NOTIFICATION,
    PROTOCOL_MINOR,
    PROTOCOL_VERSION,
    REQUEST,
    RESPONSE,
    Event,
    HelloAccepted,
    Limits,
    Message,
    Notification,
    Rejected,
    Request,
    Response,
    error_map,
)

__all__ = [
    "NOTIFICATION",
    "PROTOCOL_MINOR",
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
            "minor": PROTOCOL_MINOR,
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
        msgid = next(self._ids) & MAX_MSGID
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
