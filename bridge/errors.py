"""Errors of the bridge protocol: codes in the 2000 range.

Domain errors (an unknown NPC, a bad persona) keep their :mod:`npc_ai.errors`
class and code; these are the wire's own. Each is sent to the client as the
map ``{"code", "name", "message", "data"}`` (:meth:`NpcAiError.to_dict`).
``fatal`` errors close the connection after the error response is sent.
"""

from __future__ import annotations

from typing import ClassVar

from npc_ai.errors import NpcAiError

__all__ = [
    "AuthenticationError",
    "BadMessageError",
    "BadParamsError",
    "BridgeError",
    "ConnectionDeadError",
    "FrameError",
    "HelloTimeoutError",
    "MalformedMessageError",
    "NotAuthenticatedError",
    "RemoteError",
    "ResultTooLargeError",
    "TooBusyError",
    "TooManyClientsError",
    "UnavailableError",
    "UnknownMethodError",
    "VersionMismatchError",
]


class BridgeError(NpcAiError):
    """Root of the bridge protocol's errors."""

    code = 2000
    fault = "remote"
    #: The connection is closed after this error is reported.
    fatal: ClassVar[bool] = False


class FrameError(BridgeError):
    """The framing is broken (a length prefix over the frame limit): the stream
    cannot be resynchronised, so the connection is closed."""

    code = 2001
    fatal = True


class MalformedMessageError(BridgeError):
    """A frame's payload is not one valid MessagePack object."""

    code = 2002


class BadMessageError(BridgeError):
    """A MessagePack object that is not a MessagePack-RPC message this side accepts."""

    code = 2003


class UnknownMethodError(BridgeError):
    """No method by that name (``rpc.describe`` lists them)."""

    code = 2004


class BadParamsError(BridgeError):
    """A method's named arguments are missing, unknown or of the wrong type."""

    code = 2005


class NotAuthenticatedError(BridgeError):
    """A message other than ``rpc.hello`` came first."""

    code = 2006
    fatal = True


class AuthenticationError(BridgeError):
    """The hello carried the wrong token."""

    code = 2007
    fatal = True


class VersionMismatchError(BridgeError):
    """The client speaks a protocol major version this server does not."""

    code = 2008
    fatal = True


class TooBusyError(BridgeError):
    """Too many requests of this client are in flight; retry after some are answered."""

    code = 2009


class HelloTimeoutError(BridgeError):
    """No ``rpc.hello`` arrived in time."""

    code = 2010
    fatal = True


class UnavailableError(BridgeError):
    """The method is part of the protocol but this server cannot serve it
    (its component is not installed or not configured)."""

    code = 2011


class ConnectionDeadError(BridgeError):
    """The connection was closed (after a fatal error or by the peer); nothing more
    can be sent or received on it."""

    code = 2012
    fatal = True


class ResultTooLargeError(BridgeError):
    """A result would not fit in one frame (``max_frame``); nothing was lost on the server."""

    code = 2013


class TooManyClientsError(BridgeError):
    """The server already serves as many clients as it may (``max_clients``); answers the
    hello of the client past the limit (protocol 1.1)."""

    code = 2014
    fatal = True


class RemoteError(BridgeError):
    """An error response, raised by the Python clients.

    ``code``, ``name`` and ``data`` are the server's; ``remote_code`` equals
    ``code`` and is kept for readability at call sites.
    """

    code = 2099
    fault = "local"

    def __init__(self, code: int, name: str, message: str, data: object = None) -> None:
        super().__init__(message, remote=data)
        self.remote_code = code
        self.remote_name = name
        self.remote_data = data

    @classmethod
    def from_map(cls, error: object) -> RemoteError:
        """The error of a response or notification (any shape: servers can be wrong)."""
        if not isinstance(error, dict):
            return cls(1000, "NpcAiError", f"malformed error from the server: {error!r}")
        code = error.get("code")
        return cls(
            code if type(code) is int else 1000,
            str(error.get("name", "NpcAiError")),
            str(error.get("message", "")),
            error.get("data"),
        )

    def to_dict(self) -> dict[str, object]:
        return {
            "code": self.remote_code,
            "name": self.remote_name,
            "message": self.message,
            "data": self.remote_data,
        }
