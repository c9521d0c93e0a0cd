"""One NPC reply as a sans-I/O object: every step of a turn, written once.

A :class:`ReplyTurn` is given the prompt of the player's line and hands out
model jobs one at a time (:attr:`ReplyTurn.job`); whoever runs the model feeds
the output back (:meth:`~ReplyTurn.feed`, :meth:`~ReplyTurn.end`,
:meth:`~ReplyTurn.take_scores`) and shows the text these return. The turn
owns the clean-up filter and the guard, retries and the fallback line,
translation of the reply for the player, the once-per-NPC calibration of
structured replies and their emotion and action choices. It does no I/O and
never touches a model, so the synchronous :class:`~npc_ai.dialogue.npc.Reply`
(on a :class:`~npc_ai.generation.Generator`) and the game-loop
:class:`~npc_ai.runtime.Runtime` (on a batched :class:`~npc_ai.engine.Engine`)
drive the same steps::

    turn = ReplyTurn(npc, npc.begin_turn(line), seed)
    while (job := turn.job) is not None:
        if job.kind == "calibration":
            turn.take_scores(model.choice_scores(job.segments, job.params.choices))
            continue
        for piece in model.generate(job.segments, job.params):
            show(turn.feed(piece))
            if turn.job is not job:      # the line ended early: stop the model
                break
        else:
            show(turn.end("stop"))
    npc.end_turn(turn.original)          # the transcript keeps the NPC's own words

A memory summary due after the turn is a :class:`SummaryWriter`, run in the
background by the runtime and at once by a synchronous NPC.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from npc_ai.dialogue.prompt import PromptParts
from npc_ai.errors import NpcAiError
from npc_ai.generation import SamplingParams

if TYPE_CHECKING:
    from npc_ai.dialogue.cleanup import ReplyFilter
    from npc_ai.dialogue.interpret import SentenceTranslator
    from npc_ai.dialogue.npc import Npc
    from npc_ai.dialogue.structured import CalibrationSteps, StructuredReply, StructureSteps

__all__ = ["JobKind", "ReplyTurn", "SummaryWriter", "TurnJob"]

log = logging.getLogger(__name__)

#: ``"line"``: the reply itself; ``"choice"``: an emotion or action choice (one piece, the
#: chosen string); ``"calibration"``: read the choices' scores (:meth:`ReplyTurn.take_scores`);
#: ``"summary"``: a memory summary (:class:`SummaryWriter`).
JobKind = Literal["line", "choice", "calibration", "summary"]

# Filter reasons that end a line on the filter's own account; any other end is the model's.
_FILTER_ENDS = ("stop", "sentences", "blocked")


@dataclass(frozen=True, slots=True, eq=False)
class TurnJob:
    """One model job of a turn: continue ``segments`` with ``params``.

    ``slot`` names the cache the job belongs in: ``""`` is the NPC's own
    conversation (its prompt stays cached between turns), ``"calibration"``
    and ``"summary"`` keep their prompts out of it. ``background`` jobs may
    wait behind every reply.
    """

    kind: JobKind
    segments: tuple[str, ...]
    params: SamplingParams
    slot: str = ""
    background: bool = False


class ReplyTurn:
    """The steps of one reply, from the player's prompt to the finished line.

    :attr:`job` is the job to run now (``None`` once the reply is finished);
    :attr:`text` is what the player has been shown, :attr:`original` the line
    in the NPC's language, :attr:`structured` its emotion and action (for a
    structured NPC) and :attr:`finish_reason` why it ended (as
    :attr:`npc_ai.dialogue.npc.Reply.finish_reason`). An error of the
    backend's choices raises :class:`~npc_ai.errors.BackendError` from
    :meth:`end`; the driver fails the reply.
    """

    def __init__(self, npc: Npc, prompt: PromptParts, seed: int) -> None:
        self.npc = npc
        self.prompt = prompt
        self.seed = seed
        self.text = ""
        self.original = ""
        self.structured: StructuredReply | None = None
        self.finish_reason: str | None = None
        self.attempt = 0
        self.job: TurnJob | None = None
        self._filter: ReplyFilter | None = None
        self._stage: SentenceTranslator | None = None
        self._parts: list[str] = []
        self._steps: StructureSteps | None = None
        self._calibration: CalibrationSteps | None = None
        self._reason = ""  # why the line ended, kept while its emotion and action are chosen
        self._line_job()

    @property
    def done(self) -> bool:
        return self.finish_reason is not None

    # -- what the driver feeds back -----------------------------------------------------

    def feed(self, text: str) -> str:
        """A piece of the current job's output; returns text to show the player now."""
        job = self.job
        if job is None or job.kind == "calibration":
            return ""
        if job.kind != "line":
            self._parts.append(text)
            return ""
        filt = self._filter
        assert filt is not None
        out = self._shown(filt.feed(text) if text else "", last=filt.done)
        if filt.done:
            out += self._line_ended(filt.reason)
        return out

    def end(self, reason: str | None) -> str:
        """The current job ended (``reason`` as the engine's ``Piece.end``: ``"stop"``,
        ``"length"``...); returns text to show the player now."""
        job = self.job
        if job is None:
            return ""
        if job.kind == "line":
            filt = self._filter
            assert filt is not None
            out = self._shown(filt.finish(), last=True)
            return out + self._line_ended(filt.reason, reason)
        if job.kind == "choice":
            assert self._steps is not None
            chosen, self._parts = "".join(self._parts), []
            self._steps.take(chosen)  # a string that is not a choice: BackendError
            self._next_choice()
        return ""

    def take_scores(self, scores: Sequence[float] | None) -> None:
        """The result of a ``"calibration"`` job: each choice's score (``None`` when the
        backend reports none: the choice stays uncalibrated)."""
        calibration = self._calibration
        if self.job is None or self.job.kind != "calibration" or calibration is None:
            return
        calibration.take(tuple(scores or ()))
        if calibration.done:
            self.npc.calibrate_with(calibration.result)
            self._calibration = None
            self._start_choices()
        else:
            self._set_calibration_job()

    def calibration_failed(self, error: NpcAiError) -> None:
        """A ``"calibration"`` job failed: the choices go on uncalibrated."""
        log.warning(
            "calibrating %s failed (%s); its choices stay uncalibrated",
            self.npc.persona.name,
            error,
        )
        assert self.npc.structure is not None
        self.npc.calibrate_with(self.npc.structure)
        self._calibration = None
        self._start_choices()

    def cancel(self) -> None:
        """Stop here: what was said stays said."""
        self._finish("cancelled")

    # -- the steps ------------------------------------------------------------------------

    def _line_job(self) -> None:
        npc = self.npc
        self._filter = npc.reply_filter()
        self._stage = npc.interpreter.stream() if npc.interpreter is not None else None
        self.job = TurnJob("line", self.prompt.segments, npc.sampling(self.seed, self.attempt))

    def _shown(self, out: str, *, last: bool) -> str:
        """Record released text; return what the player sees of it now."""
        self.original += out
        stage = self._stage
        if stage is not None:  # the player hears it translated, sentence by sentence
            out = (stage.feed(out) if out else "") + (stage.finish() if last else "")
        self.text += out
        return out

    def _line_ended(self, filtered: str | None, model: str | None = None) -> str:
        """The line job is over: conclude, retry, or fall back."""
        if self.original:
            if filtered in _FILTER_ENDS:
                reason = filtered
            else:  # the model itself ended the line, or ran out of tokens
                reason = "stop" if model in (None, "prefilled") else model
            self._conclude(reason)
            return ""
        npc = self.npc
        if self.attempt < npc.options.retries:
            log.debug(
                "empty reply from %s (attempt %d); retrying", npc.persona.name, self.attempt + 1
            )
            self.attempt += 1
            self._line_job()
            return ""
        self.original = npc.options.fallback_reply
        interpreter = npc.interpreter
        self.text = interpreter.to_player(self.original) if interpreter else self.original
        self._conclude("fallback")
        return self.text

    def _conclude(self, reason: str) -> None:
        """The line is said: finish, after choosing its emotion and action if structured."""
        self._reason = reason
        self._filter = self._stage = None
        if self.npc.structure is None:
            self._finish(reason)
        elif self.npc.needs_calibration:
            self._calibration = self.npc.calibration()
            self._set_calibration_job()
        else:
            self._start_choices()

    def _set_calibration_job(self) -> None:
        assert self._calibration is not None
        segments, params = self._calibration.job()
        self.job = TurnJob("calibration", segments, params, slot="calibration")

    def _start_choices(self) -> None:
        structure = self.npc.structure
        assert structure is not None
        self._steps = structure.steps(self.prompt.segments, self.original)
        self._next_choice()

    def _next_choice(self) -> None:
        steps = self._steps
        assert steps is not None
        if steps.done:
            self.structured = steps.result
            self._finish(self._reason)
            return
        segments, params = steps.job()
        self.job = TurnJob("choice", segments, params)

    def _finish(self, reason: str) -> None:
        if self.finish_reason is None:
            self.finish_reason = reason
        self.job = None


class SummaryWriter:
    """The NPC's memory summary, written by the model: a one-job, sans-I/O turn.

    Run :attr:`job`, :meth:`feed` its pieces until it returns True (the
    summary's line is complete: stop the job) or the job ends, then
    :meth:`finish` keeps the summary.
    """

    def __init__(self, npc: Npc, prompt: str, params: SamplingParams, until: int) -> None:
        self.npc = npc
        self.until = until
        self.job = TurnJob("summary", (prompt,), params, slot="summary", background=True)
        self._text = ""

    def feed(self, text: str) -> bool:
        """A piece of the summary; True once its line is complete."""
        self._text += text
        return "\n" in self._text

    def finish(self) -> None:
        """Keep the summary (a summary that breaks the fiction is dropped)."""
        self.npc.finish_summary(self._text, self.until)
