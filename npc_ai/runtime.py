"""NPC dialogue inside a game loop: the game calls :meth:`Runtime.update` once a
frame and never waits for the model.

A pygame loop::

    from npc_ai.runtime import Priority, ReplyDelta, ReplyDone, Runtime

    with Runtime.from_default() as npcs:               # loads the model once
        smith = npcs.add_npc(load_persona("blacksmith.toml"), priority=Priority.FOCUSED)
        npcs.say(smith, "Can you mend my sword?")
        while running:
            for event in pygame.event.get():
                ...
            for event in npcs.update(dt):            # at most budget_ms on this thread
                if isinstance(event, ReplyDelta):
                    bubble[event.npc] += event.text
                elif isinstance(event, ReplyDone):
                    ...
            draw()
            clock.tick(60)

Generation runs on a worker thread, batched over every NPC that is talking
(see :mod:`npc_ai.backends.llama_engine`). ``update`` only hands over what the
worker produced, within a time budget. For hosts that allow no threads,
``RuntimeOptions(threaded=False)`` runs the model steps inside ``update``
instead, as many as fit in the budget.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from npc_ai.dialogue.cleanup import ReplyFilter
from npc_ai.dialogue.npc import DialogueOptions, Npc, new_seed
from npc_ai.dialogue.persona import Persona
from npc_ai.dialogue.prompt import PromptParts, Turn
from npc_ai.engine import Engine, Job, Piece, Priority
from npc_ai.errors import BackendError, InputError, NpcAiError
from npc_ai.generation import SamplingParams

if TYPE_CHECKING:
    from npc_ai.backends.llama_engine import EngineOptions
    from npc_ai.dialogue.interpret import Interpreter, SentenceTranslator
    from npc_ai.dialogue.structured import StructuredReply, StructureSteps
    from npc_ai.memory.npc_memory import MemoryOptions, NpcMemory
    from npc_ai.memory.store import MemoryStore

__all__ = [
    "Event",
    "Priority",
    "ReplyDelta",
    "ReplyDone",
    "ReplyError",
    "ReplyHandle",
    "Runtime",
    "RuntimeOptions",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class RuntimeOptions:
    """How the runtime shares the game's frame. Build once at the edge."""

    #: Most time :meth:`Runtime.update` spends on the game thread, in milliseconds.
    budget_ms: float = 1.0
    #: Generate on a worker thread (True) or inside ``update`` (False).
    threaded: bool = True
    #: How long :meth:`Runtime.close` waits for the worker, in seconds.
    close_timeout: float = 0.2

    def __post_init__(self) -> None:
        if self.budget_ms <= 0 or self.close_timeout <= 0:
            raise InputError("budget_ms and close_timeout must be positive")


@dataclass(frozen=True, slots=True)
class ReplyDelta:
    """More text of a reply. Pieces of one reply add up to its final text."""

    npc: str
    reply: int
    text: str


@dataclass(frozen=True, slots=True)
class ReplyDone:
    """A reply ended; ``finish_reason`` as in :class:`npc_ai.dialogue.npc.Reply`.

    For an NPC with ``DialogueOptions(structured=True)``, ``structured`` holds
    the line with its emotion and action (always among the persona's own).
    """

    npc: str
    reply: int
    text: str
    finish_reason: str
    structured: StructuredReply | None = None


@dataclass(frozen=True, slots=True)
class ReplyError:
    """A reply failed; the NPC keeps working and can be spoken to again."""

    npc: str
    reply: int
    error: NpcAiError


Event = ReplyDelta | ReplyDone | ReplyError

_reply_ids = itertools.count(1)


class ReplyHandle:
    """A reply on its way. Its state changes only inside :meth:`Runtime.update`.

    ``text`` is what has been delivered so far; ``future`` resolves with the
    final text (``await handle`` works in asyncio code).
    """

    def __init__(
        self,
        runtime: Runtime,
        npc: str,
        on_delta: Callable[[ReplyDelta], object] | None,
        on_done: Callable[[ReplyDone], object] | None,
        on_error: Callable[[ReplyError], object] | None,
    ) -> None:
        self.id = next(_reply_ids)
        self.npc = npc
        self.text = ""
        self.finish_reason: str | None = None
        self.future: concurrent.futures.Future[str] = concurrent.futures.Future()
        self._runtime = runtime
        self._callbacks = (on_delta, on_done, on_error)

    @property
    def done(self) -> bool:
        return self.finish_reason is not None

    def cancel(self) -> None:
        """Stop this reply within one model step; what was said stays said."""
        self._runtime._post(("cancel", self.id))

    def __await__(self) -> Generator[Any, None, str]:
        return asyncio.wrap_future(self.future).__await__()


@dataclass(slots=True, eq=False)
class _Turn:
    """A reply as the worker sees it."""

    handle: ReplyHandle
    npc: Npc
    line: str
    seed: int
    priority: Priority
    job: int = 0
    attempt: int = 0
    text: str = ""
    filter: ReplyFilter | None = None
    superseded: bool = False
    prompt: PromptParts | None = None
    listeners: tuple[Npc, ...] = ()
    original: str = ""  # the reply in the NPC's language (text is what the player sees)
    structured: StructuredReply | None = None
    stage: SentenceTranslator | None = None


@dataclass(slots=True, eq=False)
class _NpcEntry:
    npc: Npc
    priority: Priority
    turn: _Turn | None = None
    replies: list[ReplyHandle] = field(default_factory=list)


class Runtime:
    """Many NPCs, one model, a frame budget. See the module docstring for a loop."""

    def __init__(
        self,
        engine: Engine,
        *,
        options: RuntimeOptions | None = None,
        memory: MemoryStore | None = None,
        memory_options: MemoryOptions | None = None,
    ) -> None:
        self.engine = engine
        self.options = options or RuntimeOptions()
        #: Where NPCs keep long-term memory (None: only this session's lines).
        self.store = memory
        self._memory_options = memory_options
        self._npcs: dict[str, _NpcEntry] = {}
        self._state = threading.Lock()  # NPC histories and the table above
        self._commands: deque[tuple[Any, ...]] = deque()
        self._events: deque[tuple[Event, ReplyHandle]] = deque()
        self._wake = threading.Condition()
        self._turns: dict[int, _Turn] = {}  # by job id; worker side only
        self._by_reply: dict[int, _Turn] = {}  # worker side only
        self._prefills: dict[int, concurrent.futures.Future[None]] = {}  # worker side only
        # Emotion and action choices of structured replies, by job id.
        self._choices: dict[int, tuple[_Turn, StructureSteps, str, list[str]]] = {}
        # Once per structured NPC: (turn waiting, finish reason, emotion scores or None).
        self._calibrations: dict[int, tuple[_Turn, str, tuple[float, ...] | None]] = {}
        # Memory summaries being written, by job id: (NPC, last memory id, text so far).
        self._summaries: dict[int, tuple[Npc, int, list[str]]] = {}  # worker side only
        self._closing = False
        self._closed = False
        self._step_ms = 0.0  # moving average of one engine step (stepped mode)
        self._thread: threading.Thread | None = None
        if self.options.threaded:
            self._thread = threading.Thread(target=self._work, name="npc-ai-runtime", daemon=True)
            self._thread.start()

    @classmethod
    def from_default(
        cls,
        *,
        options: RuntimeOptions | None = None,
        engine_options: EngineOptions | None = None,
        memory: MemoryStore | None = None,
        memory_options: MemoryOptions | None = None,
    ) -> Runtime:
        """A runtime on the default dialogue model, batched with llama.cpp."""
        return cls.from_model(
            None,
            options=options,
            engine_options=engine_options,
            memory=memory,
            memory_options=memory_options,
        )

    @classmethod
    def from_model(
        cls,
        model: str | os.PathLike[str] | None,
        *,
        options: RuntimeOptions | None = None,
        engine_options: EngineOptions | None = None,
        memory: MemoryStore | None = None,
        memory_options: MemoryOptions | None = None,
    ) -> Runtime:
        """A runtime on a GGUF file (``None``: the default dialogue model), batched with
        llama.cpp. The file is checked before it is loaded: a missing or corrupt one is a
        :class:`~npc_ai.errors.ModelError` naming it."""
        from npc_ai.backends.llama_engine import LlamaBatchEngine
        from npc_ai.models import DEFAULT_MODEL
        from npc_ai.models.cache import resolve_model

        path = resolve_model(DEFAULT_MODEL, path=None if model is None else os.fspath(model))
        engine = LlamaBatchEngine(path, options=engine_options)
        return cls(engine, options=options, memory=memory, memory_options=memory_options)

    # -- the game's side ---------------------------------------------------------------

    def add_npc(
        self,
        persona: Persona,
        *,
        npc_id: str | None = None,
        priority: Priority = Priority.NEARBY,
        dialogue: DialogueOptions | None = None,
        interpreter: Interpreter | None = None,
    ) -> str:
        """Add an NPC; return its id (``npc_id``, or the persona's name).

        With a memory store, the NPC remembers what it heard under this id
        (across sessions, and in the game's save blobs).
        """
        self._check_open()
        npc_id = npc_id or persona.name
        memory = None
        if self.store is not None:
            from npc_ai.memory.npc_memory import NpcMemory

            memory = NpcMemory(
                self.store,
                npc_id,
                persona=persona,
                player=(dialogue or DialogueOptions()).player_name,
                options=self._memory_options,
            )
        npc = Npc(persona, self.engine, options=dialogue, memory=memory, interpreter=interpreter)
        with self._state:
            if npc_id in self._npcs:
                raise InputError(f"an NPC with id {npc_id!r} is already in the runtime")
            self._npcs[npc_id] = _NpcEntry(npc, priority)
        return npc_id

    def remove_npc(self, npc_id: str) -> None:
        """Remove an NPC; its reply in progress is cancelled."""
        entry = self._entry(npc_id)
        if entry.turn is not None:
            entry.turn.handle.cancel()
        with self._state:
            del self._npcs[npc_id]

    def history(self, npc_id: str) -> tuple[Turn, ...]:
        """What the NPC heard and said this session."""
        entry = self._entry(npc_id)
        with self._state:
            return entry.npc.history

    def memory(self, npc_id: str) -> NpcMemory:
        """The NPC's long-term memory (facts, relationship, sharing with others)."""
        memory = self._entry(npc_id).npc.memory
        if memory is None:
            raise InputError(
                "this runtime has no memory store; pass Runtime(memory=MemoryStore(...))"
            )
        return memory

    def export_memory(self, npc_ids: Sequence[str] | None = None) -> bytes:
        """The memory of these NPCs (default: every NPC in the store) as a save blob.

        Keep the bytes in the game's save slot; :meth:`import_memory` brings
        them back, so loading an older save rolls NPC memory back with the world.
        """
        if self.store is None:
            raise InputError(
                "this runtime has no memory store; pass Runtime(memory=MemoryStore(...))"
            )
        return self.store.export(npc_ids)

    def import_memory(self, blob: bytes, *, clear_others: bool = False) -> list[str]:
        """Replace the memory of the NPCs in ``blob`` with the blob's; return their ids.

        With ``clear_others``, NPCs the blob does not hold forget everything
        (loading a whole-world save). The NPCs whose memory changed have
        their replies in progress cancelled and their session transcripts
        cleared: they now remember what the save remembers. A corrupt blob
        raises :class:`~npc_ai.errors.MemoryFormatError` and changes nothing.
        """
        if self.store is None:
            raise InputError(
                "this runtime has no memory store; pass Runtime(memory=MemoryStore(...))"
            )
        loaded = self.store.import_(blob, clear_others=clear_others)
        with self._state:
            for npc_id in self._npcs if clear_others else loaded:
                entry = self._npcs.get(npc_id)
                if entry is None:
                    continue
                if entry.turn is not None:
                    entry.turn.superseded = True
                    self._post(("cancel", entry.turn.handle.id))
                entry.npc.reset()
                if entry.npc.memory is not None:
                    entry.npc.memory.reload()
        return loaded

    def set_priority(self, npc_id: str, priority: Priority) -> None:
        """Who goes first: the NPC the player talks to, then nearby ones, then chatter."""
        entry = self._entry(npc_id)
        entry.priority = priority
        self._post(("priority", npc_id, priority))

    def prepare(self, npc_id: str) -> concurrent.futures.Future[None]:
        """Read the NPC's persona into the cache now, so its first reply starts sooner.

        The future resolves when it is read (a loading screen can wait on it).
        """
        entry = self._entry(npc_id)
        job = Job(
            key=npc_id,
            segments=(entry.npc.prefix,),
            params=SamplingParams(max_tokens=0),
            priority=Priority.BACKGROUND,
        )
        future: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._post(("prefill", job, future))
        return future

    def say(
        self,
        npc_id: str,
        text: str,
        *,
        seed: int | None = None,
        on_delta: Callable[[ReplyDelta], object] | None = None,
        on_done: Callable[[ReplyDone], object] | None = None,
        on_error: Callable[[ReplyError], object] | None = None,
        heard_by: Sequence[str] = (),
    ) -> ReplyHandle:
        """The player says ``text`` to an NPC; its reply arrives through :meth:`update`.

        A reply of this NPC still in progress is cancelled first. Callbacks
        run on the game thread, inside ``update``. ``heard_by`` are NPCs
        within earshot: they remember the line and the reply as overheard
        (an NPC knows only what it heard).
        """
        self._check_open()
        entry = self._entry(npc_id)
        listeners = tuple(self._entry(other).npc for other in heard_by if other != npc_id)
        handle = ReplyHandle(self, npc_id, on_delta, on_done, on_error)
        line = entry.npc.check_line(text)  # bad input fails here, on the caller's thread
        with self._state:
            if entry.turn is not None:
                # Interrupted: the half-said line is not remembered, so the
                # history stays in the order things were said.
                entry.turn.superseded = True
                self._post(("cancel", entry.turn.handle.id))
            # The prompt is built on the worker: it tokenizes, which the game
            # thread should not wait for.
            turn = _Turn(
                handle,
                entry.npc,
                line,
                new_seed() if seed is None else seed,
                entry.priority,
                listeners=listeners,
            )
            entry.turn = turn
        if turn.priority == Priority.FOCUSED and self._thread is not None:
            # The player is waiting: the step under way is cut short (and run
            # again later) instead of finishing first.
            self.engine.preempt()
        self._post(("say", npc_id, turn))
        return handle

    def update(self, dt: float = 0.0) -> list[Event]:
        """Once a frame: deliver what the model produced, within ``budget_ms``.

        Returns the events delivered (and runs their callbacks). In stepped
        mode it also runs model steps here, as many as fit in the budget,
        and at least one when one step alone is longer than the budget.
        """
        del dt  # the budget is wall time, not game time
        started = time.perf_counter()
        budget = self.options.budget_ms / 1000
        if not self.options.threaded and not self._closed:
            self._drain_commands()
            ran = 0
            # Steps that fit the budget, and one in any case: otherwise NPCs
            # whose single step is longer than the budget would never talk.
            while self.engine.busy and (
                not ran or budget - (time.perf_counter() - started) >= self._step_ms / 1000
            ):
                self._run_step()
                ran += 1
        delivered: list[Event] = []
        while self._events:
            if delivered and time.perf_counter() - started >= budget:
                break
            event, handle = self._events.popleft()
            self._deliver(event, handle)
            delivered.append(event)
        return delivered

    def close(self) -> None:
        """Stop generating and free the model. Returns within ``close_timeout`` seconds."""
        if self._closed:
            return
        self._closing = True
        self.engine.abort()
        with self._wake:
            self._wake.notify_all()
        thread = self._thread
        if thread is not None:
            thread.join(self.options.close_timeout)
            if thread.is_alive():  # pragma: no cover - an engine step that ignores abort
                log.error("the runtime worker did not stop in time; leaving it to exit")
                self._closed = True
                return
        self.engine.close()
        self._closed = True
        with self._state:
            for entry in self._npcs.values():
                if entry.turn is not None and not entry.turn.handle.future.done():
                    entry.turn.handle.future.cancel()
        for future in self._prefills.values():
            future.cancel()

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing between the two sides ---------------------------------------------------

    def _entry(self, npc_id: str) -> _NpcEntry:
        try:
            return self._npcs[npc_id]
        except KeyError:
            known = ", ".join(sorted(self._npcs)) or "none"
            raise InputError(f"no NPC with id {npc_id!r} (known: {known})") from None

    def _check_open(self) -> None:
        if self._closing or self._closed:
            raise BackendError("the runtime is closed")

    def _post(self, command: tuple[Any, ...]) -> None:
        self._commands.append(command)
        if self._thread is not None:
            with self._wake:
                self._wake.notify()

    def _emit(self, event: Event, handle: ReplyHandle) -> None:
        self._events.append((event, handle))

    def _deliver(self, event: Event, handle: ReplyHandle) -> None:
        on_delta, on_done, on_error = handle._callbacks
        if isinstance(event, ReplyDelta):
            handle.text += event.text
            if on_delta is not None:
                on_delta(event)
        elif isinstance(event, ReplyDone):
            handle.text, handle.finish_reason = event.text, event.finish_reason
            if on_done is not None:
                on_done(event)
        else:
            handle.finish_reason = "error"
            if on_error is not None:
                on_error(event)

    # -- the worker's side -----------------------------------------------------------------

    def _work(self) -> None:
        while not self._closing:
            with self._wake:
                while not self._commands and not self.engine.busy and not self._closing:
                    self._wake.wait()
            if self._closing:
                break
            self._drain_commands()
            if self.engine.busy:
                self._run_step()

    def _run_step(self) -> None:
        started = time.perf_counter()
        try:
            pieces = self.engine.step()
        except Exception as exc:  # a bug or a dying engine: fail the replies, go on
            log.exception("engine step failed")
            error = exc if isinstance(exc, NpcAiError) else BackendError(f"engine failed: {exc}")
            for failed in list(self._turns.values()):
                self._fail(failed, error)
            for future in self._prefills.values():
                future.set_exception(error)
            self._prefills.clear()
            return
        if self._closing:
            return  # an aborted step: its replies are cancelled by close()
        elapsed = (time.perf_counter() - started) * 1000
        self._step_ms = elapsed if not self._step_ms else 0.8 * self._step_ms + 0.2 * elapsed
        for piece in pieces:
            turn = self._turns.get(piece.job)
            if turn is not None:
                self._on_piece(turn, piece)
            elif piece.job in self._choices:
                self._on_choice(piece)
            elif piece.job in self._calibrations:
                self._on_calibration(piece)
            elif piece.job in self._summaries:
                self._on_summary(piece)
            elif piece.end is not None and piece.job in self._prefills:
                future = self._prefills.pop(piece.job)
                if piece.error is not None:
                    future.set_exception(piece.error)
                else:
                    future.set_result(None)

    def _drain_commands(self) -> None:
        while self._commands:
            command = self._commands.popleft()
            kind = command[0]
            if kind == "say":
                self._start(command[2])
            elif kind == "cancel":
                turn = self._by_reply.get(command[1])
                if turn is not None:
                    self.engine.cancel(turn.job)
                    self._finish(turn, "cancelled")
            elif kind == "priority":
                for turn in self._turns.values():
                    if turn.handle.npc == command[1]:
                        turn.priority = command[2]
                        self.engine.reprioritize(turn.job, command[2])
            elif kind == "prefill":
                self._prefills[command[1].id] = command[2]
                self.engine.submit(command[1])

    def _start(self, turn: _Turn) -> None:
        if turn.prompt is None:
            with self._state:
                turn.prompt = turn.npc.begin_turn(turn.line)
                self._overheard(turn, "player", turn.line)
        turn.filter = turn.npc.reply_filter()
        interpreter = turn.npc.interpreter
        turn.stage = interpreter.stream() if interpreter is not None else None
        job = Job(
            key=turn.handle.npc,
            segments=turn.prompt.segments,
            params=turn.npc.sampling(turn.seed, turn.attempt),
            priority=turn.priority,
        )
        turn.job = job.id
        self._turns[job.id] = turn
        self._by_reply[turn.handle.id] = turn
        self.engine.submit(job)

    def _on_piece(self, turn: _Turn, piece: Piece) -> None:
        filt = turn.filter
        assert filt is not None
        if piece.error is not None:
            self._fail(turn, piece.error)
            return
        out = filt.feed(piece.text) if piece.text else ""
        if not filt.done and piece.end is not None:
            out += filt.finish()
        turn.original += out
        if turn.stage is not None:  # the player hears it translated, sentence by sentence
            out = (turn.stage.feed(out) if out else "") + (turn.stage.finish() if filt.done else "")
        if out:
            turn.text += out
            self._emit(ReplyDelta(turn.handle.npc, turn.handle.id, out), turn.handle)
        if filt.done and piece.end is None:
            self.engine.cancel(turn.job)  # the line ended: stop the model now
        if not filt.done:
            return
        if turn.original:
            reason = filt.reason if filt.reason in ("stop", "sentences", "blocked") else piece.end
            self._conclude(turn, "stop" if reason in (None, "prefilled") else reason)
        elif turn.attempt < turn.npc.options.retries:
            del self._turns[turn.job]
            turn.attempt += 1
            self._start(turn)
        else:
            turn.original = turn.npc.options.fallback_reply
            interpreter = turn.npc.interpreter
            turn.text = interpreter.to_player(turn.original) if interpreter else turn.original
            self._emit(ReplyDelta(turn.handle.npc, turn.handle.id, turn.text), turn.handle)
            self._conclude(turn, "fallback")

    def _conclude(self, turn: _Turn, reason: str) -> None:
        """The line is said: finish, after choosing its emotion and action if structured."""
        structure = turn.npc.structure
        if structure is None or turn.prompt is None:
            self._finish(turn, reason)
            return
        self._turns.pop(turn.job, None)
        if not turn.npc._calibrated:
            self._calibrate(turn, reason, None)
            return
        self._next_choice(turn, structure.steps(turn.prompt.segments, turn.original), reason)

    def _calibrate(self, turn: _Turn, reason: str, emotions: tuple[float, ...] | None) -> None:
        """Once per NPC, before its first structured choice: read each option's score
        after a content-free exchange (emotion, then action), to subtract later."""
        from npc_ai.dialogue.structured import NEUTRAL_LINE

        npc = turn.npc
        assert npc.structure is not None
        prompt = npc.structure.neutral_prompt(npc._player, npc.prefix)
        if emotions is None:
            segments, params = npc.structure.emotion_job(prompt, NEUTRAL_LINE)
        else:
            choices = npc.structure.emotion_params.choices
            best = max(range(len(emotions)), key=emotions.__getitem__) if emotions else 0
            segments, params = npc.structure.action_job(prompt, NEUTRAL_LINE, choices[best])
        job = Job(
            key=f"{turn.handle.npc}\x00calibration",  # its own slot: the reply's cache stays
            segments=segments,
            params=SamplingParams(choices=params.choices),
            priority=turn.priority,
        )
        turn.job = job.id
        self._calibrations[job.id] = (turn, reason, emotions)
        self.engine.submit(job)

    def _on_calibration(self, piece: Piece) -> None:
        turn, reason, emotions = self._calibrations[piece.job]
        if piece.end is None and piece.error is None:
            return
        del self._calibrations[piece.job]
        npc = turn.npc
        assert npc.structure is not None
        if piece.error is not None:
            log.warning(
                "calibrating %s failed (%s); its choices stay uncalibrated",
                turn.handle.npc,
                piece.error,
            )
            npc._calibrated = True
        elif emotions is None:
            self._calibrate(turn, reason, piece.scores or ())
            return
        else:
            npc.structure = npc.structure.calibrated(emotions, piece.scores or ())
            npc._calibrated = True
        assert turn.prompt is not None
        self._next_choice(turn, npc.structure.steps(turn.prompt.segments, turn.original), reason)

    def _next_choice(self, turn: _Turn, steps: StructureSteps, reason: str) -> None:
        segments, params = steps.job()
        job = Job(key=turn.handle.npc, segments=segments, params=params, priority=turn.priority)
        turn.job = job.id
        self._choices[job.id] = (turn, steps, reason, [])
        self.engine.submit(job)

    def _on_choice(self, piece: Piece) -> None:
        turn, steps, reason, parts = self._choices[piece.job]
        if piece.error is not None:
            del self._choices[piece.job]
            self._fail(turn, piece.error)
            return
        parts.append(piece.text or "")
        if piece.end is None:
            return
        del self._choices[piece.job]
        try:
            steps.take("".join(parts))
        except NpcAiError as exc:
            self._fail(turn, exc)
            return
        if steps.done:
            turn.structured = steps.result
            self._finish(turn, reason)
        else:
            self._next_choice(turn, steps, reason)

    def _forget(self, turn: _Turn) -> None:
        self._turns.pop(turn.job, None)
        self._choices.pop(turn.job, None)
        self._calibrations.pop(turn.job, None)
        self._by_reply.pop(turn.handle.id, None)
        with self._state:
            entry = self._npcs.get(turn.handle.npc)
            if entry is not None and entry.turn is turn:
                entry.turn = None

    def _finish(self, turn: _Turn, reason: str) -> None:
        self._forget(turn)
        with self._state:
            if not turn.superseded:
                turn.npc.end_turn(turn.original)
                if turn.original:
                    self._overheard(turn, turn.handle.npc, turn.original)
                    self._start_summary(turn.handle.npc, turn.npc)
        self._emit(
            ReplyDone(turn.handle.npc, turn.handle.id, turn.text, reason, turn.structured),
            turn.handle,
        )
        if not turn.handle.future.done():
            turn.handle.future.set_result(turn.text)

    def _start_summary(self, npc_id: str, npc: Npc) -> None:
        """Have the model write the NPC's memory summary in the background, when due."""
        if any(pending is npc for pending, _, _ in self._summaries.values()):
            return
        job_spec = npc.summary_job()
        if job_spec is None:
            return
        prompt, params, until = job_spec
        job = Job(
            key=f"{npc_id}\x00summary",
            segments=(prompt,),
            params=params,
            priority=Priority.BACKGROUND,
        )
        self._summaries[job.id] = (npc, until, [])
        self.engine.submit(job)

    def _on_summary(self, piece: Piece) -> None:
        npc, until, parts = self._summaries[piece.job]
        if piece.error is not None:
            log.warning("a memory summary failed: %s", piece.error)
            del self._summaries[piece.job]
            return
        parts.append(piece.text or "")
        text = "".join(parts)
        if piece.end is None and "\n" not in text:
            return
        del self._summaries[piece.job]
        if piece.end is None:
            self.engine.cancel(piece.job)
        with self._state:
            npc.finish_summary(text, until)

    def _overheard(self, turn: _Turn, speaker: str, text: str) -> None:
        for listener in turn.listeners:
            if listener.memory is not None:
                listener.memory.heard(text, speaker=speaker, source=f"earshot:{turn.handle.npc}")

    def _fail(self, turn: _Turn, error: NpcAiError) -> None:
        self._forget(turn)
        self.engine.cancel(turn.job)
        self._emit(ReplyError(turn.handle.npc, turn.handle.id, error), turn.handle)
        if not turn.handle.future.done():
            turn.handle.future.set_exception(error)
