"""Save slots: the world and the NPCs' memory, together in one versioned file.

A slot is a JSON file::

    {"game": "thornvale", "version": 1, "saved_at": "2025-...",
     "world": {...World.snapshot()...}, "npc_memory": "<base64 of Runtime.export_memory()>"}

``version`` is the save format. This build reads the formats in :data:`READERS`; a file
from an older build whose format it no longer reads, or from a newer build, is refused
with a message saying so, as is a damaged or unreadable file. Nothing is changed until the
whole file has been read and checked (the game then loads the memory blob, which is
checked again by npc-ai before it replaces anything, and then the world).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["GAME", "READERS", "SAVE_VERSION", "SaveData", "SaveError", "read_save", "write_save"]

GAME = "thornvale"
#: The save format this build writes.
SAVE_VERSION = 1
#: Largest save file read (a world and a few thousand memories take well under 1 MiB).
MAX_SAVE_BYTES = 48 * 1024 * 1024


class SaveError(Exception):
    """A save that cannot be read or written; the message says which and why."""


@dataclass(frozen=True, slots=True)
class SaveData:
    """What a slot holds: the world (as :meth:`World.snapshot` gave it) and the memory blob."""

    world: Mapping[str, Any]
    npc_memory: bytes
    saved_at: str = ""


def write_save(path: Path, world: Mapping[str, Any], npc_memory: bytes) -> None:
    """Write a slot (whole or not at all: a new file replaces the old one in one step)."""
    data = {
        "game": GAME,
        "version": SAVE_VERSION,
        "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "world": dict(world),
        "npc_memory": base64.b64encode(npc_memory).decode("ascii"),
    }
    temp = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temp.write_text(json.dumps(data, indent=1), encoding="utf-8")
        os.replace(temp, path)
    except OSError as exc:
        raise SaveError(f"cannot write the save {path}: {exc.strerror or exc}") from exc


def read_save(path: Path) -> SaveData:
    """Read and check a slot; a :class:`SaveError` says what is wrong with it."""
    try:
        if path.stat().st_size > MAX_SAVE_BYTES:
            raise SaveError(f"the save {path} is too large to be a Thornvale save")
        raw = path.read_bytes()
    except FileNotFoundError:
        raise SaveError(f"there is no save in {path} yet (F5 saves)") from None
    except OSError as exc:
        raise SaveError(f"cannot read the save {path}: {exc.strerror or exc}") from exc
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise SaveError(
            f"the save {path} is damaged (not readable JSON); nothing was loaded"
        ) from None
    if not isinstance(data, dict) or data.get("game") != GAME:
        raise SaveError(f"{path} is not a Thornvale save; nothing was loaded")
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise SaveError(f"the save {path} has no format version; nothing was loaded")
    reader = READERS.get(version)
    if reader is None:
        if version > SAVE_VERSION:
            raise SaveError(
                f"the save {path} was made by a newer Thornvale (save format {version}); "
                f"this build reads formats up to {SAVE_VERSION}"
            )
        raise SaveError(
            f"the save {path} was made by an older Thornvale (save format {version}), "
            f"which this build no longer reads (it reads {', '.join(map(str, READERS))}); "
            "start a new game and save again"
        )
    try:
        return reader(data)
    except SaveError as exc:
        raise SaveError(f"the save {path} is damaged: {exc}; nothing was loaded") from None


def _read_v1(data: Mapping[str, Any]) -> SaveData:
    world = data.get("world")
    if not isinstance(world, dict):
        raise SaveError("'world' is missing")
    blob = data.get("npc_memory")
    if not isinstance(blob, str):
        raise SaveError("'npc_memory' is missing")
    try:
        memory = base64.b64decode(blob.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise SaveError("'npc_memory' is not base64") from None
    saved_at = data.get("saved_at", "")
    return SaveData(world, memory, saved_at if isinstance(saved_at, str) else "")


#: A reader for each save format this build loads (keep one for every format still out there).
READERS: dict[int, Callable[[Mapping[str, Any]], SaveData]] = {1: _read_v1}
