"""Per-NPC memory in one SQLite file, with save blobs for the game's save slots.

A :class:`MemoryStore` keeps, for each NPC, its memories (what it heard, said, learned and
summarised; see :mod:`npc_ai.memory.records`) and its :class:`NpcState`. Every write is one
transaction; a process killed at any moment leaves every committed write in the file. One
connection serves all threads, guarded by a lock, so NPCs on several threads may write at once.
Several stores (or processes) may open the same file; a writer waits up to
``StoreOptions.busy_timeout`` seconds for another's write to finish.

:meth:`MemoryStore.export` turns some or all NPCs into a versioned blob (see
:mod:`npc_ai.memory.blob`) for a save slot, and :meth:`MemoryStore.import_` loads one back,
replacing those NPCs' memories and state in one transaction, so loading an older save rolls NPC
memory back with the world. ``docs/SAVES.md`` shows the pattern.

Example::

    with MemoryStore("saves/memory.sqlite3") as store:
        store.add("smith", [NewMemory(kind="heard", text="I'm Ada.", speaker="player", turn=1)])
        store.add("smith", [NewMemory(kind="fact", text="The player is Ada.", key="player.name")])
        store.facts("smith")["player.name"].text   # 'The player is Ada.'
        slot = store.export()                      # bytes for the save file
        store.import_(slot)                        # later: load that save again
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from npc_ai.errors import InputError, MemoryStoreError
from npc_ai.memory._sqlite import SCHEMA_VERSION, open_database, sqlite_failure
from npc_ai.memory.blob import NpcRows, decode, encode
from npc_ai.memory.records import (
    KINDS,
    Memory,
    NewMemory,
    NpcState,
    Row,
    check_extra,
    check_npc,
    check_row,
    check_state,
    memory_row,
    row_memory,
    unpack_extra,
)

__all__ = [
    "SCHEMA_VERSION",
    "Memory",
    "MemoryStore",
    "NewMemory",
    "NpcState",
    "StoreOptions",
]

logger = logging.getLogger(__name__)

_STATE_FIELDS = ("turn", "relationship", "summary", "summary_until", "extra")
_ROW = "id, kind, text, speaker, turn, time, key, source, importance"  # records.Row order
_INSERT = f"INSERT INTO memory (npc, {_ROW}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreOptions:
    """How a :class:`MemoryStore` uses its database file.

    ``synchronous``: ``"normal"`` (default) keeps every committed write when the process is
    killed, and may lose the last moments of writes (never corrupt the file) if the machine
    loses power; ``"full"`` also survives power loss, at one disk flush per write.
    ``busy_timeout``: seconds a write waits for another connection's write to finish.
    ``check_on_open``: run SQLite's ``quick_check`` when a file is opened, so a damaged file is
    reported at once rather than at some later read (about 7 ms per MB of database on the
    benchmark VM; see docs/BENCHMARKS.md).
    """

    synchronous: str = "normal"
    busy_timeout: float = 5.0
    check_on_open: bool = True


class MemoryStore:
    """Per-NPC memories and state in SQLite; ``path`` is a file or ``":memory:"``.

    The caller chooses where the file lives (next to the game's saves, usually). All methods
    are thread-safe. Errors: :class:`~npc_ai.errors.InputError` for bad arguments (nothing is
    written), :class:`~npc_ai.errors.MemoryStoreError` when the database cannot be used,
    :class:`~npc_ai.errors.MemoryFormatError` for a bad save blob.
    """

    def __init__(
        self, path: str | os.PathLike[str] = ":memory:", *, options: StoreOptions | None = None
    ) -> None:
        self._options = options if options is not None else StoreOptions()
        if self._options.synchronous not in ("normal", "full"):
            raise InputError(
                f"synchronous must be 'normal' or 'full', not {self._options.synchronous!r}"
            )
        if not self._options.busy_timeout >= 0:
            raise InputError(f"busy_timeout must be >= 0, not {self._options.busy_timeout}")
        self._path = os.fspath(path)
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = open_database(
            self._path,
            synchronous=self._options.synchronous,
            busy_timeout=self._options.busy_timeout,
            check_on_open=self._options.check_on_open,
        )
        logger.debug("memory store %s open", self._path)

    def __repr__(self) -> str:
        state = "closed" if self._conn is None else "open"
        return f"MemoryStore({self._path!r}, {state})"

    @property
    def path(self) -> str:
        """The database path this store was opened with."""
        return self._path

    # -- plumbing --------------------------------------------------------------------------

    def _failure(self, exc: sqlite3.Error, doing: str) -> MemoryStoreError:
        return sqlite_failure(exc, self._path, doing, self._options.busy_timeout)

    def _live(self) -> sqlite3.Connection:
        if self._conn is None:
            raise MemoryStoreError(f"memory store {self._path} is closed", path=self._path)
        return self._conn

    @contextmanager
    def _transaction(self, doing: str, *, write: bool = True) -> Iterator[sqlite3.Connection]:
        """One transaction under the lock; any failure rolls it back whole."""
        with self._lock:
            conn = self._live()
            try:
                conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                yield conn
                conn.execute("COMMIT")
            except BaseException as exc:
                if conn.in_transaction:
                    try:
                        conn.execute("ROLLBACK")
                    except sqlite3.Error:
                        logger.warning("rollback failed on %s", self._path, exc_info=True)
                if isinstance(exc, sqlite3.Error):
                    raise self._failure(exc, doing) from None
                raise

    @contextmanager
    def _reading(self, doing: str) -> Iterator[sqlite3.Connection]:
        """A single read statement under the lock (it is its own transaction)."""
        with self._lock:
            conn = self._live()
            try:
                yield conn
            except sqlite3.Error as exc:
                raise self._failure(exc, doing) from None

    def _state_row(self, conn: sqlite3.Connection, npc: str) -> tuple[NpcState, int] | None:
        row = conn.execute(
            "SELECT next_id, turn, relationship, summary, summary_until, extra "
            "FROM npc WHERE npc = ?",
            (npc,),
        ).fetchone()
        if row is None:
            return None
        next_id, turn, relationship, summary, summary_until, extra = row
        try:
            extra_map = unpack_extra(bytes(extra))
        except ValueError as exc:
            raise MemoryStoreError(
                f"memory database {self._path}: the stored extra map of {npc!r} is damaged ({exc})",
                path=self._path,
            ) from None
        state = NpcState(
            npc=npc,
            turn=turn,
            relationship=float(relationship),
            summary=summary,
            summary_until=summary_until,
            extra=extra_map,
        )
        return state, next_id

    @staticmethod
    def _write_state(conn: sqlite3.Connection, state: NpcState, next_id: int) -> None:
        _, extra = check_extra(state.extra)
        conn.execute(
            "INSERT OR REPLACE INTO npc "
            "(npc, next_id, turn, relationship, summary, summary_until, extra) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                state.npc,
                next_id,
                state.turn,
                state.relationship,
                state.summary,
                state.summary_until,
                extra,
            ),
        )

    @staticmethod
    def _kinds(kinds: Collection[str] | None) -> tuple[str, ...] | None:
        if kinds is None:
            return None
        if isinstance(kinds, str) or not isinstance(kinds, Collection):
            raise InputError(f"kinds must be a collection such as {{'fact'}}, not {kinds!r}")
        unknown = [k for k in kinds if k not in KINDS]
        if unknown:
            raise InputError(f"unknown memory kinds {unknown!r}; the kinds are {KINDS}")
        return tuple(dict.fromkeys(kinds))

    @staticmethod
    def _count_arg(value: object, name: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InputError(f"{name} must be an integer >= 0, not {value!r}")
        return value

    # -- memories --------------------------------------------------------------------------

    def add(self, npc: str, records: Sequence[NewMemory]) -> list[Memory]:
        """Store ``records`` for ``npc`` in one transaction; return them with their ids.

        Ids continue the NPC's numbering. Every record is checked first: one bad record raises
        :class:`~npc_ai.errors.InputError` (naming its position) and nothing is written.
        """
        npc = check_npc(npc)
        if isinstance(records, (str, NewMemory)) or not isinstance(records, Sequence):
            raise InputError("records must be a sequence of NewMemory (a list, even for one)")
        checked: list[Row] = []
        for position, record in enumerate(records):
            try:
                if not isinstance(record, NewMemory):
                    raise InputError(f"expected a NewMemory, not {type(record).__name__}")
                checked.append(check_row(memory_row(record, 0)))
            except InputError as exc:
                raise InputError(f"record {position}: {exc.message}") from None
        if not checked:
            return []
        with self._transaction("add memories") as conn:
            row = conn.execute("SELECT next_id FROM npc WHERE npc = ?", (npc,)).fetchone()
            if row is None:
                next_id = 1
                self._write_state(conn, NpcState(npc=npc), next_id)
            else:
                next_id = row[0]
            rows: list[Row] = [(next_id + i, *row[1:]) for i, row in enumerate(checked)]
            conn.executemany(_INSERT, [(npc, *row) for row in rows])
            conn.execute("UPDATE npc SET next_id = ? WHERE npc = ?", (next_id + len(rows), npc))
        return [row_memory(npc, row) for row in rows]

    def memories(
        self,
        npc: str,
        *,
        kinds: Collection[str] | None = None,
        after_id: int = 0,
        limit: int | None = None,
        newest: bool = False,
    ) -> list[Memory]:
        """Memories of ``npc`` with id > ``after_id`` (of ``kinds`` if given), oldest first.

        ``limit`` caps the count: the oldest ``limit`` ones, or with ``newest=True`` the newest
        ``limit`` ones (still returned oldest first: the last N turns, in order).
        """
        npc = check_npc(npc)
        wanted = self._kinds(kinds)
        after_id = self._count_arg(after_id, "after_id")
        if limit is not None:
            limit = self._count_arg(limit, "limit")
        if wanted == ():
            return []
        sql = f"SELECT {_ROW} FROM memory WHERE npc = ? AND id > ?"
        args: list[Any] = [npc, after_id]
        if wanted is not None:
            sql += f" AND kind IN ({', '.join('?' * len(wanted))})"
            args.extend(wanted)
        sql += " ORDER BY id DESC" if newest else " ORDER BY id"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        with self._reading("read memories") as conn:
            rows = conn.execute(sql, args).fetchall()
        if newest:
            rows.reverse()
        return [row_memory(npc, row) for row in rows]

    def count(self, npc: str, *, kinds: Collection[str] | None = None, after_id: int = 0) -> int:
        """How many memories :meth:`memories` would return without a limit."""
        npc = check_npc(npc)
        wanted = self._kinds(kinds)
        after_id = self._count_arg(after_id, "after_id")
        if wanted == ():
            return 0
        sql = "SELECT count(*) FROM memory WHERE npc = ? AND id > ?"
        args: list[Any] = [npc, after_id]
        if wanted is not None:
            sql += f" AND kind IN ({', '.join('?' * len(wanted))})"
            args.extend(wanted)
        with self._reading("count memories") as conn:
            return int(conn.execute(sql, args).fetchone()[0])

    def facts(self, npc: str) -> dict[str, Memory]:
        """The newest fact of ``npc`` for each ``key``, in the order those facts were learned.

        Facts with an empty ``key`` cannot supersede one another and are not included: read
        them with ``memories(npc, kinds={"fact"})``, which also keeps the superseded ones.
        """
        npc = check_npc(npc)
        with self._reading("read facts") as conn:
            rows = conn.execute(
                f"SELECT {_ROW} FROM memory WHERE npc = ? AND kind = 'fact' AND key != '' "
                "ORDER BY id",
                (npc,),
            ).fetchall()
        latest: dict[str, Memory] = {}
        for row in rows:
            memory = row_memory(npc, row)
            latest.pop(memory.key, None)  # re-insert so the order is that of the newest
            latest[memory.key] = memory
        return latest

    def forget(self, npc: str, ids: Collection[int]) -> int:
        """Delete these memories of ``npc`` (ids it does not have are ignored); return how many.

        Ids are never reused, so a summary's ``summary_until`` stays meaningful.
        """
        npc = check_npc(npc)
        if isinstance(ids, (str, bytes)) or not isinstance(ids, Collection):
            raise InputError(f"ids must be a collection of memory ids, not {ids!r}")
        wanted = [self._count_arg(i, "a memory id") for i in ids]
        if not wanted:
            return 0
        with self._transaction("forget memories") as conn:
            before = conn.total_changes
            conn.executemany(
                "DELETE FROM memory WHERE npc = ? AND id = ?", [(npc, i) for i in set(wanted)]
            )
            return conn.total_changes - before

    # -- state -----------------------------------------------------------------------------

    def state(self, npc: str) -> NpcState:
        """The state of ``npc``; an all-default one for an NPC the store does not know."""
        npc = check_npc(npc)
        with self._reading("read NPC state") as conn:
            found = self._state_row(conn, npc)
        return NpcState(npc=npc) if found is None else found[0]

    def update_state(self, npc: str, /, **changes: Any) -> NpcState:
        """Change fields of ``npc``'s state in one transaction; return the new state.

        Fields: ``turn``, ``relationship`` (clamped to -1..1), ``summary``, ``summary_until``
        (at most the NPC's newest memory id), ``extra`` (replaces the whole map). An unknown
        field or bad value raises :class:`~npc_ai.errors.InputError` and changes nothing.
        """
        npc = check_npc(npc)
        unknown = sorted(set(changes) - set(_STATE_FIELDS))
        if unknown:
            raise InputError(
                f"NpcState has no field(s) {', '.join(unknown)}; "
                f"update_state takes {', '.join(_STATE_FIELDS)}"
            )
        with self._transaction("update NPC state") as conn:
            found = self._state_row(conn, npc)
            state, next_id = (NpcState(npc=npc), 1) if found is None else found
            if not changes:
                return state
            values = {name: getattr(state, name) for name in _STATE_FIELDS}
            values.update(changes)
            new = check_state(NpcState(npc=npc, **values), npc, next_id)
            self._write_state(conn, new, next_id)
        return new

    # -- NPCs, saves -----------------------------------------------------------------------

    def npcs(self) -> list[str]:
        """Every NPC with memories or state in the store, sorted."""
        with self._reading("list NPCs") as conn:
            return [row[0] for row in conn.execute("SELECT npc FROM npc ORDER BY npc")]

    def clear(self, npc: str | None = None) -> None:
        """Forget one NPC entirely (memories, state, id numbering), or every NPC if ``None``."""
        target = None if npc is None else check_npc(npc)
        with self._transaction("clear memories") as conn:
            if target is None:
                conn.execute("DELETE FROM memory")
                conn.execute("DELETE FROM npc")
            else:
                conn.execute("DELETE FROM memory WHERE npc = ?", (target,))
                conn.execute("DELETE FROM npc WHERE npc = ?", (target,))

    def export(self, npcs: Collection[str] | None = None) -> bytes:
        """A save blob of these NPCs (every known NPC if ``None``), read as one snapshot.

        An NPC the store does not know is saved as empty, so loading the save empties it
        (it had not met anyone yet at save time).
        """
        if npcs is not None and (isinstance(npcs, str) or not isinstance(npcs, Collection)):
            raise InputError(f"npcs must be a collection of NPC ids, not {npcs!r}")
        wanted = None if npcs is None else list(dict.fromkeys(check_npc(n) for n in npcs))
        saved: list[NpcRows] = []
        try:
            with self._transaction("export memories", write=False) as conn:
                if wanted is None:
                    wanted = [row[0] for row in conn.execute("SELECT npc FROM npc ORDER BY npc")]
                for npc in wanted:
                    found = self._state_row(conn, npc)
                    state, next_id = (NpcState(npc=npc), 1) if found is None else found
                    rows = conn.execute(
                        f"SELECT {_ROW} FROM memory WHERE npc = ? ORDER BY id", (npc,)
                    ).fetchall()
                    # Checked again: a file edited by hand must not make a save that won't load.
                    rows = [check_row(row) for row in rows]
                    state = check_state(state, npc, next_id)
                    saved.append(NpcRows(state=state, next_id=next_id, rows=rows))
            return encode(saved)
        except InputError as exc:
            raise MemoryStoreError(
                f"memory database {self._path} holds a record that cannot be saved: {exc.message}",
                path=self._path,
            ) from None

    def import_(
        self, blob: bytes, *, replace: bool = True, clear_others: bool = False
    ) -> list[str]:
        """Load a save blob in one transaction; return the ids of the NPCs loaded.

        ``replace=True``: each NPC in the blob gets exactly the blob's memories, state and id
        numbering; what the store had for it is dropped (loading a save rolls memory back).
        ``replace=False``: NPCs the store already knows are left alone and only the others are
        loaded (e.g. starting memories for NPCs the game has not met yet).
        ``clear_others=True``: also forget every NPC that is not in the blob, for a save that
        holds the whole world. A damaged or newer blob raises
        :class:`~npc_ai.errors.MemoryFormatError` before anything is changed.
        """
        saved = decode(blob)
        loaded: list[str] = []
        with self._transaction("import a save") as conn:
            if clear_others:
                names = {s.state.npc for s in saved}
                others = [
                    row[0] for row in conn.execute("SELECT npc FROM npc") if row[0] not in names
                ]
                conn.executemany("DELETE FROM memory WHERE npc = ?", [(n,) for n in others])
                conn.executemany("DELETE FROM npc WHERE npc = ?", [(n,) for n in others])
            for item in saved:
                npc = item.state.npc
                known = conn.execute("SELECT 1 FROM npc WHERE npc = ?", (npc,)).fetchone()
                if known and not replace:
                    continue
                conn.execute("DELETE FROM memory WHERE npc = ?", (npc,))
                conn.execute("DELETE FROM npc WHERE npc = ?", (npc,))
                loaded.append(npc)
                if item.next_id == 1 and item.state == NpcState(npc=npc):
                    continue  # saved before it knew anything: unknown again
                self._write_state(conn, item.state, item.next_id)
                conn.executemany(_INSERT, [(npc, *row) for row in item.rows])
        logger.debug("imported %d NPCs into %s", len(loaded), self._path)
        return loaded

    # -- lifetime --------------------------------------------------------------------------

    def close(self) -> None:
        """Close the database (idempotent). Later calls raise MemoryStoreError."""
        with self._lock:
            if self._conn is not None:
                try:
                    self._conn.close()
                finally:
                    self._conn = None

    def __enter__(self) -> MemoryStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
