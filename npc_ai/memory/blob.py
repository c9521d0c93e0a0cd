"""NPC memory save blobs: pure functions from saved NPCs to bytes and back, no I/O.

A blob is one msgpack array, ``[FORMAT_NAME, version, codec, body]``. The first two items are
the same in every version, forever: a reader checks the name, then the version, and only then
reads the rest the way that version lays it out. A blob from a newer version is refused with a
:class:`~npc_ai.errors.MemoryFormatError` naming both versions; every older version keeps a
reader here (``tests/data/memory_v1.blob`` is loaded by the tests to hold that promise).

Version 1: ``codec`` is 0 (``body`` as is) or 1 (``body`` zlib-compressed, chosen by
:func:`dump_state` only when that is smaller). ``body`` is a msgpack array of NPCs, each
``[npc, next_id, turn, relationship, summary, summary_until, extra, memories]`` (``extra`` is
the packed msgpack map as bin), and ``memories`` an array of
``[id step, kind, text, speaker, turn step, time, key, source, importance]``: ``id step`` and
``turn step`` are differences from the previous memory of that NPC (from 0 for the first),
``kind`` the index in :data:`~npc_ai.memory.records.KINDS`, and whole-number floats are
written as integers. Arrays rather than maps keep records small.

Decoding is bounded: at most :data:`MAX_BLOB_BYTES` in and after decompression,
:data:`MAX_BLOB_NPCS` NPCs, :data:`MAX_BLOB_MEMORIES` memories and
:data:`MAX_BLOB_EXTRA_ITEMS` items in ``extra`` maps, strings and bins no longer
than the record limits, and the body is walked item by item with no nested arrays or maps allowed
where a scalar belongs. The worst a hostile blob can do is make :func:`load_state` hold about
160 MB while it checks (500,000 minimal memories; measured with tracemalloc). Any damage gives
:class:`~npc_ai.errors.MemoryFormatError`.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import msgpack

from npc_ai.errors import InputError, MemoryFormatError
from npc_ai.memory.records import (
    KINDS,
    MAX_EXTRA_BYTES,
    MAX_SUMMARY_CHARS,
    MAX_TEXT_CHARS,
    Memory,
    NpcState,
    Row,
    check_extra,
    check_npc,
    check_row,
    check_state,
    extra_items,
    memory_row,
    row_memory,
    unpack_extra,
)

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "MAX_BLOB_BYTES",
    "MAX_BLOB_EXTRA_ITEMS",
    "MAX_BLOB_MEMORIES",
    "MAX_BLOB_NPCS",
    "SavedNpc",
    "blob_version",
    "dump_state",
    "load_state",
]

FORMAT_NAME = "npc-ai/memory"
"""The name every memory blob starts with."""
FORMAT_VERSION = 1
"""The version :func:`dump_state` writes and the newest one :func:`load_state` reads."""
MAX_BLOB_BYTES = 32 * 1024 * 1024
"""Largest blob, and largest body after decompression, that :func:`load_state` accepts."""
MAX_BLOB_NPCS = 10_000
"""Most NPCs in one blob."""
MAX_BLOB_MEMORIES = 500_000
"""Most memories in one blob, over all its NPCs."""
MAX_BLOB_EXTRA_ITEMS = 100_000
"""Most keys, values and containers in the ``extra`` maps of one blob, over all its NPCs."""

_CODEC_RAW = 0
_CODEC_ZLIB = 1
_COMPRESS_FROM = 256  # below this many body bytes zlib never pays for its header
# Level 3: on 4,000 memories (340 KB) 1.4-4.4x faster than level 6 over nine runs, for 10%
# more bytes (tools/bench_memory_store.py).
_ZLIB_LEVEL = 3
_NPC_FIELDS = 8
_MEMORY_FIELDS = 9
_MAX_ID = (1 << 63) - 1  # SQLite INTEGER
_MAX_STR_BYTES = 4 * max(MAX_TEXT_CHARS, MAX_SUMMARY_CHARS)  # UTF-8 of the longest string


@dataclass(frozen=True, slots=True, kw_only=True)
class SavedNpc:
    """One NPC in a save: its state, its memories (oldest first) and the id its next gets.

    ``next_id`` keeps ids from being reused after a load: it is past every id the NPC has given
    out, including memories that were forgotten before the save.
    """

    state: NpcState
    memories: tuple[Memory, ...] = ()
    next_id: int = 1


def _small(number: float) -> float | int:
    """A whole-number float as an int (1 byte instead of 9); -0.0 stays a float."""
    if number.is_integer() and abs(number) < 2**53 and math.copysign(1.0, number) > 0:
        return int(number)
    return number


@dataclass(frozen=True, slots=True)
class NpcRows:
    """One NPC as the store moves it in and out of blobs: no Memory objects, only rows."""

    state: NpcState
    next_id: int
    rows: Sequence[Row]


def _check_ids(npc: str, rows: Sequence[Row], next_id: int) -> None:
    if type(next_id) is not int or not 1 <= next_id <= _MAX_ID:
        raise InputError(f"next_id of {npc!r} must be a positive integer, not {next_id!r}")
    last = 0
    for row in rows:
        id_ = row[0]
        if type(id_) is not int or not last < id_ < next_id:
            raise InputError(
                f"memory ids of {npc!r} must increase and stay below next_id {next_id}; "
                f"{id_!r} follows {last}"
            )
        last = id_


def encode(npcs: Iterable[NpcRows]) -> bytes:
    """Encode NPCs whose rows and state are already checked (ids are checked here)."""
    seen: set[str] = set()
    total = items = 0
    body_npcs: list[list[Any]] = []
    for item in npcs:
        state = item.state
        if state.npc in seen:
            raise InputError(f"NPC {state.npc!r} appears twice")
        seen.add(state.npc)
        _check_ids(state.npc, item.rows, item.next_id)
        total += len(item.rows)
        extra_map, extra_bytes = check_extra(state.extra)
        items += extra_items(extra_map)
        if len(seen) > MAX_BLOB_NPCS or total > MAX_BLOB_MEMORIES or items > MAX_BLOB_EXTRA_ITEMS:
            raise InputError(
                f"a save holds at most {MAX_BLOB_NPCS} NPCs, {MAX_BLOB_MEMORIES} memories and "
                f"{MAX_BLOB_EXTRA_ITEMS} items in extra maps; save fewer NPCs at once, or "
                "forget or summarise old memories"
            )
        memories: list[list[Any]] = []
        last_id = last_turn = 0
        for id_, kind, text, speaker, turn, time, key, source, importance in item.rows:
            memories.append(
                [
                    id_ - last_id,
                    KINDS.index(kind),
                    text,
                    speaker,
                    turn - last_turn,
                    _small(time),
                    key,
                    source,
                    _small(importance),
                ]
            )
            last_id, last_turn = id_, turn
        body_npcs.append(
            [
                state.npc,
                item.next_id,
                state.turn,
                _small(state.relationship),
                state.summary,
                state.summary_until,
                extra_bytes,
                memories,
            ]
        )
    body: bytes = msgpack.packb(body_npcs, use_bin_type=True)
    codec = _CODEC_RAW
    if len(body) >= _COMPRESS_FROM:
        packed = zlib.compress(body, _ZLIB_LEVEL)
        if len(packed) < len(body):
            codec, body = _CODEC_ZLIB, packed
    if len(body) > MAX_BLOB_BYTES:
        raise InputError(
            f"the save would be {len(body)} bytes, over the {MAX_BLOB_BYTES}-byte limit; "
            "forget or summarise old memories"
        )
    blob: bytes = msgpack.packb([FORMAT_NAME, FORMAT_VERSION, codec, body], use_bin_type=True)
    return blob


def dump_state(npcs: Sequence[SavedNpc]) -> bytes:
    """Encode saved NPCs as a blob of the current :data:`FORMAT_VERSION`.

    Every record is checked as the store checks it, so whatever this returns loads again.
    Raises :class:`~npc_ai.errors.InputError` on a bad record or an NPC given twice.
    """
    if isinstance(npcs, (str, bytes)) or not isinstance(npcs, Sequence):
        raise InputError("npcs must be a sequence of SavedNpc")
    checked: list[NpcRows] = []
    for saved in npcs:
        if not isinstance(saved, SavedNpc):
            raise InputError(f"expected a SavedNpc, not {type(saved).__name__}")
        npc = check_npc(saved.state.npc)
        rows: list[Row] = []
        for memory in saved.memories:
            if not isinstance(memory, Memory):
                raise InputError(f"expected a Memory, not {type(memory).__name__}")
            if memory.npc != npc:
                raise InputError(f"memory {memory.id} belongs to {memory.npc!r}, not {npc!r}")
            rows.append(check_row(memory_row(memory, memory.id)))
        _check_ids(npc, rows, saved.next_id)
        state = check_state(saved.state, npc, saved.next_id)
        checked.append(NpcRows(state=state, next_id=saved.next_id, rows=rows))
    return encode(checked)


def _unpacker(data: bytes) -> msgpack.Unpacker:
    # No arrays, maps or ext values may be built by unpack(): structure is only ever read
    # with read_array_header(), so every object created is a checked scalar.
    unpacker = msgpack.Unpacker(
        raw=False,
        max_buffer_size=max(len(data), 1),
        max_array_len=0,
        max_map_len=0,
        max_ext_len=0,
        max_str_len=_MAX_STR_BYTES,
        max_bin_len=MAX_BLOB_BYTES,
    )
    unpacker.feed(data)
    return unpacker


def _expect(value: object, kind: type | tuple[type, ...], what: str) -> Any:
    if isinstance(value, bool) or not isinstance(value, kind):
        raise MemoryFormatError(f"memory save is damaged: {what} has the wrong type")
    return value


def blob_version(blob: bytes) -> int:
    """The format version a blob says it has, without loading it (MemoryFormatError if none)."""
    return _read_header(blob)[1]


def _read_header(blob: object) -> tuple[msgpack.Unpacker, int, int, int]:
    if not isinstance(blob, (bytes, bytearray, memoryview)):
        raise MemoryFormatError(f"a memory save must be bytes, not {type(blob).__name__}")
    data = bytes(blob)
    if len(data) > MAX_BLOB_BYTES:
        raise MemoryFormatError(
            f"memory save is {len(data)} bytes, over the {MAX_BLOB_BYTES}-byte limit"
        )
    unpacker = _unpacker(data)
    try:
        count = unpacker.read_array_header()
        name = unpacker.unpack() if count >= 2 else None
    except (ValueError, msgpack.UnpackException):
        name = None
    if name != FORMAT_NAME:
        raise MemoryFormatError(
            "not an npc-ai memory save (it does not start with the format name)"
        ) from None
    try:
        version = unpacker.unpack()
    except (ValueError, msgpack.UnpackException):
        version = None
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise MemoryFormatError("memory save is damaged: its format version is unreadable")
    if version > FORMAT_VERSION:
        raise MemoryFormatError(
            f"saved by a newer npc-ai (memory format {version}); this version reads up to "
            f"{FORMAT_VERSION}. Update npc-ai to load it.",
            version=version,
            supported=FORMAT_VERSION,
        )
    return unpacker, version, count, len(data)


def decode(blob: bytes) -> list[NpcRows]:
    """Decode and fully check a blob of any version up to :data:`FORMAT_VERSION`.

    Raises :class:`~npc_ai.errors.MemoryFormatError` and nothing else on bad input.
    """
    unpacker, version, count, size = _read_header(blob)
    try:
        if version == 1:
            return _load_v1(unpacker, count, size)
        raise MemoryFormatError(f"memory format {version} has no reader")  # pragma: no cover
    except MemoryFormatError:
        raise
    except InputError as exc:
        raise MemoryFormatError(f"memory save is damaged: {exc.message}") from None
    except (ValueError, msgpack.UnpackException) as exc:
        raise MemoryFormatError(f"memory save is damaged or truncated ({exc})") from None


def load_state(blob: bytes) -> list[SavedNpc]:
    """Decode a blob of any version up to :data:`FORMAT_VERSION` into saved NPCs.

    Raises :class:`~npc_ai.errors.MemoryFormatError` for anything that is not a complete,
    valid save (truncated, bit-flipped, another kind of data, a newer version), never another
    error, and never returns part of a damaged save.
    """
    return [
        SavedNpc(
            state=item.state,
            memories=tuple(row_memory(item.state.npc, row) for row in item.rows),
            next_id=item.next_id,
        )
        for item in decode(blob)
    ]


def _load_v1(unpacker: msgpack.Unpacker, count: int, size: int) -> list[NpcRows]:
    if count != 4:
        raise MemoryFormatError(f"memory save is damaged: {count} top-level items, not 4")
    codec = _expect(unpacker.unpack(), int, "the codec")
    body = _expect(unpacker.unpack(), bytes, "the body")
    if unpacker.tell() != size:
        raise MemoryFormatError("memory save is damaged: bytes follow its end")
    if codec == _CODEC_ZLIB:
        body = _inflate(body)
    elif codec != _CODEC_RAW:
        raise MemoryFormatError(f"memory save is damaged: unknown codec {codec}")
    return _read_body_v1(body)


def _inflate(data: bytes) -> bytes:
    inflater = zlib.decompressobj()
    try:
        body = inflater.decompress(data, MAX_BLOB_BYTES + 1)
    except zlib.error as exc:
        raise MemoryFormatError(f"memory save is damaged: {exc}") from None
    if len(body) > MAX_BLOB_BYTES:
        raise MemoryFormatError(f"memory save expands past the {MAX_BLOB_BYTES}-byte limit")
    if not inflater.eof or inflater.unused_data:
        raise MemoryFormatError("memory save is damaged: its compressed body is cut or padded")
    return body


def _read_body_v1(body: bytes) -> list[NpcRows]:
    unpacker = _unpacker(body)
    out: list[NpcRows] = []
    seen: set[str] = set()
    budget, items = MAX_BLOB_MEMORIES, 0
    npcs = unpacker.read_array_header()
    if npcs > MAX_BLOB_NPCS:
        raise MemoryFormatError(f"memory save is damaged: it claims {npcs} NPCs")
    for _ in range(npcs):
        if unpacker.read_array_header() != _NPC_FIELDS:
            raise MemoryFormatError("memory save is damaged: an NPC record has the wrong size")
        npc = check_npc(_expect(unpacker.unpack(), str, "an NPC id"))
        if npc in seen:
            raise MemoryFormatError(f"memory save is damaged: NPC {npc!r} appears twice")
        seen.add(npc)
        next_id = _expect(unpacker.unpack(), int, f"next_id of {npc!r}")
        turn = _expect(unpacker.unpack(), int, f"turn of {npc!r}")
        relationship = _expect(unpacker.unpack(), (int, float), f"relationship of {npc!r}")
        summary = _expect(unpacker.unpack(), str, f"summary of {npc!r}")
        summary_until = _expect(unpacker.unpack(), int, f"summary_until of {npc!r}")
        extra_bytes = _expect(unpacker.unpack(), bytes, f"extra of {npc!r}")
        if len(extra_bytes) > MAX_EXTRA_BYTES:
            raise MemoryFormatError(f"memory save is damaged: extra of {npc!r} is too large")
        if not 1 <= next_id <= _MAX_ID:
            raise MemoryFormatError(f"memory save is damaged: next_id of {npc!r} is {next_id}")
        extra = unpack_extra(extra_bytes)
        items += extra_items(extra)
        if items > MAX_BLOB_EXTRA_ITEMS:
            raise MemoryFormatError(
                f"memory save holds more than {MAX_BLOB_EXTRA_ITEMS} items in extra maps; "
                "this version refuses it"
            )
        state = check_state(
            NpcState(
                npc=npc,
                turn=turn,
                relationship=float(relationship),
                summary=summary,
                summary_until=summary_until,
                extra=extra,
            ),
            npc,
            next_id,
        )
        rows = _read_memories_v1(unpacker, npc, next_id, budget)
        budget -= len(rows)
        out.append(NpcRows(state=state, next_id=next_id, rows=rows))
    if unpacker.tell() != len(body):
        raise MemoryFormatError("memory save is damaged: bytes follow the last NPC")
    return out


def _read_memories_v1(unpacker: msgpack.Unpacker, npc: str, next_id: int, budget: int) -> list[Row]:
    rows: list[Row] = []
    last_id = last_turn = 0
    read, header = unpacker.unpack, unpacker.read_array_header
    count = header()
    if count > budget:
        raise MemoryFormatError(
            f"memory save holds more than {MAX_BLOB_MEMORIES} memories; this version refuses it"
        )
    for _ in range(count):
        if header() != _MEMORY_FIELDS:
            raise MemoryFormatError(f"memory save is damaged: a memory of {npc!r} is malformed")
        step, kind, text, speaker = read(), read(), read(), read()
        turn_step, time, key, source, importance = read(), read(), read(), read(), read()
        # msgpack gives exact types (a bool is not an int here); check_row checks the rest
        if type(step) is not int or type(kind) is not int or type(turn_step) is not int:
            raise MemoryFormatError(f"memory save is damaged: a memory of {npc!r} is malformed")
        if type(time) not in (int, float) or type(importance) not in (int, float):
            raise MemoryFormatError(f"memory save is damaged: a memory of {npc!r} is malformed")
        id_ = last_id + step
        if id_ <= last_id or id_ >= next_id:
            raise MemoryFormatError(
                f"memory save is damaged: memory ids of {npc!r} do not increase below {next_id}"
            )
        if not 0 <= kind < len(KINDS):
            raise MemoryFormatError(f"memory save is damaged: unknown memory kind {kind}")
        turn = last_turn + turn_step
        row = (id_, KINDS[kind], text, speaker, turn, float(time), key, source, float(importance))
        rows.append(check_row(row))
        last_id, last_turn = id_, turn
    return rows
