"""The runtime's worker side: reply turns run as engine jobs, pieces become events.

Every step of a reply (clean-up, retries, translation, structured choices,
calibration) is a :class:`~npc_ai.dialogue.turn.ReplyTurn`; the scheduler
only submits each job the turn hands out to the :class:`~npc_ai.engine.Engine`,
feeds the pieces back, and turns what the turn returns into events for the
game. It runs on the runtime's worker thread (or inside ``update`` in stepped
mode) and never on two threads at once.
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from npc_ai.dialogue.npc import Npc
from npc_ai.dialogue.turn import ReplyTurn, SummaryWriter, TurnJob
from npc_ai.engine import Engine, Job, Piece, Priority
from npc_ai.errors import BackendError, NpcAiError
from npc_ai.runtime.events import Event, ReplyDelta, ReplyDone, ReplyError, ReplyHandle

__all__ = ["Scheduler", "Talk"]

log = logging.getLogger(__name__)


@dataclass(slots=True, eq=False)
class Talk:
    """One reply as the runtime sees it: who asked, who listens, and its turn."""

    handle: ReplyHandle
    npc: Npc
    line: str
    seed: int
    priority: Priority
    listeners: tuple[Npc, ...] = ()
    #: Interrupted by a newer line: not remembered, so the history stays in order.
    superseded: bool = False
    turn: ReplyTurn | None = None
    job: int = 0  # the engine job running the turn's current job
    current: TurnJob | None = field(default=None, repr=False)


class Scheduler:
    """Runs reply turns, memory summaries and prefills on one engine.

    ``state`` guards NPC histories and memory (the game thread reads them);
    ``emit`` receives each event with its handle; ``forget`` is told when a
    talk is over.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        state: threading.Lock,
        emit: Callable[[Event, ReplyHandle], None],
        forget: Callable[[Talk], None],
    ) -> None:
        self.engine = engine
        self._state = state
        self._emit = emit
        self._forget_talk = forget
        self._talks: dict[int, Talk] = {}  # by engine job id
        self._by_reply: dict[int, Talk] = {}
        self._summaries: dict[int, SummaryWriter] = {}  # by engine job id
        self._prefills: dict[int, concurrent.futures.Future[None]] = {}
        #: Moving average of one engine step in milliseconds (stepped mode sizes its budget on it).
        self.step_ms = 0.0

    # -- commands -------------------------------------------------------------------------

    def start(self, talk: Talk) -> None:
        """Build the reply's prompt (it tokenizes: never on the game thread) and run it."""
        try:
            with self._state:
                prompt = talk.npc.begin_turn(talk.line)
                self._overheard(talk, "player", talk.line)
            talk.turn = ReplyTurn(talk.npc, prompt, talk.seed)
        except NpcAiError as exc:  # an interpreter that failed, say: this reply fails alone
            self._fail(talk, exc)
            return
        self._by_reply[talk.handle.id] = talk
        self._submit(talk)

    def cancel(self, reply: int) -> None:
        talk = self._by_reply.get(reply)
        if talk is not None and talk.turn is not None:
            self.engine.cancel(talk.job)
            talk.turn.cancel()
            self._finish(talk)

    def reprioritize(self, npc_id: str, priority: Priority) -> None:
        for talk in self._talks.values():
            if talk.handle.npc == npc_id:
                talk.priority = priority
                self.engine.reprioritize(talk.job, priority)

    def prefill(self, job: Job, future: concurrent.futures.Future[None]) -> None:
        self._prefills[job.id] = future
        self.engine.submit(job)

    def cancel_prefills(self) -> None:
        for future in self._prefills.values():
            future.cancel()

    # -- one model step -------------------------------------------------------------------

    def step(self, closing: Callable[[], bool]) -> None:
        """Run one engine step and hand its pieces on."""
        started = time.perf_counter()
        try:
            pieces = self.engine.step()
        except Exception as exc:  # a bug or a dying engine: fail the replies, go on
            log.exception("engine step failed")
            error = exc if isinstance(exc, NpcAiError) else BackendError(f"engine failed: {exc}")
            for talk in list(self._by_reply.values()):
                self._fail(talk, error)
            for future in self._prefills.values():
                future.set_exception(error)
            self._prefills.clear()
            return
        if closing():
            return  # an aborted step: its replies are cancelled by close()
        elapsed = (time.perf_counter() - started) * 1000
        self.step_ms = elapsed if not self.step_ms else 0.8 * self.step_ms + 0.2 * elapsed
        for piece in pieces:
            running = self._talks.get(piece.job)
            if running is not None:
                self._on_piece(running, piece)
            elif piece.job in self._summaries:
                self._on_summary(piece)
            elif piece.end is not None and piece.job in self._prefills:
                future = self._prefills.pop(piece.job)
                if piece.error is not None:
                    future.set_exception(piece.error)
                else:
                    future.set_result(None)

    # -- reply turns ----------------------------------------------------------------------

    def _submit(self, talk: Talk) -> None:
        assert talk.turn is not None
        job = talk.turn.job
        assert job is not None
        npc_id = talk.handle.npc
        engine_job = Job(
            # A job's slot keeps its own cache (calibration, summary); a reply's
            # choices share the reply's, whose prompt they extend.
            key=f"{npc_id}\x00{job.slot}" if job.slot else npc_id,
            segments=job.segments,
            params=job.params,
            priority=Priority.BACKGROUND if job.background else talk.priority,
        )
        talk.job, talk.current = engine_job.id, job
        self._talks[engine_job.id] = talk
        self.engine.submit(engine_job)

    def _on_piece(self, talk: Talk, piece: Piece) -> None:
        turn, job = talk.turn, talk.current
        assert turn is not None and job is not None
        out = ""
        try:
            if piece.error is not None:
                if job.kind != "calibration":
                    self._fail(talk, piece.error)
                    return
                turn.calibration_failed(piece.error)
            elif job.kind == "calibration":
                if piece.end is None:
                    return
                turn.take_scores(piece.scores)
            else:
                out = turn.feed(piece.text) if piece.text else ""
                if turn.job is job and piece.end is not None:
                    out += turn.end(piece.end)
        except NpcAiError as exc:  # the backend chose a string that is not a choice
            self._fail(talk, exc)
            return
        if out:
            self._emit(ReplyDelta(talk.handle.npc, talk.handle.id, out), talk.handle)
        if turn.job is job:
            return
        del self._talks[piece.job]
        if piece.end is None and piece.error is None:
            self.engine.cancel(piece.job)  # the line ended: stop the model now
        if turn.done:
            self._finish(talk)
        else:
            self._submit(talk)

    def _finish(self, talk: Talk) -> None:
        turn = talk.turn
        assert turn is not None and turn.finish_reason is not None
        self._forget(talk)
        with self._state:
            if not talk.superseded:
                talk.npc.end_turn(turn.original)
                if turn.original:
                    self._overheard(talk, talk.handle.npc, turn.original)
                    self._start_summary(talk.handle.npc, talk.npc)
        done = ReplyDone(
            talk.handle.npc, talk.handle.id, turn.text, turn.finish_reason, turn.structured
        )
        self._emit(done, talk.handle)
        if not talk.handle.future.done():
            talk.handle.future.set_result(turn.text)

    def _fail(self, talk: Talk, error: NpcAiError) -> None:
        self._forget(talk)
        if talk.job:
            self.engine.cancel(talk.job)
        self._emit(ReplyError(talk.handle.npc, talk.handle.id, error), talk.handle)
        if not talk.handle.future.done():
            talk.handle.future.set_exception(error)

    def _forget(self, talk: Talk) -> None:
        self._talks.pop(talk.job, None)
        self._by_reply.pop(talk.handle.id, None)
        self._forget_talk(talk)

    def _overheard(self, talk: Talk, speaker: str, text: str) -> None:
        for listener in talk.listeners:
            if listener.memory is not None:
                listener.memory.heard(text, speaker=speaker, source=f"earshot:{talk.handle.npc}")

    # -- memory summaries -----------------------------------------------------------------

    def _start_summary(self, npc_id: str, npc: Npc) -> None:
        """Have the model write the NPC's memory summary in the background, when due."""
        if any(writer.npc is npc for writer in self._summaries.values()):
            return
        writer = npc.summary()
        if writer is None:
            return
        job = Job(
            key=f"{npc_id}\x00{writer.job.slot}",
            segments=writer.job.segments,
            params=writer.job.params,
            priority=Priority.BACKGROUND,
        )
        self._summaries[job.id] = writer
        self.engine.submit(job)

    def _on_summary(self, piece: Piece) -> None:
        writer = self._summaries[piece.job]
        if piece.error is not None:
            log.warning("a memory summary failed: %s", piece.error)
            del self._summaries[piece.job]
            return
        complete = writer.feed(piece.text or "")
        if piece.end is None and not complete:
            return
        del self._summaries[piece.job]
        if piece.end is None:
            self.engine.cancel(piece.job)
        with self._state:
            writer.finish()
