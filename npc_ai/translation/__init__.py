"""Translation of committed caption text: one protocol, a cache, several targets at once.

A :class:`Translator` turns text in one language into another, for the pairs it lists in
:meth:`~Translator.pairs`. The package is split by job, so the backends depend on the
contract only:

- :mod:`~npc_ai.translation.contract`: the :class:`Translator` protocol and the pair helpers
  (:func:`check_pair`, :func:`normalize_language`, :func:`format_pairs`);
- :mod:`~npc_ai.translation.wrappers`: :class:`CachedTranslator`, :class:`RoutingTranslator`,
  :class:`MultiTranslator`;
- :mod:`~npc_ai.translation.fake`: :class:`IdentityTranslator`, a fake for tests;
- :mod:`~npc_ai.translation.factory`: :func:`open_translator`, which imports a backend
  (``argos``: :mod:`npc_ai.backends.argos`, ``apertium``: :mod:`npc_ai.backends.apertium`)
  only when it opens it.

Example::

    from npc_ai.translation import MultiTranslator, open_translator

    with open_translator("auto") as translator:
        multi = MultiTranslator(translator, source="en", targets=("es", "fr"))
        print(multi.translate("Where is the inn?"))   # {"es": "...", "fr": "..."}

Names are loaded on first use; ``import npc_ai.translation`` imports no backend.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from npc_ai._lazy import lazy_exports

if TYPE_CHECKING:
    from npc_ai.translation.contract import (
        LanguagePair,
        Translator,
        check_pair,
        format_pairs,
        normalize_language,
    )
    from npc_ai.translation.factory import BACKENDS, open_translator
    from npc_ai.translation.fake import IdentityTranslator
    from npc_ai.translation.wrappers import (
        CachedTranslator,
        CacheStats,
        MultiTranslator,
        RoutingTranslator,
    )

__all__ = [
    "BACKENDS",
    "CacheStats",
    "CachedTranslator",
    "IdentityTranslator",
    "LanguagePair",
    "MultiTranslator",
    "RoutingTranslator",
    "Translator",
    "check_pair",
    "format_pairs",
    "normalize_language",
    "open_translator",
]

_HOMES = {
    "BACKENDS": "factory",
    "CacheStats": "wrappers",
    "CachedTranslator": "wrappers",
    "IdentityTranslator": "fake",
    "LanguagePair": "contract",
    "MultiTranslator": "wrappers",
    "RoutingTranslator": "wrappers",
    "Translator": "contract",
    "check_pair": "contract",
    "format_pairs": "contract",
    "normalize_language": "contract",
    "open_translator": "factory",
}


__getattr__, __dir__ = lazy_exports(__name__, _HOMES)
