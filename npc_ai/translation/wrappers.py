"""Translators built on other translators: a cache, routing over several, several targets.

Only committed text should be translated (finals, never partials): a translation of a
partial flickers when the partial changes.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from npc_ai.translation.contract import (
    Closing,
    LanguagePair,
    Translator,
    check_pair,
    normalize_language,
)

__all__ = ["CacheStats", "CachedTranslator", "MultiTranslator", "RoutingTranslator"]


@dataclass(frozen=True, slots=True, kw_only=True)
class CacheStats:
    """How a :class:`CachedTranslator` has been used."""

    hits: int
    misses: int
    size: int
    maxsize: int


class CachedTranslator(Closing):
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

    @staticmethod
    def _key(text: str, source: str, target: str) -> tuple[str, str, str]:
        return normalize_language(source), normalize_language(target), text.strip()

    def peek(self, text: str, source: str, target: str) -> str | None:
        """The cached translation (counted as a hit), or None without asking the inner
        translator (then not counted: the :meth:`translate` that follows counts the miss)."""
        key = self._key(text, source, target)
        if not key[2]:
            return ""
        with self._lock:
            found = self._cache.get(key)
            if found is not None:
                self._cache.move_to_end(key)
                self._hits += 1
            return found

    def translate(self, text: str, source: str, target: str) -> str:
        """The cached translation, or the inner translator's (then remembered)."""
        found = self.peek(text, source, target)
        if found is not None:
            return found
        key = self._key(text, source, target)
        with self._lock:
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


class RoutingTranslator(Closing):
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
