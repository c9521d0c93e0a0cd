"""A synchronous reply: the steps of a :class:`~npc_ai.dialogue.turn.ReplyTurn`, run on the
NPC's :class:`~npc_ai.generation.Generator` as the caller iterates."""

from __future__ import annotations

import collections.abc
from collections.abc import Iterator
from typing import TYPE_CHECKING

from npc_ai.dialogue.prompt import PromptParts
from npc_ai.dialogue.turn import ReplyTurn, SummaryWriter, TurnJob
from npc_ai.errors import BackendError, NpcAiError
from npc_ai.generation import Generator

if TYPE_CHECKING:
    from npc_ai.dialogue.npc import Npc
    from npc_ai.dialogue.structured import StructuredReply

__all__ = ["Reply", "write_summary"]


class Reply(Iterator[str]):
    """One NPC reply, streamed as text pieces.

    Iterate to receive pieces as they are generated; :meth:`read` drains the
    rest and returns the whole line. After the end, :attr:`text` is the
    finished line and :attr:`finish_reason` says why it ended: ``"stop"``
    (the line ended), ``"sentences"`` (sentence limit), ``"length"`` (token
    limit), ``"blocked"`` (cut before a blocked phrase, see
    :mod:`npc_ai.dialogue.guard`), ``"fallback"`` (every attempt came out empty),
    ``"cancelled"`` or ``"error"`` (the backend failed: the error is raised from the iteration).

    The steps of the reply are a :class:`~npc_ai.dialogue.turn.ReplyTurn`; a
    ``Reply`` only runs its jobs on the NPC's generator.
    """

    def __init__(self, npc: Npc, prompt: PromptParts, seed: int) -> None:
        self._npc = npc
        self._turn = ReplyTurn(npc, prompt, seed)
        self.prompt = prompt
        self.seed = seed
        self._error = False
        self._pieces = self._run(npc._generator())

    @property
    def text(self) -> str:
        """What the player has been shown so far (the whole line after the end)."""
        return self._turn.text

    @property
    def original(self) -> str:
        """The reply in the NPC's own language (equal to :attr:`text` unless an
        interpreter translates it for the player)."""
        return self._turn.original

    @property
    def structured(self) -> StructuredReply | None:
        """The line with its emotion and action, for structured NPCs (after the end)."""
        return self._turn.structured

    @property
    def finish_reason(self) -> str | None:
        return "error" if self._error else self._turn.finish_reason

    @property
    def done(self) -> bool:
        return self.finish_reason is not None

    def __iter__(self) -> Reply:
        return self

    def __next__(self) -> str:
        try:
            return next(self._pieces)
        except StopIteration:
            raise
        except NpcAiError:
            self._fail()
            raise
        except Exception as exc:
            self._fail()
            raise BackendError(f"generation failed: {exc}") from exc

    def read(self) -> str:
        """Wait for the whole reply and return it."""
        for _ in self:
            pass
        return self.text

    def cancel(self) -> None:
        """Stop generating now. What was already said stays said."""
        if not self.done:
            self._pieces.close()
            self._turn.cancel()
            self._npc._commit(self)

    close = cancel

    def _fail(self) -> None:
        if not self.done:
            self._error = True
            self._turn.cancel()
            self._npc._commit(self)

    def _run(self, generator: Generator) -> collections.abc.Generator[str, None, None]:
        turn = self._turn
        while (job := turn.job) is not None:
            if job.kind == "calibration":
                _calibrate(turn, generator, job)
                continue
            stream = generator.generate(job.segments, job.params)
            produced = 0
            try:
                for raw in stream:
                    produced += 1
                    out = turn.feed(raw)
                    if out:
                        yield out
                    if turn.job is not job:  # the line ended: stop the model
                        break
                else:
                    limit = job.kind == "line" and produced >= job.params.max_tokens
                    out = turn.end("length" if limit else "stop")
                    if out:
                        yield out
            finally:
                close = getattr(stream, "close", None)
                if close is not None:
                    close()
        self._npc._commit(self)


def _calibrate(turn: ReplyTurn, generator: Generator, job: TurnJob) -> None:
    """Run a calibration reading on a generator that reports choice scores."""
    scorer = getattr(generator, "choice_scores", None)
    if scorer is None:  # a backend without scores: the choices stay uncalibrated
        turn.take_scores(None)
        return
    try:
        scores = scorer(job.segments, job.params.choices)
    except NpcAiError as exc:
        turn.calibration_failed(exc)
        return
    turn.take_scores(scores)


def write_summary(writer: SummaryWriter, generator: Generator) -> None:
    """Run a memory summary on ``generator`` at once, and keep it."""
    stream = generator.generate(writer.job.segments, writer.job.params)
    try:
        for piece in stream:
            if writer.feed(piece):
                break
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()
    writer.finish()
