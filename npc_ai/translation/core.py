"""Translation of committed caption text: one protocol, a cache, several targets at once.

A :class:`Translator` turns text in one language into another, for the pairs it lists in
:meth:`~Translator.pairs`. Languages are ISO 639-1 codes (``"en"``, ``"es"``), the codes
Whisper and Argos Translate use; a backend with other codes (apertium's ``eng``) maps them.
Asking for a pair nobody has raises :class:`~npc_ai.errors.MissingLanguagePairError`, whose
message lists the installed pairs.

Backends (imported only when opened):

- ``argos``: Argos Translate packs (:mod:`npc_ai.backends.argos`), neural, one pack per pair;
- ``apertium``: Debian's rule-based ``apertium`` (:mod:`npc_ai.backends.apertium`), one
  long-lived process per pair;
- :class:`IdentityTranslator`: a fake for tests.

Example::

    from npc_ai.translation.core import MultiTranslator, open_translator

    with open_translator("auto") as translator:
        multi = MultiTranslator(translator, source="en", targets=("es", "fr"))
        print(multi.translate("Where is the inn?"))   # {"es": "...", "fr": "..."}

Only committed text should be translated (finals, never partials): a translation of a
partial flickers when the partial changes.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Protocol, TypeVar, runtime_checkable

from npc_ai.errors import (
    MissingLanguagePairError,
    TranslationError,
    TranslatorUnavailableError,
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

logger = logging.getLogger(__name__)

LanguagePair = tuple[str, str]
"""``(source, target)`` language codes, e.g. ``("en", "es")``."""

BACKENDS = ("auto", "argos", "apertium")
"""Names :func:`open_translator` accepts."""


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


_C = TypeVar("_C", bound="_Closing")


class _Closing:
    """Context-manager support for translators with a ``close()``."""

    def close(self) -> None:  # pragma: no cover - overridden
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


class IdentityTranslator(_Closing):
    """A fake translator: returns the text unchanged (or tagged ``"[es] text"`` with ``tag``).

    ``pairs`` are the pairs it claims (default: every pair; then it never raises). ``calls``
    records every ``(text, source, target)`` it was asked, so tests can count backend calls.
    """

    def __init__(self, pairs: Iterable[LanguagePair] | None = None, *, tag: bool = False) -> None:
        self._pairs = None if pairs is None else frozenset(pairs)
        self._tag = tag
        self.calls: list[tuple[str, str, str]] = []

    def pairs(self) -> frozenset[LanguagePair]:
        """The pairs given at construction (empty when it accepts every pair)."""
        return self._pairs if self._pairs is not None else frozenset()

    def translate(self, text: str, source: str, target: str) -> str:
        """``text`` itself, or ``"[target] text"`` when tagging."""
        if self._pairs is not None:
            check_pair(self._pairs, source, target, backend="identity")
        self.calls.append((text, source, target))
        source, target = normalize_language(source), normalize_language(target)
        if self._tag and source != target:
            return f"[{target}] {text}"
        return text

    def close(self) -> None:
        """Nothing to release."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CacheStats:
    """How a :class:`CachedTranslator` has been used."""

    hits: int
    misses: int
    size: int
    maxsize: int


class CachedTranslator(_Closing):
    """A least-recently-used cache in front of another translator.

    Keys are ``(source, target, text)`` with the text stripped; empty text is returned
    as is without asking the backend. Safe to share between threads (the backend call is
    made outside the lock, so two threads may translate the same new line once each).
    """

    def __init__(self, inner: Translator, *, maxsize: int = 1024) -> None:
        if maxsize < 0:
            raise ValueError(f"maxsize must be >= 0, got {maxsize}")
        self.inner = inner
        self.maxsize = maxsize
        self._cache: OrderedDict[tuple[str, str, str], str] = OrderedDict()
        self._lock = threading.Lock()
        self._hits = 0
        self._misses = 0

    def pairs(self) -> frozenset[LanguagePair]:
        """The inner translator's pairs."""
        return self.inner.pairs()

    def translate(self, text: str, source: str, target: str) -> str:
        """The cached translation, or the inner translator's (then remembered)."""
        key = (normalize_language(source), normalize_language(target), text.strip())
        if not key[2]:
            return ""
        with self._lock:
            found = self._cache.get(key)
            if found is not None:
                self._cache.move_to_end(key)
                self._hits += 1
                return found
            self._misses += 1
        result = self.inner.translate(key[2], key[0], key[1])
        if self.maxsize:
            with self._lock:
                self._cache[key] = result
                self._cache.move_to_end(key)
                while len(self._cache) > self.maxsize:
                    self._cache.popitem(last=False)
        return result

    def stats(self) -> CacheStats:
        """Hits, misses and current size."""
        with self._lock:
            return CacheStats(
                hits=self._hits, misses=self._misses, size=len(self._cache), maxsize=self.maxsize
            )

    def clear(self) -> None:
        """Forget every cached translation."""
        with self._lock:
            self._cache.clear()

    def close(self) -> None:
        """Close the inner translator."""
        self.inner.close()


class RoutingTranslator(_Closing):
    """Several translators as one: each pair goes to the first translator that has it.

    ``open_translator("auto")`` builds one over Argos (first: neural, better where a pack is
    installed) and apertium.
    """

    def __init__(self, translators: Sequence[Translator]) -> None:
        self.translators = tuple(translators)

    def pairs(self) -> frozenset[LanguagePair]:
        """Every pair any of the translators has."""
        result: set[LanguagePair] = set()
        for translator in self.translators:
            result |= translator.pairs()
        return frozenset(result)

    def translate(self, text: str, source: str, target: str) -> str:
        """Translate with the first translator listing the pair."""
        pair = (normalize_language(source), normalize_language(target))
        if pair[0] == pair[1]:
            return text
        for translator in self.translators:
            if pair in translator.pairs():
                return translator.translate(text, pair[0], pair[1])
        check_pair(self.pairs(), *pair, backend="installed")
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        """Close every translator (all of them, even if one fails)."""
        errors: list[BaseException] = []
        for translator in self.translators:
            try:
                translator.close()
            except Exception as exc:  # close the others first, then report
                errors.append(exc)
        if errors:
            raise errors[0]


class MultiTranslator:
    """Translates one committed text into several target languages at once.

    Every pair is checked when it is built (unless ``check`` is false, for a translator
    that cannot list its pairs), so a missing pair is reported before the first caption,
    with the installed pairs. A target equal to ``source`` is skipped.
    """

    def __init__(
        self,
        translator: Translator,
        *,
        source: str,
        targets: Iterable[str],
        check: bool = True,
    ) -> None:
        self.translator = translator
        self.source = normalize_language(source)
        wanted: list[str] = []
        for target in targets:
            code = normalize_language(target)
            if code != self.source and code not in wanted:
                wanted.append(code)
        self.targets = tuple(wanted)
        if check:
            available = translator.pairs()
            for target in self.targets:
                check_pair(available, self.source, target, backend="installed")

    def translate(self, text: str) -> dict[str, str]:
        """``{target: translation}`` for every target, in the order given."""
        return {
            target: self.translator.translate(text, self.source, target) for target in self.targets
        }


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
