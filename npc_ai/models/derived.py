"""Models npc-ai builds itself from an installed model: never downloaded, always verified.

``gemma3-270m-trim`` (the default dialogue model) is Gemma 3 270M with its vocabulary cut to
the tokens of English, Spanish, French and German (see docs/MODELS.md): the kept token ids ship
with the package (``npc_ai/data/trim/*.ids``), :func:`build_model` writes the GGUF into the
model cache and checks its sha256 against the digest recorded here, and :func:`resolve_derived`
(called by :func:`npc_ai.models.resolve_model`) builds it on first use (about 20 s) and
verifies the cached file before returning it.

    npc-ai models build gemma3-270m-trim        # build (again) now
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from npc_ai.errors import ModelChecksumError, ModelError, ModelNotFoundError
from npc_ai.models import store
from npc_ai.models.packaged import resolve_packaged
from npc_ai.models.store import Progress, Stamps, cache_dir

__all__ = [
    "DERIVED",
    "DerivedModel",
    "build_model",
    "derived_status",
    "read_ids",
    "resolve_derived",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class DerivedModel:
    """A GGUF made from an installed model by keeping the token ids listed in ``ids``."""

    name: str
    source: str  #: the manifest model it is built from
    ids: str  #: kept token ids, a resource under npc_ai/data/trim/
    file: str  #: file name in the model cache
    size: int
    sha256: str
    description: str

    @property
    def build_command(self) -> str:
        """The command that builds this model."""
        return f"npc-ai models build {self.name}"


DERIVED: dict[str, DerivedModel] = {
    "gemma3-270m-trim": DerivedModel(
        name="gemma3-270m-trim",
        source="gemma3-270m",
        ids="gemma3-270m-trim.ids",
        file="gemma-3-270m-q4_k_m-trim.gguf",
        size=112975712,
        sha256="928092419d9603e76789e37c8347bfd053670d515337c803de3daf633ce6334d",
        description=(
            "Gemma 3 270M with 63,438 of its 262,144 tokens (English, Spanish, French, "
            "German, every byte): a 4x smaller output head."
        ),
    ),
}


def _spec(name: str) -> DerivedModel:
    try:
        return DERIVED[name]
    except KeyError:
        raise ModelError(
            f"{name!r} is not a derived model; derived models: {', '.join(sorted(DERIVED))}",
            model=name,
            known=sorted(DERIVED),
        ) from None


def read_ids(spec: DerivedModel) -> list[int]:
    """The kept token ids of ``spec`` (lines ``a`` or ``a-b``; ``#`` starts a comment)."""
    text = (
        resources.files("npc_ai")
        .joinpath("data")
        .joinpath("trim")
        .joinpath(spec.ids)
        .read_text("utf-8")
    )
    ids: list[int] = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        first, _, last = line.partition("-")
        try:
            a, b = int(first), int(last or first)
        except ValueError:
            raise ModelError(
                f"{spec.ids} line {number}: {line!r} is not an id or a range a-b", model=spec.name
            ) from None
        ids.extend(range(a, b + 1))
    return ids


def _target(spec: DerivedModel) -> Path:
    return cache_dir() / "models" / spec.name / spec.file


def _stamps(spec: DerivedModel) -> Stamps:
    return Stamps.of(spec.name)


def _checksum_error(spec: DerivedModel, path: Path, actual: str) -> ModelChecksumError:
    fix = f"delete {path} and run `{spec.build_command}`"
    return ModelChecksumError(
        f"{spec.name}: {path} has sha256 {actual} but {spec.sha256} is expected. Fix: {fix}",
        model=spec.name,
        file=str(path),
        expected=spec.sha256,
        actual=actual,
        fix=fix,
    )


def build_model(name: str, *, progress: Progress | None = None) -> Path:
    """Build derived model ``name`` from its installed source into the cache; verify its sha256.

    A file that does not match the recorded digest is removed and a
    :class:`~npc_ai.errors.ModelChecksumError` raised: a different ``gguf`` package or source
    file would otherwise pass for the recorded model.
    """
    from npc_ai.backends.trim import write_trimmed

    spec = _spec(name)
    source = resolve_packaged(spec.source, progress=progress)
    dest = _target(spec)
    label = f"{name}: building from {spec.source}"
    if progress is not None:
        progress(label, 0, spec.size)
    logger.info("%s (once, about 20 s)", label)
    result = write_trimmed(source, dest, read_ids(spec), name_suffix=f"{spec.name}")
    if progress is not None:
        progress(label, spec.size, spec.size)
    if result.sha256 != spec.sha256:
        dest.unlink(missing_ok=True)
        raise _checksum_error(spec, dest, result.sha256)
    stamps = _stamps(spec)
    stamps.record(dest, result.sha256, dest.stat())
    stamps.save()
    logger.info("%s: built %s (%d bytes)", name, dest, result.size)
    return dest


def derived_status(name: str) -> tuple[Path, str]:
    """Where derived model ``name`` lives and whether it is built: "ok" (stamp matches),
    "changed" (will be re-hashed) or "not built". Cheap: stats and stamps only."""
    spec = _spec(name)
    path = _target(spec)
    if not path.is_file():
        return path, "not built"
    return path, "ok" if _stamps(spec).matches(path, spec.sha256) else "changed"


def _gguf_installed() -> bool:
    """Whether the ``gguf`` package can be imported (without importing it here)."""
    if "gguf" in sys.modules:
        return sys.modules["gguf"] is not None
    return importlib.util.find_spec("gguf") is not None


def resolve_derived(name: str, *, progress: Progress | None = None, full: bool = False) -> Path:
    """The verified cached file of derived model ``name``, built first if it is not there.

    Raises :class:`~npc_ai.errors.ModelNotFoundError` when it cannot be built (its source model
    or the ``gguf`` package is missing) and :class:`~npc_ai.errors.ModelChecksumError` when the
    file changed.
    """
    spec = _spec(name)
    path = _target(spec)
    if not path.is_file():
        if not _gguf_installed():  # the writer build_model needs
            raise ModelNotFoundError(
                f"model {name!r} is built from {spec.source!r} on first use, which needs the "
                "`gguf` package: pip install gguf==0.19.0, then run "
                f"`{spec.build_command}`",
                model=name,
                install="pip install gguf==0.19.0",
                env_var=f"NPC_AI_MODEL_{name.upper().replace('-', '_').replace('.', '_')}",
            )
        return build_model(name, progress=progress)
    stamps = _stamps(spec)
    if full or not stamps.matches(path, spec.sha256):
        before = path.stat()
        actual = store.hash_file(path, f"{name}: verifying {spec.file}", before.st_size, progress)
        if actual != spec.sha256:
            raise _checksum_error(spec, path, actual)
        stamps.record(path, actual, before)
        stamps.save()
    return Path(os.fspath(path))
