"""Resolving the models the manifest names: an own file, a models directory or the cache.

:func:`resolve_packaged` looks in this order and the first hit wins:

1. the ``path`` argument: the user's own file, checked for shape only (GGUF magic bytes, or a
   Whisper directory with ``model.bin`` and ``config.json``), not against the manifest digest;
2. the environment variable ``NPC_AI_MODEL_<NAME>`` (for example ``NPC_AI_MODEL_GEMMA3_270M``),
   checked the same way;
3. a models directory, ``$NPC_AI_MODELS_DIR`` or else the ``models/`` folder of the source
   checkout this package runs from: ``<dir>/<name>/<file>``, sha256-verified;
4. the cache, ``cache_dir()/models/<name>/``, filled once from the installed packages
   (:mod:`npc_ai.models.assembly`);
5. otherwise :class:`~npc_ai.errors.ModelNotFoundError`, with the ``pip install`` command.

:func:`packaged_status` says where a model would resolve from without hashing or copying.
Use these through :mod:`npc_ai.models`, which also resolves the derived models.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from npc_ai.errors import ModelChecksumError, ModelError, ModelNotFoundError
from npc_ai.models import manifest as _manifest
from npc_ai.models import store
from npc_ai.models.assembly import assemble, installed_parts
from npc_ai.models.manifest import ModelFile, ModelSpec, load_manifest
from npc_ai.models.store import Progress, Stamps

__all__ = ["ModelStatus", "Source", "packaged_status", "resolve_packaged"]

logger = logging.getLogger(__name__)

Source = Literal["env", "models-dir", "cache", "package", "missing", "broken"]
"""Where a model resolves from (see :class:`ModelStatus`)."""

_GGUF_MAGIC = b"GGUF"
_WHISPER_REQUIRED = ("model.bin", "config.json")


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


def _entry(spec: ModelSpec, directory: Path) -> Path:
    return directory / spec.files[0].name if spec.kind == "gguf" else directory


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
        return store.cache_dir_in(self.env) / "models" / spec.name

    def stamps(self, spec: ModelSpec) -> Stamps:
        return Stamps.of(spec.name, self.env)

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
        stamps: Stamps,
        full: bool,
        progress: Progress | None,
    ) -> None:
        for file in spec.files:
            path = directory / file.name
            if not full and stamps.matches(path, file.sha256):
                continue
            before = path.stat()
            actual = store.hash_file(
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
        self, spec: ModelSpec, stamps: Stamps, full: bool, progress: Progress | None
    ) -> Path:
        target = self.cache_target(spec)
        for file in spec.files:
            dest = target / file.name
            problem = _cached_problem(spec, file, dest, stamps, full, progress)
            if problem is None:
                continue
            sources = installed_parts(file)
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
            assemble(spec, file, sources, dest, progress)
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
        located = [installed_parts(file) for file in spec.files]
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
            spec, "package", f"installed; first use copies {store.mib(spec.size)} to {cached}"
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


def _dir_status(spec: ModelSpec, directory: Path, source: Source, stamps: Stamps) -> ModelStatus:
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
    stamps: Stamps,
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
    actual = store.hash_file(dest, f"{spec.name}: verifying {file.name}", file.size, progress)
    if actual != file.sha256:
        return f"sha256 {actual}, expected {file.sha256}"
    stamps.record(dest, actual, before)
    return None


# -- entry points -----------------------------------------------------------------------------


def resolve_packaged(
    name: str,
    *,
    path: str | os.PathLike[str] | None = None,
    progress: Progress | None = None,
    full: bool = False,
) -> Path:
    """The local path of manifest model ``name`` (see the module docs); ``full`` re-hashes
    every file whatever the stamps say."""
    return _Resolver.current().resolve(name, path, progress, full=full)


def packaged_status(name: str) -> ModelStatus:
    """Where manifest model ``name`` resolves from now: stats and stamps only."""
    return _Resolver.current().status(name)
