"""A scripted generator: the fast, deterministic backend of the unit tests.

It produces pre-written continuations piece by piece, with an optional
per-piece delay so that budget and cancellation logic can be tested in
milliseconds, and it records every prompt it is given.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence

from npc_ai.errors import BackendError
from npc_ai.generation import SamplingParams

__all__ = ["ScriptedGenerator"]

_PIECE = re.compile(r"\s*\S+|\s+")


class ScriptedGenerator:
    """Answers each prompt with the next scripted continuation.

    ``script`` is either a sequence of continuations, used in turn and
    cycled, or a function of the prompt. Continuations are raw model output:
    they may contain line breaks or role markers, which the dialogue core
    must cut. Pieces are words with their leading space, as a tokenizer
    would give them. ``fail_after`` raises :class:`BackendError` after that
    many pieces, to test error paths.

    A choice (``params.choices``) does not use the script: ``choose(prompt,
    choices)`` picks the answer (by default the first choice) and it comes
    as one piece. A rule that answers something not among the choices is a
    :class:`BackendError`, as a broken backend would be.
    """

    def __init__(
        self,
        script: Sequence[str] | Callable[[str], str] = ("Well met, traveller.",),
        *,
        delay: float = 0.0,
        context_size: int = 2048,
        fail_after: int | None = None,
        choose: Callable[[str, tuple[str, ...]], str] | None = None,
    ) -> None:
        if not callable(script) and not script:
            raise ValueError("script needs at least one continuation")
        self._script = script
        self._delay = delay
        self._context_size = context_size
        self._fail_after = fail_after
        self._choose = choose
        self._turn = 0
        self._closed = False
        self._lock = threading.Lock()
        self.prompts: list[str] = []
        self.params: list[SamplingParams] = []
        self.pieces_emitted = 0
        self.prefilled: list[str] = []

    @property
    def context_size(self) -> int:
        return self._context_size

    def count_tokens(self, text: str) -> int:
        # Close enough to a subword tokenizer for budget logic: ~4 chars/token.
        return max(1, (len(text) + 3) // 4) if text else 0

    def _next_continuation(self, prompt: str) -> str:
        with self._lock:
            self.prompts.append(prompt)
            if callable(self._script):
                return self._script(prompt)
            text = self._script[self._turn % len(self._script)]
            self._turn += 1
            return text

    def generate(self, prompt: str | Sequence[str], params: SamplingParams) -> Iterator[str]:
        if self._closed:
            raise BackendError("the generator is closed")
        if not isinstance(prompt, str):
            prompt = "".join(prompt)
        self.params.append(params)
        if params.choices:
            with self._lock:
                self.prompts.append(prompt)
            pick = self._choose(prompt, params.choices) if self._choose else params.choices[0]
            if pick not in params.choices:
                raise BackendError(f"the scripted choice {pick!r} is not one of the choices")
            return self._pieces(pick, params, whole=True)
        text = self._next_continuation(prompt)
        return self._pieces(text, params)

    def _pieces(self, text: str, params: SamplingParams, *, whole: bool = False) -> Iterator[str]:
        pieces = [text] if whole else _PIECE.findall(text)[: params.max_tokens]
        for index, piece in enumerate(pieces):
            if self._fail_after is not None and index >= self._fail_after:
                raise BackendError("scripted failure", after=index)
            if self._delay:
                time.sleep(self._delay)
            self.pieces_emitted += 1
            yield piece

    def choice_scores(self, prompt: Sequence[str], choices: Sequence[str]) -> tuple[float, ...]:
        """A flat score for every choice: the fake has no preferences to calibrate."""
        if self._closed:
            raise BackendError("the generator is closed")
        return tuple(0.0 for _ in choices)

    def prefill(self, prompt: Sequence[str]) -> None:
        if self._closed:
            raise BackendError("the generator is closed")
        self.prefilled.append("".join(prompt))

    def close(self) -> None:
        self._closed = True
