"""KV-cache slots of the batched llama.cpp engine: which conversation holds which sequence.

A :class:`Slot` is one llama.cpp sequence and the prompt segments it holds; :class:`Active`
is the reply running in it. :func:`free_slot` picks the slot a new job runs in, and
:func:`hold` makes that slot hold the longest start of the job's prompt already cached,
its own or copied from another slot (same persona, shared lore), so only the rest is read.

With ``partial``, :func:`hold` also keeps the start of the first segment that differs, token
by token, from what the slot's own sequence holds after its common segments: the tokens the
NPC generated last time (its reply is the start of the next turn's new segment) or a
segment read after them (a structured reply's choice prompt, which starts with the reply
too). Those tokens were computed in other batches than a fresh read would put them in, so
a seed no longer reproduces a reply bit for bit; the synchronous generator leaves it off.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from npc_ai.backends._choice import ChoiceWalk
from npc_ai.backends._prefer import PreferWalk
from npc_ai.engine import Job

__all__ = [
    "Active",
    "Slot",
    "Tokens",
    "common",
    "common_tokens",
    "free_slot",
    "hold",
    "tokens_in",
]

log = logging.getLogger(__name__)

Tokens = tuple[int, ...]


@dataclass(slots=True, eq=False)
class Slot:
    seq: int
    key: object = None
    segments: list[Tokens] = field(default_factory=list)
    n_past: int = 0  # tokens in this sequence: segments, then tail
    #: The tokens after ``segments``: a segment being read, or generated and fed ones.
    tail: list[int] = field(default_factory=list)
    job: Active | None = None
    last_used: int = 0


@dataclass(slots=True, eq=False)
class Active:
    job: Job
    slot: Slot
    todo: list[Tokens]
    sampler: Any
    decoder: Any
    todo_offset: int = 0
    served: int = 0  # steps that read a chunk of its prompt (fairness among equals)
    generated: int = 0
    pending: int | None = None  # sampled, not yet decoded
    has_content: bool = False
    walk: ChoiceWalk | None = None  # a choice job's place among its options
    feed: list[int] = field(default_factory=list)  # choice tokens taken, not yet decoded
    prefer: PreferWalk | None = None  # SamplingParams.prefer, until a word is out (then None)
    ban_ids: np.ndarray[Any, np.dtype[np.int32]] | None = None  # SamplingParams.ban_first


def free_slot(slots: list[Slot], job: Job) -> Slot | None:
    """The slot for ``job``: its conversation's own if free, else the least recently used."""
    free = [s for s in slots if s.job is None]
    if not free:
        return None
    for slot in free:
        if slot.key == job.key:
            return slot
    # Another conversation's slot: the least recently used one.
    return min(free, key=lambda s: s.last_used)


def hold(
    ll: Any,
    mem: Any,
    slots: list[Slot],
    slot: Slot,
    key: object,
    segments: list[Tokens],
    reusable: int,
    *,
    partial: bool = False,
) -> tuple[int, int]:
    """Make ``slot`` hold the longest start of ``segments`` cached in any slot, at most
    ``reusable`` whole segments, for conversation ``key``. Return how many whole segments it
    holds, and (with ``partial``) how many tokens of the next one: fewer than all of it, so
    that segment is still read (for the logits of its last token)."""
    same = common(slot.segments, segments, reusable) if slot.key == key else 0
    # A longer shared start in another slot (same persona, shared lore)
    # is copied instead of read.
    donor, donor_same = None, same
    for other in slots:
        if other is not slot:
            n = common(other.segments, segments, reusable)
            if n > donor_same:
                donor, donor_same = other, n
    if donor is not None:
        keep = tokens_in(segments[:donor_same])
        ll.llama_memory_seq_rm(mem, slot.seq, 0, -1)
        # Between the streams of a non-unified cache llama.cpp copies only
        # whole sequences; the tail is cut off below.
        ll.llama_memory_seq_cp(mem, donor.seq, slot.seq, 0, -1)
        slot.n_past = donor.n_past
        slot.segments, same = list(donor.segments[:donor_same]), donor_same
        slot.tail = []
        log.debug("slot %d: copied %d tokens from slot %d", slot.seq, keep, donor.seq)
    more = 0
    if partial and donor is None and slot.key == key and same < len(segments):
        after = [t for s in slot.segments[same:] for t in s] + slot.tail
        more = min(common_tokens(after, segments[same]), len(segments[same]) - 1)
    keep = tokens_in(segments[:same]) + more
    if (keep < slot.n_past or donor is not None) and not ll.llama_memory_seq_rm(
        mem, slot.seq, keep, -1
    ):
        ll.llama_memory_seq_rm(mem, slot.seq, 0, -1)
        same = keep = more = 0
    del slot.segments[same:]
    slot.tail = list(segments[same][:more]) if more else []
    slot.n_past = keep
    slot.key = key
    return same, more


def common_tokens(have: Sequence[int], want: Sequence[int]) -> int:
    """How many tokens two sequences share from their start."""
    n = 0
    for a, b in zip(have, want, strict=False):
        if a != b:
            break
        n += 1
    return n


def common(have: list[Tokens], want: list[Tokens], limit: int) -> int:
    n = 0
    while n < limit and n < len(have) and have[n] == want[n]:
        n += 1
    return n


def tokens_in(segments: list[Tokens]) -> int:
    return sum(len(s) for s in segments)
