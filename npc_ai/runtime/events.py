"""What the runtime hands the game: reply events, and a handle per reply."""

from __future__ import annotations

import concurrent.futures
import itertools
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from npc_ai.errors import NpcAiError

if TYPE_CHECKING:
    from npc_ai.dialogue.structured import StructuredReply

__all__ = ["Event", "ReplyDelta", "ReplyDone", "ReplyError", "ReplyHandle"]


@dataclass(frozen=True, slots=True)
class ReplyDelta:
    """More text of a reply. Pieces of one reply add up to its final text."""

    npc: str
    reply: int
    text: str


@dataclass(frozen=True, slots=True)
class ReplyDone:
    """A reply ended; ``finish_reason`` as in :class:`npc_ai.dialogue.npc.Reply`.

    For an NPC with ``DialogueOptions(structured=True)``, ``structured`` holds
    the line with its emotion and action (always among the persona's own).
    """

    npc: str
    reply: int
    text: str
    finish_reason: str
    structured: StructuredReply | None = None


@dataclass(frozen=True, slots=True)
class ReplyError:
    """A reply failed; the NPC keeps working and can be spoken to again."""

    npc: str
    reply: int
    error: NpcAiError


Event = ReplyDelta | ReplyDone | ReplyError

_reply_ids = itertools.count(1)


class ReplyHandle:
    """A reply on its way. Its state changes only inside :meth:`Runtime.update`.

    ``text`` is what has been delivered so far; ``future`` resolves with the
    final text (``await handle`` works in asyncio code).
    """

    def __init__(
        self,
        cancel: Callable[[int], None],
        npc: str,
        on_delta: Callable[[ReplyDelta], object] | None,
        on_done: Callable[[ReplyDone], object] | None,
        on_error: Callable[[ReplyError], object] | None,
    ) -> None:
        self.id = next(_reply_ids)
        self.npc = npc
        self.text = ""
        self.finish_reason: str | None = None
        self.future: concurrent.futures.Future[str] = concurrent.futures.Future()
        self._cancel = cancel
        self._callbacks = (on_delta, on_done, on_error)

    @property
    def done(self) -> bool:
        return self.finish_reason is not None

    def cancel(self) -> None:
        """Stop this reply within one model step; what was said stays said."""
        self._cancel(self.id)

    def deliver(self, event: Event) -> None:
        """Apply ``event`` to this handle and run its callback (on the game thread)."""
        on_delta, on_done, on_error = self._callbacks
        if isinstance(event, ReplyDelta):
            self.text += event.text
            if on_delta is not None:
                on_delta(event)
        elif isinstance(event, ReplyDone):
            self.text, self.finish_reason = event.text, event.finish_reason
            if on_done is not None:
                on_done(event)
        else:
            self.finish_reason = "error"
            if on_error is not None:
                on_error(event)

    def __await__(self) -> Generator[Any, None, str]:
        import asyncio  # only asyncio code awaits a handle: a game loop need not load it

        return asyncio.wrap_future(self.future).__await__()
