"""Stepped generation of many replies at once: the contract between the
runtime and a backend.

An :class:`Engine` takes :class:`Job` s and advances all of them together,
one :meth:`Engine.step` at a time, returning the text each produced as
:class:`Piece` s. Steps are short (one model call), so whoever drives the
engine can cancel, reprioritise or stop between two of them. The runtime
drives it from a worker thread, or from the game thread in stepped mode.

:class:`SerialEngine` runs any :class:`~npc_ai.generation.Generator` one
job after another: the baseline the batched llama.cpp engine is measured
against, and, on the scripted fake, the engine of the fast tests.
"""

from __future__ import annotations

import itertools
from collections.abc import Hashable, Iterator
from dataclasses import dataclass, field, replace
from enum import IntEnum
from typing import Protocol

from npc_ai.errors import BackendError, NpcAiError
from npc_ai.generation import Generator, SamplingParams

__all__ = ["Engine", "Job", "Piece", "Priority", "SerialEngine"]

_job_ids = itertools.count(1)


class Priority(IntEnum):
    """Who is served first: lower values go first."""

    #: The NPC the player is talking to.
    FOCUSED = 0
    #: NPCs near the player.
    NEARBY = 1
    #: Chatter the player may overhear.
    BACKGROUND = 2


@dataclass(frozen=True, slots=True, kw_only=True)
class Job:
    """One reply to generate.

    ``key`` names the conversation (an NPC): its cached prompt stays with it
    between jobs. ``segments`` is the prompt in cacheable parts (see
    :class:`~npc_ai.dialogue.prompt.PromptParts`). A job with ``params.max_tokens ==
    0`` only reads its prompt into the cache.
    """

    key: Hashable
    segments: tuple[str, ...]
    params: SamplingParams
    priority: Priority = Priority.NEARBY
    id: int = field(default_factory=lambda: next(_job_ids))


@dataclass(frozen=True, slots=True)
class Piece:
    """Text a job produced in one step.

    ``end`` is None while the job goes on; otherwise why it ended:
    ``"stop"`` (the model ended it), ``"length"`` (``max_tokens``),
    ``"prefilled"`` (a prompt-only job is cached) or ``"error"`` (then
    ``error`` says what went wrong). The last piece of a choice job may carry
    ``scores``: each choice's logit where the choices first part ways (see
    :func:`npc_ai.dialogue.structured.calibrate`).
    """

    job: int
    text: str
    end: str | None = None
    error: NpcAiError | None = None
    scores: tuple[float, ...] | None = None


class Engine(Protocol):
    """Advances many jobs at once, one short step at a time.

    Every method but :meth:`abort` and :meth:`count_tokens` is called from
    one thread, the one that drives the engine.
    """

    @property
    def context_size(self) -> int:
        """Tokens one conversation can hold: prompt and reply together."""
        ...

    def count_tokens(self, text: str) -> int:
        """Tokens ``text`` takes in a prompt. Safe from any thread."""
        ...

    def submit(self, job: Job) -> None:
        """Queue ``job``; it starts at a later step, by priority."""
        ...

    def cancel(self, job_id: int) -> None:
        """Drop a queued or running job; it produces nothing more."""
        ...

    def reprioritize(self, job_id: int, priority: Priority) -> None: ...

    @property
    def busy(self) -> bool:
        """True while any job is queued or running."""
        ...

    def step(self) -> list[Piece]:
        """Run one model call for the running jobs; return what they produced."""
        ...

    def abort(self) -> None:
        """From any thread: make a step in progress return as soon as it can.

        Only for shutting down: the engine is closed next.
        """
        ...

    def preempt(self) -> None:
        """From any thread: cut a step in progress short for a job of higher
        priority; the engine runs the cut work again later."""
        ...

    def close(self) -> None: ...


@dataclass(slots=True, eq=False)
class _Running:
    job: Job
    stream: Iterator[str]
    produced: int = 0


class SerialEngine:
    """Jobs one after another on a :class:`Generator`, one piece per step.

    The first step of a job includes reading its whole prompt, so steps are
    not short; the batched llama.cpp engine is the one to use in a game.
    """

    def __init__(self, generator: Generator) -> None:
        self.generator = generator
        self._queue: list[Job] = []
        self._current: _Running | None = None

    @property
    def context_size(self) -> int:
        return self.generator.context_size

    def count_tokens(self, text: str) -> int:
        return self.generator.count_tokens(text)

    def submit(self, job: Job) -> None:
        self._queue.append(job)

    def cancel(self, job_id: int) -> None:
        self._queue = [j for j in self._queue if j.id != job_id]
        if self._current is not None and self._current.job.id == job_id:
            self._close_current()

    def reprioritize(self, job_id: int, priority: Priority) -> None:
        self._queue = [replace(j, priority=priority) if j.id == job_id else j for j in self._queue]

    @property
    def busy(self) -> bool:
        return bool(self._queue) or self._current is not None

    def step(self) -> list[Piece]:
        if self._current is None:
            if not self._queue:
                return []
            job = min(self._queue, key=lambda j: (j.priority, j.id))
            self._queue.remove(job)
            if job.params.max_tokens == 0:
                self.generator.prefill(job.segments)
                return [Piece(job.id, "", "prefilled")]
            try:
                stream = self.generator.generate(job.segments, job.params)
            except NpcAiError as exc:
                return [Piece(job.id, "", "error", exc)]
            self._current = _Running(job, stream)
        run = self._current
        try:
            text = next(run.stream)
        except StopIteration:
            self._current = None
            params = run.job.params
            end = "length" if run.produced >= params.max_tokens and not params.choices else "stop"
            return [Piece(run.job.id, "", end)]
        except NpcAiError as exc:
            self._current = None
            return [Piece(run.job.id, "", "error", exc)]
        except Exception as exc:
            self._current = None
            return [Piece(run.job.id, "", "error", BackendError(f"generation failed: {exc}"))]
        run.produced += 1
        return [Piece(run.job.id, text)]

    def abort(self) -> None:
        """A serial step cannot be interrupted; it ends with its piece."""

    def preempt(self) -> None:
        """A serial step cannot be interrupted; it ends with its piece."""

    def _close_current(self) -> None:
        if self._current is not None:
            close = getattr(self._current.stream, "close", None)
            if close is not None:
                close()
            self._current = None

    def close(self) -> None:
        self._close_current()
        self._queue.clear()
        self.generator.close()
