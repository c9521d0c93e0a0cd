"""Opening the memory database: schema, journal mode, checks, and SQLite errors as ours.

Private to :mod:`npc_ai.memory.store`.
"""

from __future__ import annotations

import logging
import sqlite3

from npc_ai.errors import MemoryStoreError

__all__ = ["SCHEMA_VERSION", "open_database", "sqlite_failure"]

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
"""The database schema this version writes (``PRAGMA user_version``) and the newest it opens."""
_APPLICATION_ID = 0x4E50434D  # "NPCM" in the SQLite header: marks the file as ours
_SCHEMA = (
    """CREATE TABLE npc (
        npc TEXT PRIMARY KEY NOT NULL,
        next_id INTEGER NOT NULL,
        turn INTEGER NOT NULL,
        relationship REAL NOT NULL,
        summary TEXT NOT NULL,
        summary_until INTEGER NOT NULL,
        extra BLOB NOT NULL
    )""",
    """CREATE TABLE memory (
        npc TEXT NOT NULL,
        id INTEGER NOT NULL,
        kind TEXT NOT NULL,
        text TEXT NOT NULL,
        speaker TEXT NOT NULL,
        turn INTEGER NOT NULL,
        time REAL NOT NULL,
        key TEXT NOT NULL,
        source TEXT NOT NULL,
        importance REAL NOT NULL,
        PRIMARY KEY (npc, id)
    )""",
    "CREATE INDEX memory_npc_kind ON memory (npc, kind, id)",
)


def open_database(
    path: str, *, synchronous: str, busy_timeout: float, check_on_open: bool
) -> sqlite3.Connection:
    """Open (creating if empty) an npc-ai memory database, or raise MemoryStoreError."""
    try:
        conn = sqlite3.connect(
            path,
            timeout=busy_timeout,
            isolation_level=None,  # transactions are explicit: BEGIN IMMEDIATE ... COMMIT
            check_same_thread=False,  # one connection for all threads, behind the store's lock
        )
    except sqlite3.Error as exc:
        raise MemoryStoreError(
            f"cannot open the memory database {path}: {exc} (does its folder exist "
            "and can this program write there?)",
            path=path,
        ) from None
    try:
        _set_up(conn, path, synchronous=synchronous, check_on_open=check_on_open)
    except sqlite3.Error as exc:
        conn.close()
        raise sqlite_failure(exc, path, "open it", busy_timeout) from None
    except BaseException:
        conn.close()
        raise
    return conn


def _set_up(conn: sqlite3.Connection, path: str, *, synchronous: str, check_on_open: bool) -> None:
    version = conn.execute("PRAGMA user_version").fetchone()[0]  # fails on a non-database
    app_id = conn.execute("PRAGMA application_id").fetchone()[0]
    tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
    if tables and app_id != _APPLICATION_ID:
        raise MemoryStoreError(
            f"{path} is an SQLite database but not an npc-ai memory database; "
            "give the memory store a file of its own",
            path=path,
        )
    if version > SCHEMA_VERSION:
        raise MemoryStoreError(
            f"{path} was written by a newer npc-ai (memory database schema {version}); "
            f"this version opens up to {SCHEMA_VERSION}. Update npc-ai.",
            path=path,
            version=version,
            supported=SCHEMA_VERSION,
        )
    # WAL: readers never block the writer, and a commit is one append to the -wal file.
    # synchronous=NORMAL in WAL mode does not fsync at commit, but the append has been
    # handed to the OS before COMMIT returns, and the OS keeps it if the process dies
    # (SIGKILL, crash): no committed memory is lost. Only a power cut or OS crash can drop
    # the newest commits (never corrupting the file); "full" pays a flush per commit for
    # that. tests/test_memory_store.py kills a writer with SIGKILL to check this.
    mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
    if mode not in ("wal", "memory"):  # "memory": a ":memory:" database keeps no file
        logger.warning("memory database %s stays in %s journal mode, not WAL", path, mode)
    conn.execute(f"PRAGMA synchronous={synchronous.upper()}")
    if check_on_open and tables:
        problems = [row[0] for row in conn.execute("PRAGMA quick_check(5)")]
        if problems != ["ok"]:
            raise MemoryStoreError(
                f"the memory database {path} is damaged ({'; '.join(problems)}); "
                "restore it from a backup or a save, or delete it to start empty",
                path=path,
            )
    if version < SCHEMA_VERSION:
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Another process may have created the schema while this one waited.
            if conn.execute("PRAGMA user_version").fetchone()[0] == 0:
                for statement in _SCHEMA:
                    conn.execute(statement)
                conn.execute(f"PRAGMA application_id={_APPLICATION_ID}")
                conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise


def sqlite_failure(
    exc: sqlite3.Error, path: str, doing: str, busy_timeout: float
) -> MemoryStoreError:
    """A MemoryStoreError for an SQLite error met while ``doing`` something to ``path``."""
    text = str(exc)
    if "locked" in text or "busy" in text:
        hint = f"another connection held it for more than {busy_timeout} s; try again"
    elif isinstance(exc, sqlite3.OperationalError) and "readonly" in text.replace("-", ""):
        hint = "the file or its folder is read-only"
    elif "disk is full" in text:
        hint = "the disk is full; free some space and try again (nothing was written)"
    elif isinstance(exc, sqlite3.DatabaseError):
        hint = (
            "the file is damaged or not an SQLite database; restore it from a backup or a "
            "save, or delete it to start empty"
        )
    else:
        hint = "see the SQLite message"
    return MemoryStoreError(
        f"memory database {path}: could not {doing}: {text} ({hint})",
        path=path,
        sqlite_error=type(exc).__name__,
    )
