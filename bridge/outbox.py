"""One client's outgoing queue: bounded by merging, never by dropping what matters."""

from __future__ import annotations

from collections import deque
from typing import Any

from bridge.protocol import Message, Notification, pack

__all__ = ["Outbox"]


class Outbox:
    """One client's outgoing messages, bounded by merging rather than dropping.

    ``npc.delta`` of a stream still waiting in the queue absorbs the next
    delta of that stream; a waiting ``subtitle.partial`` is replaced by a
    newer one of its segment. Everything else is kept in order. ``size``
    estimates the queued bytes.
    """

    def __init__(self) -> None:
        self._queue: deque[list[Any]] = deque()  # [message, framed bytes, merge key]
        self._waiting: dict[tuple[Any, ...], list[Any]] = {}
        self.size = 0
        self.merged = 0

    def __len__(self) -> int:
        return len(self._queue)

    def put(self, message: Message, data: bytes | None = None) -> None:
        """Queue a message (``data``: its framed bytes, when already packed)."""
        key = _merge_key(message)
        if key is not None:
            entry = self._waiting.get(key)
            if entry is not None:
                old: Notification = entry[0]
                assert isinstance(message, Notification)
                if key[0] == "delta":
                    params = {**old.params, "text": old.params["text"] + message.params["text"]}
                    merged = Notification(old.method, params)
                else:
                    merged = message
                data = pack(merged)
                self.size += len(data) - len(entry[1])
                entry[0], entry[1] = merged, data
                self.merged += 1
                return
        data = data if data is not None else pack(message)  # the writer sends these bytes
        entry = [message, data, key]
        self._queue.append(entry)
        self.size += len(data)
        if key is not None:
            self._waiting[key] = entry

    def pop(self) -> tuple[Message, bytes] | None:
        """The oldest message and its framed bytes."""
        if not self._queue:
            return None
        message, data, key = self._queue.popleft()
        self.size -= len(data)
        if key is not None:
            self._waiting.pop(key, None)
        return message, data


def _merge_key(message: Message) -> tuple[Any, ...] | None:
    if isinstance(message, Notification):
        if message.method == "npc.delta":
            return ("delta", message.params.get("stream"))
        if message.method == "subtitle.partial":
            return ("partial", message.params.get("session"), message.params.get("segment"))
    return None
