"""NPC memory records and the checks every write and every loaded save goes through.

:class:`NewMemory` is what a caller writes, :class:`Memory` what the store hands back (the same
fields plus the NPC and a store-assigned ``id``), :class:`NpcState` the per-NPC scalars (turn
counter, relationship, rolling summary, a small ``extra`` map).

Constructing a record directly does not check it; :class:`~npc_ai.memory.store.MemoryStore`
checks on every write and :func:`~npc_ai.memory.blob.load_state` on every load, both with the
functions here, so a record that was stored can always be saved and loaded again.

``id`` counts per NPC: each NPC's memories are numbered 1, 2, 3, ... in the order they were
added, never reused (forgetting memory 7 does not free 7), and a save carries the numbering, so
an NPC's ids survive export and import unchanged. ``(npc, id)`` is unique in a store, ``id``
alone is not.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgpack

from npc_ai.errors import InputError

__all__ = [
    "KINDS",
    "MAX_EXTRA_BYTES",
    "MAX_ID_CHARS",
    "MAX_SUMMARY_CHARS",
    "MAX_TEXT_CHARS",
    "Memory",
    "NewMemory",
    "NpcState",
    "Row",
    "check_extra",
    "check_memory",
    "check_npc",
    "check_row",
    "check_state",
    "extra_items",
    "memory_row",
    "pack_extra",
    "row_memory",
    "unpack_extra",
]

KINDS: tuple[str, ...] = ("heard", "said", "fact", "summary")
"""The memory kinds, in the order save blobs number them (do not reorder)."""
MAX_TEXT_CHARS = 8000
"""Longest ``text`` of one memory, in characters."""
MAX_SUMMARY_CHARS = 16000
"""Longest rolling ``summary`` of an :class:`NpcState`, in characters."""
MAX_ID_CHARS = 100
"""Longest NPC id, ``speaker``, ``key``, or id inside ``source``, in characters."""
MAX_EXTRA_BYTES = 64 * 1024
"""Largest ``extra`` map of an :class:`NpcState`, in msgpack bytes."""

_MAX_INT = (1 << 63) - 1  # SQLite INTEGER

Row = tuple[int, str, str, str, int, float, str, str, float]
"""A memory without its NPC, as the store and blobs move it: ``(id, kind, text, speaker, turn,
time, key, source, importance)``."""
_SOURCE_PREFIXES = ("told:", "earshot:")


@dataclass(frozen=True, slots=True, kw_only=True)
class NewMemory:
    """One thing an NPC heard, said, learned or summarised, as the caller writes it.

    ``kind`` is one of :data:`KINDS`. ``speaker`` is ``"player"``, another NPC's id, or ``""``
    (facts, summaries). ``turn`` is the NPC's turn counter and ``time`` the game time in
    seconds, both supplied by the caller. ``key`` names a fact (``"player.name"``): a newer fact
    with the same key supersedes older ones in :meth:`MemoryStore.facts`. ``source`` is ``""``
    (first-hand), ``"told:<npc id>"`` or ``"earshot:<npc id>"``. ``importance`` is any finite
    number the retrieval layer gives meaning to.
    """

    kind: str
    text: str
    speaker: str = ""
    turn: int = 0
    time: float = 0.0
    key: str = ""
    source: str = ""
    importance: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Memory(NewMemory):
    """A stored memory: every :class:`NewMemory` field, the NPC it belongs to and its ``id``.

    ``id`` increases with each memory of that NPC (see the module notes). A ``Memory`` is also
    a ``NewMemory``, so it can be written to another NPC (gossip) and gets a new id there.
    """

    id: int
    npc: str


@dataclass(frozen=True, slots=True, kw_only=True)
class NpcState:
    """The per-NPC scalars kept next to its memories.

    ``turn``: turns taken so far. ``relationship``: -1 (hostile) to 1 (friendly), clamped on
    write. ``summary``: the rolling summary of older turns; ``summary_until``: the memory id up
    to which it covers (0: none). ``extra``: a small msgpack-able map with string keys for the
    game or the memory layer (at most :data:`MAX_EXTRA_BYTES` packed; tuples come back as
    lists). The store hands out a fresh copy, so changing it changes nothing stored.
    """

    npc: str
    turn: int = 0
    relationship: float = 0.0
    summary: str = ""
    summary_until: int = 0
    extra: Mapping[str, Any] = field(default_factory=dict)


def _text(value: object, name: str, limit: int) -> str:
    if type(value) is str and len(value) <= limit and value.isascii():
        return value  # the common case, checked in C
    if not isinstance(value, str):
        raise InputError(f"{name} must be a string, not {type(value).__name__}")
    if len(value) > limit:
        raise InputError(f"{name} is {len(value)} characters long; the limit is {limit}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InputError(f"{name} contains a lone surrogate, which cannot be stored") from None
    return value


def _ident(value: object, name: str, *, empty: bool) -> str:
    # str.isprintable() is False for control, format, surrogate, private-use, unassigned,
    # line-separator and non-ASCII space characters: one C call covers them all.
    if (
        type(value) is str
        and len(value) <= MAX_ID_CHARS
        and value.isprintable()
        and value.strip() == value
        and (value or empty)
    ):
        return value
    text = _text(value, name, MAX_ID_CHARS)
    if not text:
        raise InputError(f"{name} must not be empty")
    raise InputError(
        f"{name} {text!r} must be one line of printable characters without leading or "
        "trailing spaces"
    )


def _int(value: object, name: str) -> int:
    if type(value) is int and 0 <= value <= _MAX_INT:
        return value
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(f"{name} must be an integer, not {type(value).__name__}")
    if not 0 <= value <= _MAX_INT:
        raise InputError(f"{name} must be 0 to 2**63-1, not {value}")
    return int(value)


def _float(value: object, name: str) -> float:
    if type(value) is float and math.isfinite(value):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(f"{name} must be a number, not {type(value).__name__}")
    number = float(value)
    if not math.isfinite(number):
        raise InputError(f"{name} must be a finite number, not {value}")
    return number


def check_npc(npc: object) -> str:
    """Return ``npc`` if it is a usable NPC id (non-empty, one line, short), else InputError."""
    return _ident(npc, "NPC id", empty=False)


def check_row(row: Sequence[Any]) -> Row:
    """Check the fields of a memory given as a :data:`Row`; return them normalised.

    The id (first item) is passed through unchecked: its caller numbers it. Raises
    :class:`~npc_ai.errors.InputError` naming the field at fault.
    """
    id_, kind, text, speaker, turn, time, key, source, importance = row
    if kind not in KINDS:
        raise InputError(f"kind must be one of {', '.join(KINDS)}; not {kind!r}")
    text = _text(text, "text", MAX_TEXT_CHARS)
    if not text.strip():
        raise InputError("text must not be empty")
    if source:
        source = _text(source, "source", MAX_ID_CHARS + 8)
        prefix = next((p for p in _SOURCE_PREFIXES if source.startswith(p)), None)
        if prefix is None:
            raise InputError(
                f"source must be '', 'told:<npc id>' or 'earshot:<npc id>'; not {source!r}"
            )
        _ident(source[len(prefix) :], "the NPC id in source", empty=False)
    else:
        source = _text(source, "source", 0)
    return (
        id_,
        kind,
        text,
        _ident(speaker, "speaker", empty=True),
        _int(turn, "turn"),
        _float(time, "time"),
        _ident(key, "key", empty=True),
        source,
        _float(importance, "importance"),
    )


def memory_row(record: NewMemory, id: int) -> Row:
    """``record``'s fields as a :data:`Row` with this ``id`` (unchecked)."""
    return (
        id,
        record.kind,
        record.text,
        record.speaker,
        record.turn,
        record.time,
        record.key,
        record.source,
        record.importance,
    )


def row_memory(npc: str, row: Row) -> Memory:
    """The :class:`Memory` of ``npc`` a checked :data:`Row` describes."""
    id_, kind, text, speaker, turn, time, key, source, importance = row
    return Memory(
        id=id_,
        npc=npc,
        kind=kind,
        text=text,
        speaker=speaker,
        turn=turn,
        time=time,
        key=key,
        source=source,
        importance=importance,
    )


def check_memory(record: object, npc: str, id: int) -> Memory:
    """Check one record and return it as the :class:`Memory` ``id`` of ``npc``.

    ``record`` is a :class:`NewMemory` (or a :class:`Memory`, whose own ``id``/``npc`` are
    ignored). Raises :class:`~npc_ai.errors.InputError` naming the field at fault.
    """
    if not isinstance(record, NewMemory):
        raise InputError(f"expected a NewMemory record, not {type(record).__name__}")
    return row_memory(npc, check_row(memory_row(record, id)))


def pack_extra(extra: Mapping[str, Any]) -> bytes:
    """Pack an ``extra`` map to msgpack bytes (no checks: use :func:`check_extra` first)."""
    return msgpack.packb(dict(extra), use_bin_type=True)  # type: ignore[no-any-return]


def unpack_extra(data: bytes) -> dict[str, Any]:
    """Unpack an ``extra`` map; ``ValueError`` if it is not a map with string keys."""
    if len(data) > MAX_EXTRA_BYTES:
        raise ValueError(f"extra is {len(data)} bytes; the limit is {MAX_EXTRA_BYTES}")
    # unpackb sizes its limits from the input, which is capped above; no ext types or
    # timestamps, so every value is a plain Python one.
    try:
        value = msgpack.unpackb(data, raw=False, strict_map_key=True, max_ext_len=0, timestamp=0)
    except (ValueError, msgpack.UnpackException) as exc:
        raise ValueError(f"extra is not valid msgpack ({exc})") from None
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise ValueError("extra is not a map with string keys")
    return value


def extra_items(extra: Mapping[str, Any]) -> int:
    """How many keys, values and containers ``extra`` holds, counted all the way down."""
    count = 0
    stack: list[Any] = [extra]
    while stack:
        value = stack.pop()
        count += 1
        if isinstance(value, Mapping):
            count += len(value)  # the keys
            stack.extend(value.values())
        elif isinstance(value, (list, tuple)):
            stack.extend(value)
    return count


def check_extra(extra: object) -> tuple[dict[str, Any], bytes]:
    """Check an ``extra`` map; return its stored form (a fresh dict) and its msgpack bytes."""
    if not isinstance(extra, Mapping):
        raise InputError(f"extra must be a mapping, not {type(extra).__name__}")
    if not all(isinstance(k, str) for k in extra):
        raise InputError("extra must have string keys")
    try:
        data = pack_extra(extra)
        return unpack_extra(data), data
    except (TypeError, ValueError, OverflowError) as exc:
        raise InputError(f"extra must hold only msgpack-able values: {exc}") from None


def check_state(state: object, npc: str, next_id: int) -> NpcState:
    """Check every field of an :class:`NpcState` for ``npc``; return it with numbers normalised.

    ``summary_until`` may not pass the last id the NPC has given out (``next_id - 1``).
    Relationship is clamped to -1..1. Raises :class:`~npc_ai.errors.InputError`.
    """
    if not isinstance(state, NpcState):
        raise InputError(f"expected an NpcState, not {type(state).__name__}")
    if state.npc != npc:
        raise InputError(f"state is for NPC {state.npc!r}, not {npc!r}")
    summary_until = _int(state.summary_until, "summary_until")
    if summary_until >= next_id:
        raise InputError(
            f"summary_until {summary_until} is past the last memory id of {npc!r} ({next_id - 1})"
        )
    extra, _ = check_extra(state.extra)
    return NpcState(
        npc=npc,
        turn=_int(state.turn, "turn"),
        relationship=min(1.0, max(-1.0, _float(state.relationship, "relationship"))),
        summary=_text(state.summary, "summary", MAX_SUMMARY_CHARS),
        summary_until=summary_until,
        extra=extra,
    )
