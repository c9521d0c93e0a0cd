"""Model files: the manifest of default models, the resolver and verified cache, derived builds.

Example::

    from npc_ai.models import DEFAULT_MODEL, resolve_model

    gguf = resolve_model(DEFAULT_MODEL)     # built and verified on first use

Names are loaded on first use (see :mod:`npc_ai.models.cache` for how a model is found).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from npc_ai._lazy import lazy_exports

if TYPE_CHECKING:
    from npc_ai.models.cache import model_status, resolve_model, verify_model
    from npc_ai.models.derived import DERIVED, DerivedModel, build_model
    from npc_ai.models.manifest import (
        DEFAULT_MODEL,
        FULL_MODEL,
        FilePart,
        ModelFile,
        ModelSpec,
        load_manifest,
    )
    from npc_ai.models.packaged import ModelStatus
    from npc_ai.models.store import Progress, cache_dir

__all__ = [
    "DEFAULT_MODEL",
    "DERIVED",
    "FULL_MODEL",
    "DerivedModel",
    "FilePart",
    "ModelFile",
    "ModelSpec",
    "ModelStatus",
    "Progress",
    "build_model",
    "cache_dir",
    "load_manifest",
    "model_status",
    "resolve_model",
    "verify_model",
]

_HOMES = {
    "DEFAULT_MODEL": "manifest",
    "DERIVED": "derived",
    "FULL_MODEL": "manifest",
    "DerivedModel": "derived",
    "FilePart": "manifest",
    "ModelFile": "manifest",
    "ModelSpec": "manifest",
    "ModelStatus": "packaged",
    "Progress": "store",
    "build_model": "derived",
    "cache_dir": "store",
    "load_manifest": "manifest",
    "model_status": "cache",
    "resolve_model": "cache",
    "verify_model": "cache",
}


__getattr__, __dir__ = lazy_exports(__name__, _HOMES)
