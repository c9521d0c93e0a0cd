"""Default models: the manifest, the resolver and the verified cache.

Models come from PyPI packages or from the user's own files; nothing is downloaded at run time.
``models/manifest.toml`` (shipped as ``npc_ai/data/manifest.toml``) names each model's files,
their sha256 and how to build them from the installed packages.

:func:`resolve_model` looks in this order and the first hit wins:

1. the ``path`` argument: the user's own file, checked for shape only (GGUF magic bytes, or a
   Whisper directory with ``model.bin`` and ``config.json``), not against the manifest digest;
2. the environment variable ``NPC_AI_MODEL_<NAME>`` (for example ``NPC_AI_MODEL_GEMMA3_270M``),
   checked the same way;
3. a models directory, ``$NPC_AI_MODELS_DIR`` or else the ``models/`` folder of the source
   checkout this package runs from: ``<dir>/<name>/<file>``, sha256-verified;
4. the cache, ``cache_dir()/models/<name>/``, filled once from the installed packages (written
   under a temporary name and renamed only once its sha256 matches);
5. otherwise :class:`~npc_ai.errors.ModelNotFoundError`, with the ``pip install`` command.

A verified file is remembered in a stamp (size, mtime_ns, sha256), so later calls only ``stat``
it; a stamp that no longer matches forces a re-hash, and a damaged cached file is rebuilt.
:func:`verify_model` ignores the stamps and re-hashes everything.

Example::

    from npc_ai.models.cache import resolve_model

    gguf = resolve_model("gemma3-270m")          # Path to the .gguf file
    whisper_dir = resolve_model("whisper-tiny.en")  # directory for faster-whisper
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import logging
import os
import secrets
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from npc_ai.errors import ModelChecksumError, ModelError, ModelNotFoundError
from npc_ai.models import manifest as _manifest
from npc_ai.models.manifest import FilePart, ModelFile, ModelSpec, load_manifest

__all__ = [
    "FilePart",
    "ModelFile",
    "ModelSpec",
    "ModelStatus",
    "Progress",
    "cache_dir",
    "load_manifest",
    "model_status",
    "resolve_model",
    "verify_model",
]

logger = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]
"""Called as ``progress(label, bytes_done, bytes_total)`` while a file is copied or hashed."""

Source = Literal["env", "models-dir", "cache", "package", "missing", "broken"]

_GGUF_MAGIC = b"GGUF"
_WHISPER_REQUIRED = ("model.bin", "config.json")
_CHUNK = 1 << 20
_STALE_TEMP_SECONDS = 3600.0
_STAMP_VERSION = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelStatus:
    """Where a model would resolve from right now, found without assembling or hashing."""

    name: str
    source: Source
    """``env``, ``models-dir``, ``cache``, ``package`` (installed, not yet assembled),
    ``missing`` or ``broken`` (present but unusable; ``detail`` says why)."""
    path: Path | None
    verified: bool
    """True when every file matches a stamp of an earlier full hash."""
    detail: str

    @property
    def available(self) -> bool:
        """True when :func:`resolve_model` is expected to succeed."""
        return self.source not in ("missing", "broken")


# -- locations --------------------------------------------------------------------------------


def _cache_dir(env: Mapping[str, str]) -> Path:
    if env.get("NPC_AI_CACHE_DIR"):
        return Path(env["NPC_AI_CACHE_DIR"]).expanduser()
    if env.get("XDG_CACHE_HOME"):
        return Path(env["XDG_CACHE_HOME"]).expanduser() / "npc-ai"
    return Path.home() / ".cache" / "npc-ai"


def cache_dir() -> Path:
    """Where assembled models and stamps live: ``$NPC_AI_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/npc-ai``, else ``~/.cache/npc-ai``. Not created here."""
    return _cache_dir(os.environ)


def _checkout_models_dir() -> Path | None:
    """``<checkout>/models`` when the manifest in use lives in a source checkout."""
    # Looked up on the module, not imported, so that load_manifest and this function always
    # see the same manifest, even when a test replaces _manifest._manifest_resource.
    resource = _manifest._manifest_resource()
    if not isinstance(resource, Path):
        return None
    root = resource.absolute().parents[2]  # <root>/npc_ai/data/manifest.toml
    if (root / "pyproject.toml").is_file() and (root / "models" / "manifest.toml").is_file():
        return root / "models"
    return None


def _part_path(part: FilePart) -> Path | None:
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


def _installed_parts(file: ModelFile) -> list[tuple[FilePart, Path]] | None:
    located = [(part, _part_path(part)) for part in file.parts]
    if any(path is None for _, path in located):
        return None
    return [(part, path) for part, path in located if path is not None]


def _entry(spec: ModelSpec, directory: Path) -> Path:
    return directory / spec.files[0].name if spec.kind == "gguf" else directory


def _mib(size: int) -> str:
    return f"{size / (1 << 20):.1f} MiB"


# -- hashing and stamps -----------------------------------------------------------------------


def _hash_file(path: Path, label: str, total: int, progress: Progress | None) -> str:
    digest = hashlib.sha256()
    buffer = bytearray(_CHUNK)
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


class _Stamps:
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

    def matches(self, path: Path, sha256: str) -> bool:
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
            # Only costs a re-hash next time; not worth failing the caller for.
            logger.warning("could not save model stamps %s: %s", self._path, exc)
            with contextlib.suppress(OSError):
                temp.unlink()


# -- the resolver -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Resolver:
    manifest: Mapping[str, ModelSpec]
    env: Mapping[str, str]
    checkout_models_dir: Path | None

    @classmethod
    def current(cls) -> _Resolver:
        return cls(load_manifest(), os.environ, _checkout_models_dir())

    def spec(self, name: str) -> ModelSpec:
        try:
            return self.manifest[name]
        except KeyError:
            known = sorted(self.manifest)
            raise ModelError(
                f"unknown model {name!r}; known models: {', '.join(known)}", model=name, known=known
            ) from None

    def models_dir(self) -> Path | None:
        value = self.env.get("NPC_AI_MODELS_DIR")
        return Path(value).expanduser() if value else self.checkout_models_dir

    def cache_target(self, spec: ModelSpec) -> Path:
        return _cache_dir(self.env) / "models" / spec.name

    def stamps(self, spec: ModelSpec) -> _Stamps:
        return _Stamps(_cache_dir(self.env) / "stamps" / f"{spec.name}.json")

    def resolve(
        self, name: str, path: str | os.PathLike[str] | None, progress: Progress | None, full: bool
    ) -> Path:
        spec = self.spec(name)
        if path is not None:
            return _check_own(spec, Path(path), "the path argument")
        if self.env.get(spec.env_var):
            return _check_own(spec, Path(self.env[spec.env_var]), f"${spec.env_var}")
        stamps = self.stamps(spec)
        try:
            models_dir = self.models_dir()
            if models_dir is not None:
                directory = models_dir / spec.name
                if _complete(spec, directory):
                    self._verify_dir(spec, directory, stamps, full, progress)
                    logger.debug("%s: using %s", spec.name, directory)
                    return _entry(spec, directory)
                if directory.exists():
                    logger.warning("%s: %s is incomplete; ignoring it", spec.name, directory)
            return self._from_cache(spec, stamps, full, progress)
        finally:
            stamps.save()

    def _verify_dir(
        self,
        spec: ModelSpec,
        directory: Path,
        stamps: _Stamps,
        full: bool,
        progress: Progress | None,
    ) -> None:
        for file in spec.files:
            path = directory / file.name
            if not full and stamps.matches(path, file.sha256):
                continue
            before = path.stat()
            actual = _hash_file(
                path, f"{spec.name}: verifying {file.name}", before.st_size, progress
            )
            if actual != file.sha256:
                fix = (
                    f"delete {path} (npc-ai then falls back to the installed package: "
                    f"{spec.install}) or replace it with the file the manifest names"
                )
                raise ModelChecksumError(
                    f"{spec.name}: {path} has sha256 {actual} but the manifest expects "
                    f"{file.sha256}. Fix: {fix}",
                    model=spec.name,
                    file=str(path),
                    expected=file.sha256,
                    actual=actual,
                    fix=fix,
                )
            stamps.record(path, actual, before)

    def _from_cache(
        self, spec: ModelSpec, stamps: _Stamps, full: bool, progress: Progress | None
    ) -> Path:
        target = self.cache_target(spec)
        for file in spec.files:
            dest = target / file.name
            problem = _cached_problem(spec, file, dest, stamps, full, progress)
            if problem is None:
                continue
            sources = _installed_parts(file)
            if sources is None and problem == "absent":
                raise self._not_found(spec)
            if sources is None:
                fix = f"delete {dest} and run `{spec.install}`"
                raise ModelChecksumError(
                    f"{spec.name}: the cached {dest} is damaged ({problem}) and the package that "
                    f"rebuilds it is not installed. Fix: {fix}",
                    model=spec.name,
                    file=str(dest),
                    expected=file.sha256,
                    actual=None,
                    fix=fix,
                )
            if problem != "absent":
                logger.warning(
                    "%s: cached %s is damaged (%s); rebuilding", spec.name, dest, problem
                )
            _assemble(spec, file, sources, dest, progress)
            stamps.record(dest, file.sha256, dest.stat())
        return _entry(spec, target)

    def _not_found(self, spec: ModelSpec) -> ModelNotFoundError:
        models_dir = self.models_dir()
        where = f"{models_dir}/{spec.name}/" if models_dir else f"$NPC_AI_MODELS_DIR/{spec.name}/"
        own = "a .gguf file" if spec.kind == "gguf" else "a faster-whisper model directory"
        return ModelNotFoundError(
            f"model {spec.name!r} is not installed. Install it with `{spec.install}`, "
            f"or set {spec.env_var} to {own} of your own, or put its files in {where}",
            model=spec.name,
            install=spec.install,
            env_var=spec.env_var,
        )

    def status(self, name: str) -> ModelStatus:
        spec = self.spec(name)
        if value := self.env.get(spec.env_var):
            try:
                own = _check_own(spec, Path(value), f"${spec.env_var}")
            except ModelError as exc:
                return _status(spec, "broken", exc.message, Path(value))
            return _status(spec, "env", f"own file from ${spec.env_var} (not checksummed)", own)
        stamps = self.stamps(spec)
        models_dir = self.models_dir()
        if models_dir is not None and _complete(spec, models_dir / spec.name):
            return _dir_status(spec, models_dir / spec.name, "models-dir", stamps)
        cached = self.cache_target(spec)
        cached_status = (
            _dir_status(spec, cached, "cache", stamps) if _complete(spec, cached) else None
        )
        if cached_status is not None and cached_status.source == "cache":
            return cached_status
        located = [_installed_parts(file) for file in spec.files]
        if any(parts is None for parts in located):
            return cached_status or _status(spec, "missing", f"not installed: {spec.install}")
        damaged = sorted(
            {
                part.package
                for parts in located
                for part, path in parts or []
                if path.stat().st_size != part.size
            }
        )
        if damaged:
            fix = f"pip install --force-reinstall {' '.join(damaged)}"
            return _status(spec, "broken", f"installed package damaged: {fix}")
        if cached_status is not None:
            detail = f"cached copy damaged ({cached_status.detail}); next use rebuilds it"
            return _status(spec, "package", detail)
        return _status(
            spec, "package", f"installed; first use copies {_mib(spec.size)} to {cached}"
        )


def _status(
    spec: ModelSpec, source: Source, detail: str, path: Path | None = None, verified: bool = False
) -> ModelStatus:
    return ModelStatus(name=spec.name, source=source, path=path, verified=verified, detail=detail)


def _complete(spec: ModelSpec, directory: Path) -> bool:
    return all((directory / f.name).is_file() for f in spec.files)


def _check_own(spec: ModelSpec, path: Path, origin: str) -> Path:
    """Shape checks for a file the user chose: no digest to compare it with."""
    path = path.expanduser()
    if not path.exists():
        raise ModelNotFoundError(
            f"{spec.name}: {origin} names {path}, which does not exist; fix or remove it",
            model=spec.name,
            path=str(path),
        )
    if spec.kind == "gguf":
        if not path.is_file():
            raise ModelError(
                f"{spec.name}: {origin} must name a .gguf file, but {path} is not a file",
                model=spec.name,
                path=str(path),
            )
        try:
            with path.open("rb") as handle:
                magic = handle.read(len(_GGUF_MAGIC))
        except OSError as exc:
            raise ModelError(
                f"{spec.name}: cannot read {path} ({origin}): {exc}", model=spec.name
            ) from exc
        if magic != _GGUF_MAGIC:
            raise ModelError(
                f"{spec.name}: {path} ({origin}) is not a GGUF file: it starts with {magic!r}, "
                f"not {_GGUF_MAGIC!r}; give a llama.cpp .gguf model",
                model=spec.name,
                path=str(path),
            )
    else:
        missing = [n for n in _WHISPER_REQUIRED if not (path / n).is_file()]
        if missing:
            raise ModelError(
                f"{spec.name}: {path} ({origin}) is not a faster-whisper model directory: "
                f"it lacks {', '.join(missing)} (a CTranslate2 Whisper directory has "
                f"{' and '.join(_WHISPER_REQUIRED)})",
                model=spec.name,
                path=str(path),
            )
    return path.absolute()


def _dir_status(spec: ModelSpec, directory: Path, source: Source, stamps: _Stamps) -> ModelStatus:
    for file in spec.files:
        size = (directory / file.name).stat().st_size
        if size != file.size:
            detail = f"{directory / file.name} has {size} bytes, expected {file.size}"
            return _status(spec, "broken", detail, directory)
    if all(stamps.matches(directory / f.name, f.sha256) for f in spec.files):
        return _status(spec, source, "verified", _entry(spec, directory), verified=True)
    detail = "present, not verified yet (next use hashes it)"
    return _status(spec, source, detail, _entry(spec, directory))


def _cached_problem(
    spec: ModelSpec,
    file: ModelFile,
    dest: Path,
    stamps: _Stamps,
    full: bool,
    progress: Progress | None,
) -> str | None:
    """None when ``dest`` holds the right bytes, else why it must be rebuilt."""
    try:
        before = dest.stat()
    except FileNotFoundError:
        return "absent"
    if before.st_size != file.size:
        return f"{before.st_size} bytes, expected {file.size}"
    if not full and stamps.matches(dest, file.sha256):
        return None
    actual = _hash_file(dest, f"{spec.name}: verifying {file.name}", file.size, progress)
    if actual != file.sha256:
        return f"sha256 {actual}, expected {file.sha256}"
    stamps.record(dest, actual, before)
    return None


def _assemble(
    spec: ModelSpec,
    file: ModelFile,
    sources: list[tuple[FilePart, Path]],
    dest: Path,
    progress: Progress | None,
) -> None:
    """Concatenate ``sources`` into ``dest``, hashing on the way; rename only a verified file.

    Each writer has its own temporary name and ``os.replace`` is atomic, so processes racing to
    fill the cache each install a complete, verified file and readers never see a partial one.
    """
    label = f"{spec.name}: assembling {file.name}"
    temp = dest.with_name(f".{dest.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    logger.info("%s: assembling %s (%s) into %s", spec.name, file.name, _mib(file.size), dest)
    digest = hashlib.sha256()
    buffer = bytearray(_CHUNK)
    view = memoryview(buffer)
    done = 0
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_temps(dest)
        free = shutil.disk_usage(dest.parent).free
        if free < file.size:
            raise ModelError(
                f"{spec.name}: {dest.parent} has {_mib(free)} free, {file.name} needs "
                f"{_mib(file.size)}; free some space or set NPC_AI_CACHE_DIR elsewhere",
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
        if path.stat().st_size != part.size or _hash_file(path, "", part.size, None) != part.sha256
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


# -- public entry points ----------------------------------------------------------------------


def resolve_model(
    name: str, *, path: str | os.PathLike[str] | None = None, progress: Progress | None = None
) -> Path:
    """The local path of model ``name``: the .gguf file for ``gguf``, the directory for
    ``whisper-ct2``. May assemble the model from its packages once (see the module docs).

    Raises ModelNotFoundError when no copy exists, ModelChecksumError when one is damaged and
    ModelError for an own file of the wrong shape or an unknown name. Derived models
    (:mod:`npc_ai.models.derived`, e.g. ``gemma3-270m-trim``) resolve to their verified built file.
    """
    if _is_derived(name):
        from npc_ai.models.derived import DERIVED, resolve_derived

        if path is None:
            return resolve_derived(name, progress=progress)
        # An own file in place of a derived model: checked like one of its source's kind.
        name = DERIVED[name].source
    return _Resolver.current().resolve(name, path, progress, full=False)


def verify_model(name: str, *, progress: Progress | None = None) -> Path:
    """Like :func:`resolve_model`, but re-hash every file whatever the stamps say.

    An own file from ``NPC_AI_MODEL_<NAME>`` gets the shape checks only: there is no digest
    to compare it with.
    """
    if _is_derived(name):
        from npc_ai.models.derived import resolve_derived

        return resolve_derived(name, progress=progress, full=True)
    return _Resolver.current().resolve(name, None, progress, full=True)


def _is_derived(name: str) -> bool:
    from npc_ai.models.derived import DERIVED

    return name in DERIVED


def model_status(name: str) -> ModelStatus:
    """Where ``name`` resolves from now, cheaply: stats and stamps only, no hashing or copying."""
    return _Resolver.current().status(name)
