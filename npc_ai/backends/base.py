"""The protocol every text generator implements."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

__all__ = ["Generator", "SamplingParams"]


@dataclass(frozen=True, slots=True, kw_only=True)
class SamplingParams:
    """How to sample one continuation.

    ``stop`` strings end the continuation; a backend may use them to stop
    early, but the dialogue core enforces them itself, so a backend that
    ignores them is still correct. ``seed`` makes a continuation reproducible
    for the same prompt, model and parameters; ``None`` draws a fresh one.
    """

    max_tokens: int = 64
    temperature: float = 0.7
    top_k: int = 40
    top_p: float = 0.95
    min_p: float = 0.05
    repeat_penalty: float = 1.1
    seed: int | None = None
    stop: tuple[str, ...] = ()
    # The first tokens may not end the line: a reply is never empty by
    # construction when the backend supports it.
    forbid_empty: bool = True


@runtime_checkable
class Generator(Protocol):
    """Produces a prompt's continuation as a stream of text pieces."""

    @property
    def context_size(self) -> int:
        """Tokens the backend can hold: prompt and continuation together."""
        ...

    def count_tokens(self, text: str) -> int:
        """Tokens ``text`` takes when it appears inside a prompt."""
        ...

    def generate(self, prompt: str | Sequence[str], params: SamplingParams) -> Iterator[str]:
        """Yield the continuation of ``prompt`` piece by piece.

        ``prompt`` may be given as segments whose concatenation is the text;
        a backend that caches computed prompts reuses them segment by segment.
        Closing the iterator early stops generation before the next token.
        """
        ...

    def prefill(self, prompt: Sequence[str]) -> None:
        """Compute ``prompt`` ahead of time so a generation that starts with it
        starts sooner. A backend without a cache does nothing."""
        ...

    def close(self) -> None:
        """Release the model. Further calls are errors."""
        ...
