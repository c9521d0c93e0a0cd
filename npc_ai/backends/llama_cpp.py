"""One conversation at a time with llama.cpp: the :class:`Generator` of the
synchronous dialogue API (:class:`npc_ai.dialogue.npc.Npc`).

It is the batched engine (:mod:`npc_ai.backends.llama_engine`) with a single
slot, driven by the caller's own iteration, so it shares its properties:

* prompts are tokenized with special-token parsing *off*, so text such as
  ``<start_of_turn>`` typed by a player is plain text, never a control token;
* the cache keeps the previous prompt and a new prompt reads only the
  segments that changed, in the same chunks whether cached or not, so the
  same seed gives the same reply from a cold or a warm cache;
* the first tokens may not end the line, so a reply is never empty;
* closing the stream stops generation before the next token.

One generator serves one stream at a time; other threads wait for it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from dataclasses import replace

from npc_ai.backends._llama import LlamaOptions, default_threads
from npc_ai.backends.llama_engine import EngineOptions, LlamaBatchEngine
from npc_ai.engine import Job
from npc_ai.errors import BackendError, InputError
from npc_ai.generation import SamplingParams
from npc_ai.models.cache import Progress, resolve_model
from npc_ai.models.manifest import DEFAULT_MODEL

__all__ = ["LlamaCppGenerator", "LlamaOptions", "default_threads"]

_KEY = "conversation"


class LlamaCppGenerator:
    """A GGUF model loaded with llama.cpp, generating one stream at a time."""

    def __init__(self, model_path: str | os.PathLike[str], *, options: LlamaOptions | None = None):
        self.options = options = options or LlamaOptions()
        self.engine = LlamaBatchEngine(
            model_path,
            options=EngineOptions(
                slots=1,
                max_active=1,
                prefill_chunk=options.batch_size,
                keep_generated=False,  # a seed reproduces a conversation
                llama=options,
            ),
        )
        self.model_path = self.engine.model.path
        self._lock = threading.Lock()
        self._owner: int | None = None
        self._closed = False

    @classmethod
    def from_default(
        cls, *, options: LlamaOptions | None = None, progress: Progress | None = None
    ) -> LlamaCppGenerator:
        """Load the default dialogue model (resolved and verified by :mod:`npc_ai.models.cache`)."""
        return cls(resolve_model(DEFAULT_MODEL, progress=progress), options=options)

    # -- the Generator protocol ------------------------------------------------

    @property
    def context_size(self) -> int:
        return self.engine.context_size

    def count_tokens(self, text: str) -> int:
        return self.engine.count_tokens(text)

    def tokenize(self, text: str, *, add_bos: bool) -> list[int]:
        """Token ids of ``text``; special-token markup is read as plain text."""
        self._check_open()
        return self.engine.model.tokenize(text, add_bos=add_bos)

    def generate(self, prompt: str | Sequence[str], params: SamplingParams) -> Iterator[str]:
        """Stream the continuation of ``prompt`` (text, or segments to cache by)."""
        self._check_open()
        if self._owner == threading.get_ident():
            raise BackendError(
                "this thread already has a generation open on this model; "
                "finish or close it before starting another"
            )
        segments = (prompt,) if isinstance(prompt, str) else tuple(prompt)
        if params.max_tokens < 1:
            raise InputError("max_tokens must be at least 1")
        job = Job(key=_KEY, segments=segments, params=params)
        with self._lock:  # the engine's token cache belongs to one thread at a time
            self.engine.check(job)  # fails here, not at the first piece
        return self._stream(job)

    def choice_scores(self, prompt: Sequence[str], choices: Sequence[str]) -> tuple[float, ...]:
        """Each of ``choices``' logit where they first part ways after ``prompt``
        (segments, as for :meth:`generate`); empty if one choice needs no reading."""
        self._check_open()
        job = Job(key=_KEY, segments=tuple(prompt), params=SamplingParams(choices=tuple(choices)))
        with self._lock:
            self.engine.check(job)
        ends: list[tuple[float, ...] | None] = []
        for _ in self._stream(job, ends):
            pass
        return ends[0] or () if ends else ()

    def prefill(self, prompt: Sequence[str]) -> None:
        """Read ``prompt`` (segments, as for :meth:`generate`) into the cache now."""
        self._check_open()
        job = Job(key=_KEY, segments=tuple(prompt), params=replace(SamplingParams(), max_tokens=0))
        for _ in self._stream(job):
            pass

    def reset_cache(self) -> None:
        """Forget the cached prompt: the next generation reads its prompt in full."""
        with self._lock:
            self._check_open()
            self.engine.reset()

    @property
    def cached_tokens(self) -> int:
        """Tokens of the conversation held in the cache now."""
        return self.engine.cached_tokens(_KEY)

    def close(self) -> None:
        """Free the model. Safe to call twice."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self.engine.close()

    def __enter__(self) -> LlamaCppGenerator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise BackendError("the model is closed")

    def _stream(
        self, job: Job, ends: list[tuple[float, ...] | None] | None = None
    ) -> Iterator[str]:
        with self._lock:
            self._check_open()
            self._owner = threading.get_ident()
            engine = self.engine
            engine.submit(job)
            try:
                while True:
                    for piece in engine.step():
                        if piece.error is not None:
                            raise piece.error
                        if piece.text:
                            yield piece.text
                        if piece.end is not None:
                            if ends is not None:
                                ends.append(piece.scores)
                            return
            finally:
                engine.cancel(job.id)
                self._owner = None
