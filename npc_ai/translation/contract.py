"""The translation contract: the one :class:`Translator` protocol and the pair helpers.

Backends (:mod:`npc_ai.backends.argos`, :mod:`npc_ai.backends.apertium`) implement this
contract and import only this module of the package; the wrappers
(:mod:`npc_ai.translation.wrappers`) and the factory (:mod:`npc_ai.translation.factory`)
build on it. Languages are ISO 639-1 codes (``"en"``, ``"es"``), the codes Whisper and Argos
Translate use; a backend with other codes (apertium's ``eng``) maps them. Asking for a pair
nobody has raises :class:`~npc_ai.errors.MissingLanguagePairError`, whose message lists the
installed pairs.
"""

from __future__ import annotations

from collections.abc import Iterable
from types import TracebackType
from typing import Protocol, TypeVar, runtime_checkable

from npc_ai.errors import MissingLanguagePairError

__all__ = [
    "Closing",
    "LanguagePair",
    "Translator",
    "check_pair",
    "format_pairs",
    "normalize_language",
]

LanguagePair = tuple[str, str]
"""``(source, target)`` language codes, e.g. ``("en", "es")``."""


@runtime_checkable
class Translator(Protocol):
    """Translates text between the language pairs it lists."""

    def translate(self, text: str, source: str, target: str) -> str:
        """``text`` in language ``source`` rendered in language ``target``.

        Raises :class:`~npc_ai.errors.MissingLanguagePairError` for a pair not in
        :meth:`pairs` (a translator returns text unchanged when ``source == target``).
        """
        ...

    def pairs(self) -> frozenset[LanguagePair]:
        """The ``(source, target)`` pairs this translator can translate now."""
        ...

    def close(self) -> None:
        """Release models and processes. Closing twice is harmless."""
        ...


def normalize_language(code: str) -> str:
    """A language code as translators compare it: stripped, lower-case (``"EN "`` -> ``"en"``)."""
    return code.strip().lower()


def format_pairs(pairs: Iterable[LanguagePair]) -> list[str]:
    """Pairs as sorted ``"en->es"`` strings, for messages and listings."""
    return sorted(f"{source}->{target}" for source, target in pairs)


def check_pair(
    pairs: frozenset[LanguagePair], source: str, target: str, *, backend: str
) -> LanguagePair:
    """Normalise ``(source, target)`` and raise a :class:`MissingLanguagePairError` naming the
    installed pairs when it is not among ``pairs``. Same-language pairs always pass."""
    pair = (normalize_language(source), normalize_language(target))
    if pair[0] == pair[1] or pair in pairs:
        return pair
    installed = format_pairs(pairs)
    listing = ", ".join(installed) if installed else "none"
    raise MissingLanguagePairError(
        f"no {backend} translation from '{pair[0]}' to '{pair[1]}' is installed "
        f"(installed: {listing}); add one with `npc-ai models add-translation FILE.argosmodel` "
        "or install an apertium pair (e.g. apt-get install apertium-eng-spa)",
        source=pair[0],
        target=pair[1],
        installed=installed,
        backend=backend,
    )


_C = TypeVar("_C", bound="Closing")


class Closing:
    """Context-manager support for a translator with a ``close()``: ``with`` closes it."""

    def close(self) -> None:  # pragma: no cover - overridden
        """Release what the translator holds."""
        raise NotImplementedError

    def __enter__(self: _C) -> _C:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
