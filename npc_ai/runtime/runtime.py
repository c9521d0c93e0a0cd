"""NPC dialogue inside a game loop: the game calls :meth:`Runtime.update` once a
frame and never waits for the model.

A pygame loop::

    import pygame
    from npc_ai import Priority, ReplyDelta, Runtime, load_persona

    pygame.init()
    screen, clock = pygame.display.set_mode((640, 360)), pygame.time.Clock()
    font = pygame.font.Font(None, 24)
    with Runtime.from_default() as npcs:               # loads the model once
        persona = load_persona("sample_game/personas/blacksmith.toml")
        smith = npcs.add_npc(persona, priority=Priority.FOCUSED)
        reply, bubble = npcs.say(smith, "Can you mend my sword?"), ""
        while not reply.done:
            pygame.event.pump()
            for event in npcs.update():                # at most budget_ms on this thread
                if isinstance(event, ReplyDelta):
                    bubble += event.text
            screen.fill("black")
            screen.blit(font.render(bubble, True, "white"), (20, 20))
            pygame.display.flip()
            clock.tick(60)

Generation runs on a worker thread, batched over every NPC that is talking
(see :mod:`npc_ai.backends.llama_engine`). ``update`` only hands over what the
worker produced, within a time budget. For hosts that allow no threads,
``RuntimeOptions(threaded=False)`` runs the model steps inside ``update``
instead, as many as fit in the budget.
"""

from __future__ import annotations

import concurrent.futures
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from npc_ai.dialogue.npc import DialogueOptions, Npc, new_seed
from npc_ai.dialogue.persona import Persona
from npc_ai.dialogue.prompt import Turn
from npc_ai.engine import Engine, Job, Priority
from npc_ai.errors import BackendError, InputError
from npc_ai.generation import SamplingParams
from npc_ai.runtime.events import Event, ReplyDelta, ReplyDone, ReplyError, ReplyHandle
from npc_ai.runtime.scheduler import Scheduler, Talk

if TYPE_CHECKING:
    from npc_ai.backends.llama_engine import EngineOptions
    from npc_ai.dialogue.interpret import Interpreter
    from npc_ai.memory.npc_memory import MemoryOptions, NpcMemory
    from npc_ai.memory.store import MemoryStore

__all__ = ["Runtime", "RuntimeOptions"]

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


@dataclass(slots=True, eq=False)
class _NpcEntry:
    npc: Npc
    priority: Priority
    talk: Talk | None = None  # the reply in progress


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
        self._scheduler = Scheduler(
            engine, state=self._state, emit=self._emit, forget=self._forget
        )  # worker side only
        self._closing = False
        self._closed = False
        self._on_events: Callable[[], object] | None = None
        self._told = False  # the host was told of the events waiting
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
        from npc_ai.models import DEFAULT_MODEL, resolve_model

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
        remember: bool = True,
    ) -> str:
        """Add an NPC; return its id (``npc_id``, or the persona's name).

        With a memory store, the NPC remembers what it heard under this id
        (across sessions, and in the game's save blobs); ``remember=False``
        keeps it to this session's lines, leaving the store untouched.
        """
        self._check_open()
        npc_id = npc_id or persona.name
        memory = None
        if self.store is not None and remember:
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
        if entry.talk is not None:
            entry.talk.handle.cancel()
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
                if entry.talk is not None:
                    entry.talk.superseded = True
                    self._post(("cancel", entry.talk.handle.id))
                entry.npc.reset()
                if entry.npc.memory is not None:
                    entry.npc.memory.reload()
        return loaded

    def set_interpreter(self, npc_id: str, interpreter: Interpreter | None) -> None:
        """Change the language the player talks to this NPC in (``None``: no translation).

        It applies from the NPC's next reply on; a reply in progress finishes in the
        language it started in. The NPC's transcript and memory stay in its own language,
        so switching costs no prompt reading.
        """
        entry = self._entry(npc_id)
        with self._state:  # the worker reads it when a turn begins
            entry.npc.interpreter = (
                interpreter if interpreter is not None and interpreter.needed else None
            )

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
        handle = ReplyHandle(self._cancel, npc_id, on_delta, on_done, on_error)
        line = entry.npc.check_line(text)  # bad input fails here, on the caller's thread
        with self._state:
            if entry.talk is not None:
                # Interrupted: the half-said line is not remembered, so the
                # history stays in the order things were said.
                entry.talk.superseded = True
                self._post(("cancel", entry.talk.handle.id))
            # The prompt is built on the worker: it tokenizes, which the game
            # thread should not wait for.
            talk = Talk(
                handle,
                entry.npc,
                line,
                new_seed() if seed is None else seed,
                entry.priority,
                listeners=listeners,
            )
            entry.talk = talk
        if talk.priority == Priority.FOCUSED and self._thread is not None:
            # The player is waiting: the step under way is cut short (and run
            # again later) instead of finishing first.
            self.engine.preempt()
        self._post(("say", talk))
        return handle

    def on_events(self, callback: Callable[[], object] | None) -> None:
        """Call ``callback`` when events are waiting for :meth:`update`, instead of polling.

        It runs on the worker thread, once until the next ``update`` (or from ``update``
        itself when its budget left events behind), so it must be quick and must not call
        the runtime: a host with an event loop hands it on, e.g.
        ``runtime.on_events(lambda: loop.call_soon_threadsafe(ready.set))``, and calls
        ``update`` when woken. ``None`` stops the calls.
        """
        self._on_events = callback
        self._told = False
        if callback is not None and self._events:
            self._tell()

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
                not ran
                or budget - (time.perf_counter() - started) >= self._scheduler.step_ms / 1000
            ):
                self._run_step()
                ran += 1
        delivered: list[Event] = []
        self._told = False  # events that come from now on are told of again
        while self._events:
            if delivered and time.perf_counter() - started >= budget:
                self._tell()  # left for the next call
                break
            event, handle = self._events.popleft()
            handle.deliver(event)
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
                if entry.talk is not None and not entry.talk.handle.future.done():
                    entry.talk.handle.future.cancel()
        self._scheduler.cancel_prefills()

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
        if not self._told:
            self._tell()

    def _tell(self) -> None:
        callback = self._on_events
        if callback is None:
            return
        self._told = True
        try:
            callback()
        except Exception:  # the host's callback must not stop generation
            log.exception("the on_events callback failed")

    def _cancel(self, reply: int) -> None:
        self._post(("cancel", reply))

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
        self._scheduler.step(lambda: self._closing)

    def _drain_commands(self) -> None:
        scheduler = self._scheduler
        while self._commands:
            command = self._commands.popleft()
            kind = command[0]
            if kind == "say":
                scheduler.start(command[1])
            elif kind == "cancel":
                scheduler.cancel(command[1])
            elif kind == "priority":
                scheduler.reprioritize(command[1], command[2])
            elif kind == "prefill":
                scheduler.prefill(command[1], command[2])

    def _forget(self, talk: Talk) -> None:
        """A reply is over (worker side): its NPC is free to start another."""
        with self._state:
            entry = self._npcs.get(talk.handle.npc)
            if entry is not None and entry.talk is talk:
                entry.talk = None
