"""The bridge's codec with no I/O: frames and MessagePack-RPC payloads, every decode bounded.

A frame is a 4-byte little-endian unsigned length, then a MessagePack payload.
:func:`pack` turns a message into the bytes to write; :class:`FrameDecoder` checks
every length prefix against the frame limit before buffering the payload, and
:func:`decode` unpacks each whole frame with ``msgpack.unpackb`` (whose limits
are sized by the frame) and checks its shape. Import them from :mod:`bridge.protocol`.
"""

from __future__ import annotations

import struct
from typing import Any

import msgpack

from bridge.errors import (
    BadMessageError,
    BadParamsError,
    ConnectionDeadError,
    FrameError,
    MalformedMessageError,
)
from bridge.messages import (
    MAX_MSGID,
    NOTIFICATION,
    REQUEST,
    RESPONSE,
    Message,
    Notification,
    Request,
    Response,
)

__all__ = ["FrameDecoder", "decode", "encode", "frame", "pack"]

_HEADER = struct.Struct("<I")


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
    return type(value) is int and 0 <= value <= MAX_MSGID


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
