"""The bridge's messages as records: what the codec reads and writes and the connections emit.

:class:`Request`, :class:`Response` and :class:`Notification` are the three
MessagePack-RPC messages (:data:`Message`); :class:`Rejected` and
:class:`HelloAccepted` are what a server connection adds to them (:data:`Event`);
:class:`Limits` bounds one connection. Import them from :mod:`bridge.protocol`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bridge.errors import BridgeError
from npc_ai.errors import NpcAiError

__all__ = [
    "MAX_MSGID",
    "NOTIFICATION",
    "PROTOCOL_MINOR",
    "PROTOCOL_VERSION",
    "REQUEST",
    "RESPONSE",
    "Event",
    "HelloAccepted",
    "Limits",
    "Message",
    "Notification",
    "Rejected",
    "Request",
    "Response",
    "error_map",
]

#: The protocol's major version; ``rpc.hello`` must carry it.
PROTOCOL_VERSION = 1
#: The minor version this side speaks: additions a client of an older minor can ignore. The
#: server announces it (``minor`` in the hello result, ``rpc.describe``, the discovery file);
#: a server that sends no ``minor`` speaks 0.
PROTOCOL_MINOR = 1
REQUEST, RESPONSE, NOTIFICATION = 0, 1, 2
#: The largest message id (ids are unsigned 32-bit).
MAX_MSGID = 2**32 - 1


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
    #: Clients served at once (past the handshake); a game, its editor and a tool or two.
    max_clients: int = 4

    def __post_init__(self) -> None:
        if (
            self.max_frame < 64
            or self.max_pending < 1
            or self.hello_timeout <= 0
            or self.max_clients < 1
        ):
            raise ValueError(
                "max_frame must be >= 64, max_pending >= 1, hello_timeout > 0, max_clients >= 1"
            )

    def to_dict(self) -> dict[str, Any]:
        """The map sent in the hello result."""
        return {
            "max_frame": self.max_frame,
            "max_pending": self.max_pending,
            "hello_timeout": self.hello_timeout,
            "max_queue": self.max_queue,
            "max_clients": self.max_clients,
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
