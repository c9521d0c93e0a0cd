"""The model manifest's records, the parser that checks them, and the default model names.

Import the public names from :mod:`npc_ai.models`, which re-exports them.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from npc_ai.errors import ModelError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

if TYPE_CHECKING:
    if sys.version_info >= (3, 11):
        from importlib.resources.abc import Traversable
    else:
        from importlib.abc import Traversable

__all__ = [
    "DEFAULT_MODEL",
    "FULL_MODEL",
    "FilePart",
    "ModelFile",
    "ModelKind",
    "ModelSpec",
    "load_manifest",
]

# The manifest's ``default`` key marks the models of the default set (`npc-ai models verify`);
# the default *dialogue* model is a derived one (npc_ai/models/derived.py), which the manifest
# does not list, so its name is kept here, next to the manifest code.

FULL_MODEL = "gemma3-270m"
"""The full dialogue model: Gemma 3 270M as the manifest ships it."""

DEFAULT_MODEL = "gemma3-270m-trim"
"""The default dialogue model: :data:`FULL_MODEL` with its vocabulary cut to English,
Spanish, French and German (:mod:`npc_ai.models.derived`, built from it on first use, about
20 s). About twice as fast per token, and as good on tools/eval_dialogue.py (docs/MODELS.md)."""

ModelKind = Literal["gguf", "whisper-ct2"]

_KINDS: tuple[ModelKind, ...] = ("gguf", "whisper-ct2")
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True, kw_only=True)
class FilePart:
    """One slice of a model file as shipped inside an installed package."""

    package: str
    """The pip requirement that ships this part, e.g. ``"name==1.0.0"``."""
    module: str
    """Top-level import package holding the part."""
    path: str
    """Path of the part relative to that package's directory."""
    size: int
    sha256: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelFile:
    """One file of a finished model: its digest and the parts it is concatenated from."""

    name: str
    size: int
    sha256: str
    parts: tuple[FilePart, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelSpec:
    """A model as the manifest describes it."""

    name: str
    kind: ModelKind
    role: str
    default: bool
    description: str
    packages: tuple[str, ...]
    install: str
    licence: str
    licence_url: str
    licence_file: str | None
    upstream: str
    size: int
    files: tuple[ModelFile, ...]

    @property
    def env_var(self) -> str:
        """The environment variable that overrides this model, e.g. ``NPC_AI_MODEL_GEMMA3_270M``."""
        return "NPC_AI_MODEL_" + re.sub(r"[^A-Z0-9]", "_", self.name.upper())


def _manifest_resource() -> Traversable:
    return resources.files("npc_ai").joinpath("data").joinpath("manifest.toml")


def load_manifest() -> dict[str, ModelSpec]:
    """Read and check the model manifest shipped with the package, keyed by model name."""
    resource = _manifest_resource()
    try:
        text = resource.read_text(encoding="utf-8")
        stripped = text.strip()
        # A checkout made without symlink support (Windows without core.symlinks) leaves the
        # symlink as a one-line file holding its target; follow it.
        if isinstance(resource, Path) and stripped.endswith(".toml") and "=" not in stripped:
            resource = resource.parent / stripped
            text = resource.read_text(encoding="utf-8")
        data = tomllib.loads(text)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ModelError(
            f"cannot read the model manifest {resource}: {exc}; reinstall npc-ai",
            manifest=str(resource),
        ) from exc
    return _parse_manifest(data, str(resource))


def _bad(origin: str, field: str, problem: str) -> ModelError:
    return ModelError(f"model manifest {origin}: '{field}' {problem}", manifest=origin, field=field)


def _get(table: Mapping[str, Any], key: str, kind: type[_T], where: str, origin: str) -> _T:
    value = table.get(key)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        field = f"{where}.{key}" if where else key
        raise _bad(origin, field, f"must be a {kind.__name__}, got {value!r}")
    return value


def _digest(table: Mapping[str, Any], where: str, origin: str) -> str:
    value = _get(table, "sha256", str, where, origin)
    if not _SHA256.match(value):
        raise _bad(origin, f"{where}.sha256", "must be 64 lowercase hex digits")
    return value


def _tables(table: Mapping[str, Any], key: str, where: str, origin: str) -> list[dict[str, Any]]:
    items = _get(table, key, list, where, origin)
    if not items or not all(isinstance(item, dict) for item in items):
        raise _bad(origin, f"{where}.{key}", "must be a non-empty array of tables")
    return items


def _parse_part(raw: Mapping[str, Any], where: str, origin: str) -> FilePart:
    return FilePart(
        package=_get(raw, "package", str, where, origin),
        module=_get(raw, "module", str, where, origin),
        path=_get(raw, "path", str, where, origin),
        size=_get(raw, "size", int, where, origin),
        sha256=_digest(raw, where, origin),
    )


def _parse_file(raw: Mapping[str, Any], where: str, origin: str) -> ModelFile:
    parts = _tables(raw, "parts", where, origin)
    result = ModelFile(
        name=_get(raw, "name", str, where, origin),
        size=_get(raw, "size", int, where, origin),
        sha256=_digest(raw, where, origin),
        parts=tuple(_parse_part(p, f"{where}.parts[{i}]", origin) for i, p in enumerate(parts)),
    )
    if sum(part.size for part in result.parts) != result.size:
        raise _bad(origin, f"{where}.size", "is not the sum of its parts' sizes")
    return result


def _parse_spec(name: str, raw: Mapping[str, Any], origin: str) -> ModelSpec:
    where = f"models.{name}"
    kind = _get(raw, "kind", str, where, origin)
    if kind not in _KINDS:
        raise _bad(origin, f"{where}.kind", f"is {kind!r}; expected one of {_KINDS}")
    files = _tables(raw, "files", where, origin)
    licence_file = raw.get("licence_file")
    spec = ModelSpec(
        name=name,
        kind="gguf" if kind == "gguf" else "whisper-ct2",
        role=_get(raw, "role", str, where, origin),
        default=_get(raw, "default", bool, where, origin),
        description=_get(raw, "description", str, where, origin),
        packages=tuple(str(p) for p in _get(raw, "packages", list, where, origin)),
        install=_get(raw, "install", str, where, origin),
        licence=_get(raw, "licence", str, where, origin),
        licence_url=_get(raw, "licence_url", str, where, origin),
        licence_file=licence_file if isinstance(licence_file, str) else None,
        upstream=_get(raw, "upstream", str, where, origin),
        size=_get(raw, "size", int, where, origin),
        files=tuple(_parse_file(f, f"{where}.files[{i}]", origin) for i, f in enumerate(files)),
    )
    if spec.size != sum(f.size for f in spec.files):
        raise _bad(origin, f"{where}.size", "is not the sum of its files' sizes")
    if kind == "gguf" and len(spec.files) != 1:
        raise _bad(origin, f"{where}.files", "must hold exactly one file for a gguf model")
    return spec


def _parse_manifest(data: Mapping[str, Any], origin: str) -> dict[str, ModelSpec]:
    if data.get("schema") != 1:
        raise _bad(origin, "schema", f"is {data.get('schema')!r}; this npc-ai reads schema 1")
    specs: dict[str, ModelSpec] = {}
    for name, raw in _get(data, "models", dict, "", origin).items():
        if not _NAME.match(name) or not isinstance(raw, dict):
            raise _bad(origin, f"models.{name}", "is not a table with a lowercase name")
        specs[name] = _parse_spec(name, raw, origin)
    return specs
