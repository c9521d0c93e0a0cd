"""The model cache on disk: where it is, sha256 hashing with progress, and the stamps that
spare a re-hash.

The lowest layer of :mod:`npc_ai.models`: the resolver of manifest models
(:mod:`npc_ai.models.packaged`) and the builder of derived ones (:mod:`npc_ai.models.derived`)
both use it, and it imports neither.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import secrets
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

__all__ = ["CHUNK", "Progress", "Stamps", "cache_dir", "cache_dir_in", "hash_file", "mib"]

logger = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]
"""Called as ``progress(label, bytes_done, bytes_total)`` while a file is copied or hashed."""

CHUNK = 1 << 20
"""Bytes read at a time when hashing or copying a model file."""

_STAMP_VERSION = 1


def cache_dir_in(env: Mapping[str, str]) -> Path:
    """:func:`cache_dir` as ``env`` (an environment mapping) sets it."""
    if env.get("NPC_AI_CACHE_DIR"):
        return Path(env["NPC_AI_CACHE_DIR"]).expanduser()
    if env.get("XDG_CACHE_HOME"):
        return Path(env["XDG_CACHE_HOME"]).expanduser() / "npc-ai"
    return Path.home() / ".cache" / "npc-ai"


def cache_dir() -> Path:
    """Where assembled models and stamps live: ``$NPC_AI_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/npc-ai``, else ``~/.cache/npc-ai``. Not created here."""
    return cache_dir_in(os.environ)


def mib(size: int) -> str:
    """``size`` bytes as ``"12.3 MiB"``, for messages."""
    return f"{size / (1 << 20):.1f} MiB"


def hash_file(path: Path, label: str, total: int, progress: Progress | None) -> str:
    """The sha256 of ``path`` as hex, reporting ``progress(label, done, total)`` as it reads."""
    digest = hashlib.sha256()
    buffer = bytearray(CHUNK)
    view = memoryview(buffer)
    done = 0
    if progress is not None:
        progress(label, 0, total)
    with path.open("rb") as handle:
        while count := handle.readinto(buffer):
            digest.update(view[:count])
            done += count
            if progress is not None:
                progress(label, done, total)
    return digest.hexdigest()


class Stamps:
    """(size, mtime_ns, sha256) of files hashed before, kept in one JSON file per model."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._dirty = False
        self._files: dict[str, Any] = {}
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        if isinstance(raw, dict) and raw.get("version") == _STAMP_VERSION:
            files = raw.get("files")
            self._files = files if isinstance(files, dict) else {}

    @classmethod
    def of(cls, name: str, env: Mapping[str, str] | None = None) -> Stamps:
        """The stamps of model ``name`` in the cache (``env``: the environment to read)."""
        root = cache_dir_in(os.environ if env is None else env)
        return cls(root / "stamps" / f"{name}.json")

    def matches(self, path: Path, sha256: str) -> bool:
        """True when ``path`` has the size and mtime it had when it hashed to ``sha256``."""
        entry = self._files.get(str(path.absolute()))
        try:
            stat = path.stat()
        except OSError:
            return False
        return isinstance(entry, dict) and entry == {
            "size": stat.st_size,
            "mtime_ns": stat.st_mtime_ns,
            "sha256": sha256,
        }

    def record(self, path: Path, sha256: str, before: os.stat_result) -> None:
        """Remember ``path`` as hashed, unless it changed while it was being hashed."""
        try:
            after = path.stat()
        except OSError:
            return
        if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns):
            return
        key = str(path.absolute())
        self._files[key] = {"size": after.st_size, "mtime_ns": after.st_mtime_ns, "sha256": sha256}
        self._dirty = True

    def save(self) -> None:
        """Write the stamps if they changed (a failure only costs a re-hash next time)."""
        if not self._dirty:
            return
        payload = json.dumps({"version": _STAMP_VERSION, "files": self._files}, indent=1)
        temp = self._path.with_name(f".{self._path.name}.{os.getpid()}-{secrets.token_hex(4)}")
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            temp.write_text(payload, encoding="utf-8")
            os.replace(temp, self._path)
            self._dirty = False
        except OSError as exc:
            logger.warning("could not save model stamps %s: %s", self._path, exc)
            with contextlib.suppress(OSError):
                temp.unlink()
