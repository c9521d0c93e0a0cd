"""The bridge server: the only module that touches sockets.

It wires asyncio streams (TCP on 127.0.0.1, or stdin/stdout) to the
protocol core (:class:`~bridge.protocol.ServerConnection`) and the method
table (:mod:`bridge.methods`), and pumps the runtime's reply events to the
client that asked. Each client has a bounded outgoing queue
(:class:`Outbox`): while the client is slow, consecutive ``npc.delta`` of a
stream merge and older ``subtitle.partial`` of a segment are replaced;
responses and final messages are never dropped, and a client with more than
``max_queue`` bytes waiting is disconnected. A client that disconnects has
its replies cancelled and its NPCs removed.

Run it from the command line with ``npc-ai serve`` (:mod:`bridge.cli`), or::

    runtime = Runtime.from_default()
    server = BridgeServer(runtime, ServerOptions(port=0))
    asyncio.run(server.run())          # until cancelled or close()

(Over 500 lines on purpose: this is the one module that owns sockets and streams; its
per-client session writes to the client's stream, so it stays beside the server rather than
spreading socket I/O over two modules. The protocol, method table and handlers it drives live
in their own modules and do no I/O.)
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import itertools
import logging
import os
import secrets
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bridge import media, methods
from bridge.discovery import (
    default_discovery_path,
    read_discovery,
    remove_discovery,
    write_discovery,
)
from bridge.errors import HelloTimeoutError, ResultTooLargeError, TooManyClientsError
from bridge.outbox import Outbox
from bridge.protocol import (
    HelloAccepted,
    Limits,
    Message,
    Notification,
    Rejected,
    Request,
    Response,
    ServerConnection,
    pack,
)
from npc_ai import __version__
from npc_ai.errors import InputError, NpcAiError
from npc_ai.runtime import ReplyHandle, Runtime

__all__ = [
    "BridgeServer",
    "Outbox",
    "ServerOptions",
    "claim_stdout",
    "default_discovery_path",
    "read_discovery",
]

log = logging.getLogger(__name__)

SERVER_NAME = f"npc-ai {__version__}"


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerOptions:
    """How the server listens. Build once at the edge (the CLI)."""

    #: TCP port on 127.0.0.1; 0 picks a free one.
    port: int = 0
    #: The token clients must send; None makes a new random one at start.
    token: str | None = None
    limits: Limits = field(default_factory=Limits)
    #: Folders ``npc.load {"file": ...}`` may read persona files from.
    persona_dirs: tuple[Path, ...] = ()
    #: Where to write the discovery file; None: :func:`default_discovery_path`.
    discovery: Path | None = None
    #: Write a discovery file at all (TCP only).
    write_discovery: bool = True


class _Session:
    """One connected client: its protocol state, queue, NPCs and streams.

    Implements :class:`bridge.methods.Context` for the handlers.
    """

    server_name = SERVER_NAME

    def __init__(
        self,
        server: BridgeServer,
        number: int,
        writer: asyncio.StreamWriter,
        token: str | None,
    ) -> None:
        self.server = server
        self.number = number
        self.runtime: Runtime = server.runtime
        self.persona_dirs = server.options.persona_dirs
        self.conn = ServerConnection(token=token, limits=server.options.limits, server=SERVER_NAME)
        self.outbox = Outbox()
        self.services = server.services
        self.translator = server.translator
        self.subtitle_factory = server.subtitle_factory
        self.subtitles: dict[int, Any] = {}  # id -> (PushSource, LiveSubtitles)
        self.npcs: dict[str, str] = {}
        self.no_memory: set[str] = set()
        self.streams: dict[int, ReplyHandle] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self.closing = False  # flush what is queued, then close
        self.gone = False
        self._writer = writer
        self._ready = asyncio.Event()

    # -- methods.Context ----------------------------------------------------------------

    def notify(self, method: str, params: dict[str, Any]) -> None:
        self.send(Notification(method, params))

    def loaded_elsewhere(self, npc_id: str) -> bool:
        return any(
            npc_id in other.npcs for other in self.server.sessions.values() if other is not self
        )

    # -- queue and writer ----------------------------------------------------------------

    def send(self, message: Message) -> None:
        if self.gone:
            return
        data = pack(message)
        limit = self.conn.limits.max_frame
        if len(data) - 4 > limit and isinstance(message, Response):
            # The client would refuse the frame: say why instead.
            error = ResultTooLargeError(
                f"the result is {len(data) - 4} bytes, over the frame limit of {limit}; "
                "ask for less (e.g. npc.export fewer ids) or start the server with a larger "
                "--max-frame",
                size=len(data) - 4,
                max_frame=limit,
            )
            message = Response(message.msgid, error.to_dict(), None)
            data = pack(message)
        self.outbox.put(message, data)
        limit = self.conn.limits.max_queue
        if self.outbox.size > limit:
            log.warning(
                "client %d (%s) is not reading: %d bytes queued, over %d; disconnecting",
                self.number,
                self.conn.client or "?",
                self.outbox.size,
                limit,
            )
            self.gone = True
            self._writer.transport.abort()
        self._ready.set()

    async def write_loop(self) -> None:
        writer = self._writer
        try:
            while not self.gone:
                await self._ready.wait()
                self._ready.clear()
                while not self.gone:
                    chunk = bytearray()
                    while len(chunk) < 65536 and (item := self.outbox.pop()) is not None:
                        self.conn.sent(item[0])
                        chunk += item[1]
                    if not chunk:
                        break
                    writer.write(chunk)
                    await writer.drain()
                if self.closing and not self.outbox:
                    break
        except (ConnectionError, RuntimeError) as exc:
            log.debug("client %d: write failed: %s", self.number, exc)
        finally:
            self.gone = True
            with contextlib.suppress(Exception):
                writer.close()

    # -- requests ------------------------------------------------------------------------

    def handle(self, event: Any) -> None:
        if isinstance(event, Rejected):
            log.info("client %d: %s", self.number, event.error.message)
            self.send(event.reply)
            if event.fatal:
                self.closing = True
        elif isinstance(event, HelloAccepted):
            limit = self.conn.limits.max_clients
            if self.server.clients() > limit:  # this one counts itself
                log.warning(
                    "client %d (%r) refused: %d clients already, the limit",
                    self.number,
                    event.client,
                    limit,
                )
                error = TooManyClientsError(
                    f"this server already serves {limit} clients, its limit; close one of "
                    "them, or start the server with --max-clients N",
                    max_clients=limit,
                )
                self.conn.close()
                self.send(Response(event.reply.msgid, error.to_dict(), None))
                self.closing = True
                return
            log.info("client %d is %r", self.number, event.client)
            self.send(event.reply)
        elif isinstance(event, Request):
            self.dispatch(event.msgid, event.method, event.params)
        elif isinstance(event, Notification):
            self.dispatch(None, event.method, event.params)

    def dispatch(self, msgid: int | None, name: str, params: dict[str, Any]) -> None:
        try:
            method = methods.find(name, self.services)
            args = methods.check_params(method, params)
            assert method.handler is not None
            if method.blocking:
                task = asyncio.get_running_loop().create_task(self._blocking(msgid, method, args))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)
                return
            result = method.handler(self, args)
        except Exception as exc:  # every failure becomes an error response
            self.fail(msgid, name, exc)
            return
        self.server.wake()
        if isinstance(result, concurrent.futures.Future):  # answered when it resolves
            task = asyncio.get_running_loop().create_task(self._later(msgid, name, result))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
            return
        if msgid is not None:
            self.send(Response(msgid, None, result))

    async def _later(
        self, msgid: int | None, name: str, future: concurrent.futures.Future[Any]
    ) -> None:
        try:
            result = await asyncio.wrap_future(future)
        except Exception as exc:
            self.fail(msgid, name, exc)
            return
        if msgid is not None:
            self.send(Response(msgid, None, result))

    async def _blocking(self, msgid: int | None, method: methods.Method, args: Any) -> None:
        assert method.handler is not None
        try:
            result = await asyncio.to_thread(method.handler, self, args)
        except Exception as exc:
            self.fail(msgid, method.name, exc)
            return
        if self.gone:  # the client left while this ran: end what it started
            self.close()
            return
        # Captions a stop flushed go out before its answer.
        self.pump_subtitles()
        self.server.wake()
        if msgid is not None:
            self.send(Response(msgid, None, result))

    def fail(self, msgid: int | None, name: str, exc: Exception) -> None:
        if isinstance(exc, NpcAiError):
            error = exc.to_dict()
        else:
            log.exception("client %d: %s failed", self.number, name)
            error = NpcAiError(f"internal error in {name}: {type(exc).__name__}: {exc}").to_dict()
        if msgid is None:  # a failed notification: say which
            data = error["data"] if isinstance(error["data"], dict) else {"data": error["data"]}
            error["data"] = {**data, "method": name}
        self.send(Response(msgid, error, None))

    def pump_subtitles(self) -> bool:
        """Send this client's new caption events; forget ended sessions. True if any is open."""
        for number, (_, session) in list(self.subtitles.items()):
            for event in session.poll(max_events=256):
                self.notify(*media.event_message(number, event))
            if session.done:
                del self.subtitles[number]
        return bool(self.subtitles)

    def close(self) -> None:
        """The client is gone: cancel its replies, remove its NPCs, end its captions."""
        self.gone = True
        self.conn.close()
        for source, session in self.subtitles.values():
            source.close()
            # stop() joins threads: not on the event loop.
            threading.Thread(target=session.stop, args=(5.0,), daemon=True).start()
        self.subtitles.clear()
        for task in self.tasks:
            task.cancel()
        for handle in list(self.streams.values()):
            handle.cancel()
        self.streams.clear()
        for runtime_id in self.npcs.values():
            with contextlib.suppress(NpcAiError):
                self.runtime.remove_npc(runtime_id)
        self.npcs.clear()
        self.no_memory.clear()
        self._ready.set()


class BridgeServer:
    """Serves one :class:`~npc_ai.runtime.Runtime` to many clients.

    The runtime must be in threaded mode; the server calls its ``update``
    on the event loop and routes each reply's events to its client.
    """

    def __init__(
        self,
        runtime: Runtime,
        options: ServerOptions | None = None,
        *,
        translator: media.Translator | None = None,
        subtitles: media.SubtitleFactory | None = None,
    ) -> None:
        if not runtime.options.threaded:
            # Stepped mode would run model steps inside update(), on the event loop.
            raise InputError(
                "the bridge server needs a threaded runtime (RuntimeOptions(threaded=True))"
            )
        self.runtime = runtime
        self.options = options or ServerOptions()
        self.translator = translator
        self.subtitle_factory = subtitles
        services = {"translator"} if translator is not None else set()
        if subtitles is not None:
            services.add("subtitles")
        if getattr(runtime, "store", None) is not None:
            services.add("memory")
        #: The components this server has; methods needing others answer 2011.
        self.services = frozenset(services)
        self.token = self.options.token or secrets.token_hex(16)
        self.port: int | None = None
        self.discovery_path: Path | None = None
        self.sessions: dict[int, _Session] = {}
        self._numbers = itertools.count(1)
        self._server: asyncio.Server | None = None
        self._wake: asyncio.Event | None = None
        self._pump_task: asyncio.Task[None] | None = None
        self._closed: asyncio.Event | None = None

    # -- life cycle ------------------------------------------------------------------------

    async def start(self) -> int:
        """Listen on 127.0.0.1; return the port. Writes the discovery file."""
        self._begin()
        self._server = await asyncio.start_server(
            self._on_tcp, host="127.0.0.1", port=self.options.port, limit=1 << 16
        )
        self.port = int(self._server.sockets[0].getsockname()[1])
        if self.options.write_discovery:
            path = self.options.discovery or default_discovery_path()
            try:
                write_discovery(path, self.port, self.token)
            except BaseException:  # another live server owns it: stop listening, say so
                await self.close()
                raise
            self.discovery_path = path
        log.info("npc-ai bridge listening on 127.0.0.1:%d", self.port)
        return self.port

    async def run(self) -> None:
        """Start (if needed) and serve until :meth:`close` or cancellation."""
        if self._server is None:
            await self.start()
        assert self._closed is not None
        try:
            await self._closed.wait()
        finally:
            await self.close()

    async def serve_stdio(self, token: str | None = None, *, out_fd: int | None = None) -> None:
        """Serve one client over stdin/stdout until it closes its end.

        Frames go to ``out_fd`` (default: :func:`claim_stdout` now; call it
        yourself first thing, before loading models, so nothing written
        earlier can reach the client).
        """
        self._begin()
        loop = asyncio.get_running_loop()
        if out_fd is None:
            out_fd = claim_stdout()
        reader = asyncio.StreamReader(limit=1 << 16)
        await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(0, "rb", buffering=0)
        )
        transport, protocol = await loop.connect_write_pipe(
            asyncio.streams.FlowControlMixin, os.fdopen(out_fd, "wb", buffering=0)
        )
        writer = asyncio.StreamWriter(transport, protocol, reader, loop)
        try:
            await self._serve(reader, writer, token)
        finally:
            await self.close()

    async def close(self) -> None:
        """Stop listening, drop every client, remove the discovery file."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for session in list(self.sessions.values()):
            session.close()
            with contextlib.suppress(Exception):
                session._writer.transport.abort()
        self.runtime.on_events(None)
        if self._pump_task is not None:
            self._pump_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump_task
            self._pump_task = None
        if self.discovery_path is not None:
            remove_discovery(self.discovery_path)
            self.discovery_path = None
        if self._closed is not None:
            self._closed.set()

    def stop(self) -> None:
        """Ask :meth:`run` to return (call on the event loop)."""
        if self._closed is not None:
            self._closed.set()

    def clients(self) -> int:
        """Clients connected past their hello."""
        return sum(1 for s in self.sessions.values() if s.conn.state == "ready")

    def wake(self) -> None:
        """A reply may have started: poll the runtime at full rate."""
        if self._wake is not None:
            self._wake.set()

    def _begin(self) -> None:
        self._wake = wake = asyncio.Event()
        self._closed = asyncio.Event()
        loop = asyncio.get_running_loop()
        # The runtime's worker wakes the pump when events are waiting (once per batch of
        # them): no polling, and the generation thread keeps the GIL between steps.
        self.runtime.on_events(lambda: loop.call_soon_threadsafe(wake.set))
        self._pump_task = loop.create_task(self._pump())

    # -- the runtime's events --------------------------------------------------------------

    async def _pump(self) -> None:
        """Deliver the runtime's events (their callbacks queue the notifications)."""
        assert self._wake is not None
        while True:
            captions = False
            self._wake.clear()
            try:
                self.runtime.update()
                for session in list(self.sessions.values()):
                    captions = session.pump_subtitles() or captions
            except Exception:  # one bad event must not stop delivery to everyone
                log.exception("delivering runtime or caption events failed")
            # Woken by the runtime (events waiting) or a new reply; captions are polled
            # (they need no 2 ms precision).
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), 0.01 if captions else 0.25)

    # -- connections -----------------------------------------------------------------------

    async def _on_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self._serve(reader, writer, self.token)

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, token: str | None
    ) -> None:
        number = next(self._numbers)
        session = _Session(self, number, writer, token)
        self.sessions[number] = session
        loop = asyncio.get_running_loop()
        write_task = loop.create_task(session.write_loop())
        timeout = self.options.limits.hello_timeout

        def hello_timeout() -> None:
            rejected = session.conn.timed_out(
                HelloTimeoutError(f"no rpc.hello within {timeout:g} s; closing")
            )
            if rejected is not None:
                session.handle(rejected)

        timer = loop.call_later(timeout, hello_timeout)
        log.debug("client %d connected", number)
        try:
            while not session.closing and not session.gone:
                data = await reader.read(1 << 16)
                if not data:
                    break
                for event in session.conn.receive_data(data):
                    session.handle(event)
        except (ConnectionError, asyncio.IncompleteReadError) as exc:
            log.debug("client %d: read failed: %s", number, exc)
        finally:
            timer.cancel()
            # Flush a fatal error's answer, then hang up.
            session.closing = True
            session._ready.set()
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(write_task), 1.0)
            session.close()
            write_task.cancel()
            with contextlib.suppress(Exception):
                writer.close()
            del self.sessions[number]
            log.debug("client %d disconnected", number)


def claim_stdout() -> int:
    """Take file descriptor 1 for frames: return a duplicate of it and point 1 at stderr,
    so a stray print (from Python or a C library) can never corrupt the stream."""
    sys.stdout.flush()
    out_fd = os.dup(1)
    os.dup2(2, 1)
    return out_fd
