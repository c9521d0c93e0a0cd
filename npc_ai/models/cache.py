"""Default models: resolve a model by name, verify it, say where it would come from.

Models come from PyPI packages or from the user's own files; nothing is downloaded at run time.
``models/manifest.toml`` (shipped as ``npc_ai/data/manifest.toml``) names each model's files,
their sha256 and how to build them from the installed packages. The work is split by job:

- :mod:`~npc_ai.models.manifest`: the manifest's records and parser, the default model names;
- :mod:`~npc_ai.models.store`: the cache directory, sha256 hashing, the stamps;
- :mod:`~npc_ai.models.assembly`: joining a model's files from its installed packages;
- :mod:`~npc_ai.models.packaged`: resolving a manifest model (own file, ``NPC_AI_MODEL_<NAME>``,
  models directory, cache, package; see its docs for the order);
- :mod:`~npc_ai.models.derived`: models npc-ai builds from an installed one
  (``gemma3-270m-trim``);
- this module: the entry points over both kinds.

A verified file is remembered in a stamp (size, mtime_ns, sha256), so later calls only ``stat``
it; a stamp that no longer matches forces a re-hash, and a damaged cached file is rebuilt.
:func:`verify_model` ignores the stamps and re-hashes everything.

Example::

    from npc_ai.models import resolve_model

    gguf = resolve_model("gemma3-270m")          # Path to the .gguf file
    whisper_dir = resolve_model("whisper-tiny.en")  # directory for faster-whisper
"""

from __future__ import annotations

import os
from pathlib import Path

from npc_ai.models.derived import DERIVED, resolve_derived
from npc_ai.models.manifest import FilePart, ModelFile, ModelSpec, load_manifest
from npc_ai.models.packaged import ModelStatus, packaged_status, resolve_packaged
from npc_ai.models.store import Progress, cache_dir

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


def resolve_model(
    name: str, *, path: str | os.PathLike[str] | None = None, progress: Progress | None = None
) -> Path:
    """The local path of model ``name``: the .gguf file for ``gguf``, the directory for
    ``whisper-ct2``. May assemble the model from its packages once (see the module docs).

    Raises ModelNotFoundError when no copy exists, ModelChecksumError when one is damaged and
    ModelError for an own file of the wrong shape or an unknown name. Derived models
    (:mod:`npc_ai.models.derived`, e.g. ``gemma3-270m-trim``) resolve to their verified built file.
    """
    derived = DERIVED.get(name)
    if derived is not None:
        if path is None:
            return resolve_derived(name, progress=progress)
        # An own file in place of a derived model: checked like one of its source's kind.
        name = derived.source
    return resolve_packaged(name, path=path, progress=progress)


def verify_model(name: str, *, progress: Progress | None = None) -> Path:
    """Like :func:`resolve_model`, but re-hash every file whatever the stamps say.

    An own file from ``NPC_AI_MODEL_<NAME>`` gets the shape checks only: there is no digest
    to compare it with.
    """
    if name in DERIVED:
        return resolve_derived(name, progress=progress, full=True)
    return resolve_packaged(name, progress=progress, full=True)


def model_status(name: str) -> ModelStatus:
    """Where ``name`` resolves from now, cheaply: stats and stamps only, no hashing or copying."""
    return packaged_status(name)
