"""Opening a translation backend by name: the one module that imports the backends.

The backends are imported only when opened (Argos pulls in CTranslate2), and they import
only :mod:`npc_ai.translation.contract`, never this module.
"""

from __future__ import annotations

import logging
from pathlib import Path

from npc_ai.errors import TranslationError, TranslatorUnavailableError
from npc_ai.translation.contract import Translator, format_pairs
from npc_ai.translation.wrappers import CachedTranslator, RoutingTranslator

__all__ = ["BACKENDS", "open_translator"]

logger = logging.getLogger(__name__)

BACKENDS = ("auto", "argos", "apertium")
"""Names :func:`open_translator` accepts."""


def open_translator(
    backend: str = "auto",
    *,
    argos_dir: Path | None = None,
    apertium_modes_dir: Path | None = None,
    cache_size: int = 1024,
    threads: int = 1,
) -> CachedTranslator:
    """Open a translation backend, wrapped in a :class:`CachedTranslator`.

    ``backend``: ``"argos"`` (packs in ``argos_dir``, default
    :func:`npc_ai.backends.argos.default_package_dir`), ``"apertium"`` (pairs in
    ``apertium_modes_dir``, default the system's modes directory), or ``"auto"``: both,
    each pair served by Argos when it has a pack for it, else by apertium. ``threads`` is
    the CPU threads an Argos model uses. Raises
    :class:`~npc_ai.errors.TranslatorUnavailableError` when the backend is not installed
    (for ``"auto"``: when neither is, or neither has any pair).
    """
    if backend not in BACKENDS:
        raise TranslationError(
            f"unknown translation backend {backend!r}; choose one of {', '.join(BACKENDS)}",
            backend=backend,
        )
    translators: list[Translator] = []
    problems: list[str] = []
    if backend in ("auto", "argos"):
        from npc_ai.backends.argos import ArgosTranslator

        try:
            argos = ArgosTranslator(argos_dir, threads=threads)
        except TranslatorUnavailableError as exc:
            if backend == "argos":
                raise
            problems.append(exc.message)
        else:
            if backend == "argos" or argos.pairs():
                translators.append(argos)
            else:
                problems.append(f"argos: no pack installed in {argos.package_dir}")
    if backend in ("auto", "apertium"):
        from npc_ai.backends.apertium import ApertiumTranslator

        try:
            translators.append(ApertiumTranslator(modes_dir=apertium_modes_dir))
        except TranslatorUnavailableError as exc:
            if backend == "apertium":
                raise
            problems.append(exc.message)
    if not translators:
        raise TranslatorUnavailableError(
            "no translation backend is available: " + "; ".join(problems), backend=backend
        )
    inner: Translator = translators[0] if len(translators) == 1 else RoutingTranslator(translators)
    logger.debug("translation pairs: %s", format_pairs(inner.pairs()))
    return CachedTranslator(inner, maxsize=cache_size)
