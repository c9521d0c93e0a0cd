"""Thornvale over the bridge: the game's NPC calls served by ``npc-ai serve``.

``python -m sample_game --bridge`` starts ``npc-ai serve --stdio`` as a child process and
plays through it; ``--bridge FILE`` connects to a running server by its discovery file
(``--bridge auto``: the default discovery file), ``--bridge HOST:PORT`` with
``--bridge-token``. :class:`RemoteRuntime` has the shape of the :class:`npc_ai.Runtime`
calls the game makes (:class:`sample_game.backend.Npcs`), so the rest of the game does
not know which one it has.

A worker thread owns the connection (:class:`bridge.client.Client`, which blocks while it
waits), so the game thread never waits on the socket: its calls are queued, and once a
frame :meth:`RemoteRuntime.update` hands over the reply events that came in, as the same
:class:`~npc_ai.ReplyDelta` / :class:`~npc_ai.ReplyDone` / :class:`~npc_ai.ReplyError`
the in-process runtime delivers. Only saving and loading wait for the server (they are
disk work anyway).

Where the bridge has less than the Python API, the game does less, and says so:

- Small talk: the NPCs' neighbour-facing twins are loaded without memory and cannot be
  told the neighbour's name or a shorter length (``npc.load`` has no ``player_name`` or
  ``max_tokens``), and no bridge call writes an overheard line into an NPC's memory, so
  only facts about the player travel between NPCs (:class:`RemoteHearsay`, through
  ``npc.facts`` and ``npc.teach``).
- Languages: the bridge sets the player's language when an NPC is loaded, so switching it
  unloads the NPC and loads it again with the new language; its memory stays in the
  server's store, its conversation of this visit is forgotten.
"""

from __future__ import annotations

import concurrent.futures
import functools
import logging
import queue
import sys
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from bridge.client import Client, ReplyStream
from bridge.errors import BridgeError, ConnectionDeadError
from npc_ai import (
    DialogueOptions,
    Event,
    Interpreter,
    NpcAiError,
    Persona,
    Priority,
    ReplyDelta,
    ReplyDone,
    ReplyError,
    ReplyHandle,
    StructuredReply,
)

__all__ = ["BridgeAddress", "RemoteHearsay", "RemoteRuntime", "parse_address", "serve_command"]

log = logging.getLogger(__name__)

T = TypeVar("T")

#: How long saving and loading wait for the server.
SYNC_TIMEOUT = 30.0


@dataclass(frozen=True, slots=True)
class BridgeAddress:
    """Where the game's server is: started by the game (``spawn``), a discovery file, or a
    host and port (with the token)."""

    spawn: bool = False
    discovery: Path | None = None
    host: str = "127.0.0.1"
    port: int | None = None
    token: str | None = None

    def connect(
        self, *, model: str | None = None, personas: Path | None = None
    ) -> Callable[[], Client]:
        """A function that opens the connection (called on the worker thread)."""
        if self.spawn:
            command = serve_command(model=model)
            return lambda: Client.spawn(command, timeout=120.0)
        if self.port is not None:
            host, port, token = self.host, self.port, self.token or ""
            return lambda: Client.connect(host=host, port=port, token=token)
        discovery = self.discovery
        return lambda: Client.connect(discovery)

    def describe(self) -> str:
        if self.spawn:
            return "a server started by the game (npc-ai serve --stdio)"
        if self.port is not None:
            return f"the server at {self.host}:{self.port}"
        return f"the server of the discovery file {self.discovery or '(default)'}"


def parse_address(value: str, *, token: str | None = None) -> BridgeAddress:
    """``spawn``, ``auto`` (the default discovery file), ``HOST:PORT`` or a discovery file."""
    if value == "spawn":
        return BridgeAddress(spawn=True)
    if value == "auto":
        return BridgeAddress()
    host, sep, port = value.rpartition(":")
    if sep and port.isdigit() and not Path(value).exists():
        if token is None:
            raise ValueError(f"--bridge {value}: a host and port need --bridge-token")
        return BridgeAddress(host=host or "127.0.0.1", port=int(port), token=token)
    return BridgeAddress(discovery=Path(value))


def serve_command(*, model: str | None = None) -> list[str]:
    """``npc-ai serve --stdio`` with this Python (the game's own environment), its memory in
    the server's process (saved by the game with ``npc.export``), no discovery file."""
    command = [sys.executable, "-m", "npc_ai", "serve", "--stdio", "--no-discovery"]
    if model:
        command += ["--model", model]
    return command


def _wire(priority: Priority) -> str:
    return priority.name.lower()


class _Lost(Exception):
    """The connection is gone (raised on the worker thread, from the error that said so)."""


#: A call of the game, run on the worker thread with the connection.
Call = Callable[[Client], None]


class RemoteRuntime:
    """The NPC calls of the game (:class:`sample_game.backend.Npcs`) over the bridge.

    ``connect`` opens the connection; it runs on the worker thread, so building a
    ``RemoteRuntime`` returns at once. :meth:`wait_ready` waits for the server's hello
    (a server the game starts loads its model first) and raises why it failed. Once the
    connection is gone, :meth:`say` raises why, replies under way end with a
    :class:`~npc_ai.ReplyError`, and other calls do nothing: :attr:`problems` says so.
    """

    def __init__(self, connect: Callable[[], Client]) -> None:
        self._connect = connect
        self._calls: queue.SimpleQueue[Call | None] = queue.SimpleQueue()
        self._events: deque[tuple[Event, ReplyHandle]] = deque()
        self._ready: concurrent.futures.Future[dict[str, Any]] = concurrent.futures.Future()
        self._closing = False
        self._cancelled: set[int] = set()  # handle ids cancelled (either thread adds)
        # Queued, not yet sent: failed at once if the connection is lost first.
        self._queued: dict[int, ReplyHandle] = {}
        self._syncs: set[concurrent.futures.Future[Any]] = set()
        # The worker thread's own:
        self._streams: dict[int, tuple[ReplyStream, ReplyHandle]] = {}
        self._pending: dict[int, str] = {}  # requests sent, not answered: msgid -> what
        self._loaded: dict[str, dict[str, Any]] = {}  # npc.load params by id
        #: Why the connection ended, once it has.
        self.error: NpcAiError | None = None
        #: What went wrong in calls that answer nothing to the game (an NPC that did not
        #: load, a fact not passed on, the connection lost); the game shows them.
        self.problems: deque[str] = deque(maxlen=100)
        self._thread = threading.Thread(target=self._run, name="npc-ai-bridge", daemon=True)
        self._thread.start()

    def wait_ready(self, timeout: float | None = None) -> dict[str, Any]:
        """The server's hello result, once connected; raises why the connection failed."""
        return self._ready.result(timeout)

    # -- the calls of npc_ai.Runtime -------------------------------------------------------

    def add_npc(
        self,
        persona: Persona,
        *,
        npc_id: str | None = None,
        priority: Priority = Priority.NEARBY,
        dialogue: DialogueOptions | None = None,
        interpreter: Interpreter | None = None,
    ) -> str:
        """Queue ``npc.load``. An NPC that fails to load fails its replies (and is noted in
        :attr:`problems`). Twins of small talk (ids with ``~``) are loaded without memory."""
        npc_id = npc_id or persona.name
        params: dict[str, Any] = {
            "persona": persona.to_dict(),
            "priority": _wire(priority),
            "structured": bool(dialogue is not None and dialogue.structured),
            "memory": "~" not in npc_id,
        }
        language = _language(interpreter)
        if language is not None:
            params["language"] = language

        def load(client: Client) -> None:
            self._loaded[npc_id] = params
            self._send(
                client, f"{persona.short_name} was not loaded", "npc.load", id=npc_id, **params
            )

        self._post(load)
        return npc_id

    def prepare(self, npc_id: str) -> None:
        self._post(lambda client: self._send(client, "npc.prepare", "npc.prepare", id=npc_id))

    def set_priority(self, npc_id: str, priority: Priority) -> None:
        wire = _wire(priority)
        self._post(
            lambda client: self._send(
                client, "npc.priority", "npc.priority", id=npc_id, priority=wire
            )
        )

    def set_interpreter(self, npc_id: str, interpreter: Interpreter | None) -> None:
        """Load the NPC again with the player's new language (the bridge sets it at load)."""
        language = _language(interpreter)

        def reload(client: Client) -> None:
            params = self._loaded.get(npc_id)
            if params is None or params.get("language") == language:
                return
            params = {k: v for k, v in params.items() if k != "language"}
            if language is not None:
                params["language"] = language
            client.call("npc.unload", id=npc_id)
            self._loaded[npc_id] = params
            client.call("npc.load", id=npc_id, **params)

        self._post(lambda client: self._guarded(reload, client, f"{npc_id} kept its language"))

    def say(self, npc_id: str, text: str, *, heard_by: Sequence[str] = ()) -> ReplyHandle:
        """The player's line; the reply arrives through :meth:`update`, as in-process."""
        if self.error is not None:
            raise self.error
        handle = ReplyHandle(self._cancel, npc_id, None, None, None)
        listeners = [n for n in heard_by if n != npc_id]
        self._queued[handle.id] = handle
        self._post(lambda client: self._say(client, handle, text, listeners))
        return handle

    def update(self, dt: float = 0.0) -> list[Event]:
        """The reply events that came in since the last frame (never waits)."""
        del dt
        delivered: list[Event] = []
        while self._events:
            event, handle = self._events.popleft()
            handle.deliver(event)
            delivered.append(event)
        return delivered

    def export_memory(self, npc_ids: Sequence[str] | None = None) -> bytes:
        """``npc.export``: waits for the server (a save is disk work anyway)."""
        params = {} if npc_ids is None else {"ids": list(npc_ids)}
        return bytes(self._sync(lambda client: client.call("npc.export", **params)["blob"]))

    def import_memory(self, blob: bytes, *, clear_others: bool = False) -> list[str]:
        """``npc.import``: the NPCs in the blob remember what it holds. (The bridge replaces
        only their memory; a whole-world save holds every NPC, so ``clear_others`` changes
        nothing the game sees.)"""
        del clear_others
        return list(self._sync(lambda client: client.call("npc.import", blob=blob)["ids"]))

    def close(self) -> None:
        """Hang up (a server the game started exits with it). Returns at once."""
        if not self._closing:
            self._closing = True
            self._calls.put(None)

    # -- for RemoteHearsay -----------------------------------------------------------------

    def tell_facts(self, teller: str, listener: str, told: set[tuple[str, str, str]]) -> None:
        """Queue: ``listener`` learns the facts ``teller`` knows of the player (each once)."""

        def tell(client: Client) -> None:
            for fact in client.facts(teller):
                key = (teller, listener, str(fact["text"]))
                if key not in told:
                    told.add(key)
                    client.teach(listener, str(fact["text"]), kind=str(fact["kind"]))

        self._post(lambda client: self._guarded(tell, client, f"{teller} could not gossip"))

    # -- the game thread's side ------------------------------------------------------------

    def _post(self, call: Call) -> None:
        if not self._closing:
            self._calls.put(call)

    def _sync(self, call: Callable[[Client], T]) -> T:
        if self.error is not None or self._closing:
            raise self.error or ConnectionDeadError("the game's bridge connection is closed")
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run(client: Client) -> None:
            try:
                future.set_result(call(client))
            except (ConnectionDeadError, TimeoutError) as exc:
                future.set_exception(ConnectionDeadError(f"the npc-ai server is gone: {exc}"))
                raise _Lost() from exc
            except BridgeError as exc:
                future.set_exception(exc)

        self._syncs.add(future)
        self._post(run)
        try:
            return future.result(SYNC_TIMEOUT)
        except concurrent.futures.TimeoutError:
            raise ConnectionDeadError(
                f"the npc-ai server did not answer in {SYNC_TIMEOUT:g} s"
            ) from None
        finally:
            self._syncs.discard(future)

    def _cancel(self, handle_id: int) -> None:
        self._cancelled.add(handle_id)

        def cancel(client: Client) -> None:
            for stream, handle in list(self._streams.values()):
                if handle.id == handle_id:
                    self._send(client, "npc.cancel", "npc.cancel", stream=stream.id)

        self._post(cancel)

    # -- the worker thread -----------------------------------------------------------------

    def _run(self) -> None:
        try:
            client = self._connect()
        except (OSError, NpcAiError, TimeoutError) as exc:
            error = exc if isinstance(exc, NpcAiError) else ConnectionDeadError(str(exc))
            self.error = error
            self._ready.set_exception(error)
            return
        self._ready.set_result(client.server)
        try:
            self._serve(client)
        except (_Lost, OSError, BridgeError, TimeoutError) as exc:
            self._lost(exc)
        finally:
            client.close()

    def _serve(self, client: Client) -> None:
        while True:
            busy = bool(self._streams or self._pending)
            try:
                # Idle: sleep until the game calls. Busy: read the connection often.
                call = self._calls.get_nowait() if busy else self._calls.get(timeout=0.05)
                while True:
                    if call is None:
                        return  # close()
                    call(client)
                    call = self._calls.get_nowait()
            except queue.Empty:
                pass
            # Busy: wait a little for the server's pieces. Idle: only notice a hang-up.
            client.poll(0.002 if busy or self._streams or self._pending else 0.0)
            self._collect(client)

    def _collect(self, client: Client) -> None:
        for msgid, what in list(self._pending.items()):
            if client.answered(msgid):
                del self._pending[msgid]
                self._guarded(functools.partial(_result, msgid=msgid), client, what)
        for stream_id, (stream, handle) in list(self._streams.items()):
            for piece in stream.take():
                self._events.append((ReplyDelta(handle.npc, handle.id, piece), handle))
            if not stream.done:
                continue
            del self._streams[stream_id]
            if stream.error is not None:
                self._events.append((ReplyError(handle.npc, handle.id, stream.error), handle))
                handle.future.set_exception(stream.error)
                continue
            structured = None
            if stream.emotion is not None:
                structured = StructuredReply(
                    say=stream.text,
                    emotion=stream.emotion,
                    action=stream.action or "none",
                    args=stream.args or {},
                )
            reason = stream.finish_reason or "stop"
            self._events.append(
                (ReplyDone(handle.npc, handle.id, stream.text, reason, structured), handle)
            )
            handle.future.set_result(stream.text)

    def _send(self, client: Client, what: str, method: str, **params: Any) -> None:
        """A request whose answer the game does not wait for; a refusal goes to problems."""
        try:
            self._pending[client.request(method, **params)] = what
        except (ConnectionDeadError, OSError) as exc:
            raise _Lost() from exc

    def _say(self, client: Client, handle: ReplyHandle, text: str, listeners: list[str]) -> None:
        self._queued.pop(handle.id, None)
        try:
            stream = client.say(handle.npc, text, heard_by=listeners or None)
        except (ConnectionDeadError, TimeoutError) as exc:
            raise _Lost() from exc
        except BridgeError as exc:
            self._events.append((ReplyError(handle.npc, handle.id, exc), handle))
            return
        self._streams[stream.id] = (stream, handle)
        if handle.id in self._cancelled:
            self._send(client, "npc.cancel", "npc.cancel", stream=stream.id)

    def _guarded(self, call: Callable[[Client], object], client: Client, what: str) -> None:
        try:
            call(client)
        except (ConnectionDeadError, TimeoutError) as exc:
            raise _Lost() from exc
        except BridgeError as exc:
            log.warning("%s: %s", what, exc)
            self.problems.append(f"{what}: {exc}")

    def _lost(self, exc: BaseException) -> None:
        cause = exc.__cause__ if isinstance(exc, _Lost) and exc.__cause__ else exc
        error = (
            cause
            if isinstance(cause, NpcAiError)
            else ConnectionDeadError(f"the npc-ai server is gone: {cause}")
        )
        self.error = error
        if not self._closing:
            log.warning("the bridge connection ended: %s", error)
            self.problems.append(f"The npc-ai server is gone ({error}); NPCs cannot answer.")
        self._closing = True
        handles = [h for _s, h in self._streams.values()] + list(self._queued.values())
        self._streams.clear()
        self._queued.clear()
        for handle in handles:
            self._events.append((ReplyError(handle.npc, handle.id, error), handle))
        for future in list(self._syncs):
            if not future.done():
                future.set_exception(error)


def _result(client: Client, *, msgid: int) -> object:
    return client.result(msgid)


def _language(interpreter: Interpreter | None) -> str | None:
    return interpreter.player if interpreter is not None and interpreter.needed else None


class RemoteHearsay:
    """Small talk remembered over the bridge: facts about the player travel (``npc.facts``
    to ``npc.teach``); single lines are not written (no bridge call does), so an NPC that
    overheard small talk does not recall its words."""

    def __init__(self, remote: RemoteRuntime) -> None:
        self.remote = remote
        self._told: set[tuple[str, str, str]] = set()

    def said(self, speaker: str, listener: str, text: str, earshot: Sequence[str]) -> None:
        del speaker, listener, text, earshot  # see the class docs

    def gossip(self, teller: str, listener: str) -> None:
        self.remote.tell_facts(teller, listener, self._told)

    def reset(self) -> None:
        self._told.clear()
