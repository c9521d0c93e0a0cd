"""A fake translator for tests and for running without translation packs."""

from __future__ import annotations

from collections.abc import Iterable

from npc_ai.translation.contract import Closing, LanguagePair, check_pair, normalize_language

__all__ = ["IdentityTranslator"]


class IdentityTranslator(Closing):
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
