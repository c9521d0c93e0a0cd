"""A blocking Python client of the bridge, for scripts and tests.

::

    from bridge.client import Client

    with Client.connect() as npcs:                # reads the discovery file
        npcs.load("smith", file="blacksmith.toml", structured=True)
        reply = npcs.say("smith", "Can you mend my sword?")
        for piece in reply:
            print(piece, end="", flush=True)
        print(reply.finish_reason, reply.emotion, reply.action, reply.args)
        npcs.teach("smith", "Ayla agreed to fetch ore.", kind="quest.ore")

Everything runs on the calling thread: bytes are read only while a call
waits or a reply is iterated. Notifications that belong to no reply go to
``on_notification`` (or pile up in :attr:`Client.notifications`).

The typed helpers (:meth:`Client.load`, :meth:`Client.say`, :meth:`Client.prepare`,
:meth:`Client.facts`, :meth:`Client.teach`, :meth:`Client.relationship`) cover
protocol 1.1; against a 1.0 server the 1.1 ones raise
:class:`~bridge.errors.UnavailableError` without sending anything.
"""

from __future__ import annotations

import os
import select
import socket
import subprocess
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from bridge.discovery import read_discovery
from bridge.errors import ConnectionDeadError, RemoteError, UnavailableError
from bridge.protocol import ClientConnection, Notification, Response

__all__ = ["Client", "ReplyStream"]

NotificationCallback = Callable[[str, dict[str, Any]], object]


def given(**params: Any) -> dict[str, Any]:
    """The params that were given (None means "leave it to the server's default")."""
    return {name: value for name, value in params.items() if value is not None}


def require_minor(server: dict[str, Any], minor: int, what: str) -> None:
    """Refuse, before sending, what a server of an older minor version cannot do."""
    has = server_minor(server)
    if has < minor:
        raise UnavailableError(
            f"{what} needs bridge protocol 1.{minor}; this server speaks 1.{has} "
            f"({server.get('server', 'unknown')}): update npc-ai on the server",
            needs=f"1.{minor}",
            server_minor=has,
        )


def server_minor(server: dict[str, Any]) -> int:
    """A server's minor protocol version from its hello (0 for a 1.0 server, which sends none)."""
    minor = server.get("minor", 0)
    return minor if type(minor) is int else 0


def load_params(
    server: dict[str, Any],
    npc_id: str | None,
    *,
    persona: str | dict[str, Any] | None,
    file: str | None,
    priority: str | None,
    structured: bool | None,
    language: str | None,
    memory: bool | None,
) -> dict[str, Any]:
    """The params of ``npc.load`` (both clients); refuses 1.1 options to a 1.0 server."""
    if structured is not None or language is not None or memory is not None:
        require_minor(server, 1, "npc.load with structured, language or memory")
    return given(
        id=npc_id,
        persona=persona,
        file=file,
        priority=priority,
        structured=structured,
        language=language,
        memory=memory,
    )


def say_params(
    server: dict[str, Any],
    npc: str,
    text: str,
    *,
    seed: int | None,
    heard_by: Sequence[str] | None,
    priority: str | None,
) -> dict[str, Any]:
    """The params of ``npc.say`` (both clients); refuses 1.1 options to a 1.0 server."""
    if heard_by is not None or priority is not None:
        require_minor(server, 1, "npc.say with heard_by or priority")
    listeners = None if heard_by is None else list(heard_by)
    return given(npc=npc, text=text, seed=seed, heard_by=listeners, priority=priority)


class _Socket:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def recv(self, timeout: float) -> bytes | None:
        """Bytes, b"" at the end, None when nothing came in time."""
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(1 << 16)
        except TimeoutError:
            return None

    def close(self) -> None:
        self.sock.close()


class _Pipes:
    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdin is not None and proc.stdout is not None
        self.proc = proc
        self.stdin: IO[bytes] = proc.stdin
        self.stdout: IO[bytes] = proc.stdout

    def send(self, data: bytes) -> None:
        self.stdin.write(data)
        self.stdin.flush()

    def recv(self, timeout: float) -> bytes | None:
        ready, _, _ = select.select([self.stdout], [], [], timeout)
        if not ready:
            return None
        return os.read(self.stdout.fileno(), 1 << 16)

    def close(self) -> None:
        self.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover - a stuck server
            self.proc.kill()
            self.proc.wait()
        self.stdout.close()


def structured_fields(done: dict[str, Any]) -> tuple[str | None, str | None, dict[str, str] | None]:
    """``emotion``, ``action`` and ``args`` of an ``npc.done`` (None when it has none)."""
    if "emotion" not in done:
        return None, None, None
    args = done.get("args")
    return (
        str(done["emotion"]),
        str(done.get("action", "none")),
        {str(k): str(v) for k, v in args.items()} if isinstance(args, dict) else {},
    )


class ReplyStream:
    """An NPC reply arriving over the bridge: iterate it for text pieces.

    After the iteration, ``text`` is the whole line and ``finish_reason``
    why it ended; an ``npc.error`` raises :class:`RemoteError` from the
    iteration. For an NPC loaded with ``structured=True``, ``emotion``,
    ``action`` and ``args`` are the reply's (None otherwise, and when the
    reply was cancelled).
    """

    def __init__(self, client: Client, stream: int) -> None:
        self.id = stream
        self.text = ""
        self.finish_reason: str | None = None
        self.error: RemoteError | None = None
        self.emotion: str | None = None
        self.action: str | None = None
        self.args: dict[str, str] | None = None
        self._client = client
        self._pieces: deque[str] = deque()

    @property
    def done(self) -> bool:
        return self.finish_reason is not None or self.error is not None

    def __iter__(self) -> Iterator[str]:
        while True:
            while self._pieces:
                yield self._pieces.popleft()
            if self.error is not None:
                raise self.error
            if self.finish_reason is not None:
                return
            self._client._receive()

    def take(self) -> list[str]:
        """The pieces that have arrived since the last take, without waiting (for a loop
        that reads with :meth:`Client.poll` instead of iterating)."""
        pieces = list(self._pieces)
        self._pieces.clear()
        return pieces

    def read(self) -> str:
        """Wait for the end; the whole line."""
        for _ in self:
            pass
        return self.text

    def cancel(self) -> bool:
        """Ask the server to stop this reply (it still ends with its done)."""
        return bool(self._client.call("npc.cancel", stream=self.id)["cancelled"])

    def _note(self, method: str, params: dict[str, Any]) -> None:
        if method == "npc.delta":
            self._pieces.append(str(params.get("text", "")))
        elif method == "npc.done":
            self.text = str(params.get("text", ""))
            self.emotion, self.action, self.args = structured_fields(params)
            self.finish_reason = str(params.get("finish_reason", ""))
        else:
            self.error = RemoteError.from_map(params.get("error"))


class Client:
    """A connection to ``npc-ai serve``; use :meth:`connect` or :meth:`spawn`."""

    def __init__(
        self,
        transport: _Socket | _Pipes,
        *,
        token: str,
        name: str = "python",
        timeout: float = 30.0,
        on_notification: NotificationCallback | None = None,
    ) -> None:
        self._transport = transport
        self.timeout = timeout
        self.on_notification = on_notification
        #: Notifications that belong to no reply, when there is no callback.
        self.notifications: deque[Notification] = deque(maxlen=10_000)
        self._conn = ClientConnection()
        self._responses: dict[int, Response] = {}
        self._streams: dict[int, ReplyStream] = {}
        self._early: dict[int, list[Notification]] = {}
        self._closed = False
        self._transport.send(self._conn.hello(token, name))
        assert self._conn.hello_id is not None
        #: The hello result: server name, protocol and limits.
        self.server: dict[str, Any] = self._wait(self._conn.hello_id)

    @classmethod
    def connect(
        cls,
        discovery: str | os.PathLike[str] | None = None,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        token: str | None = None,
        timeout: float = 30.0,
        on_notification: NotificationCallback | None = None,
    ) -> Client:
        """Connect by discovery file (default path when no port is given) or host/port/token."""
        if port is None or token is None:
            info = read_discovery(Path(discovery) if discovery else None)
            host, port = str(info.get("host", host)), int(info["port"])
            token = token or str(info["token"])
        sock = socket.create_connection((host, port), timeout=timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(
            _Socket(sock),
            token=token,
            timeout=timeout,
            on_notification=on_notification,
        )

    @classmethod
    def spawn(
        cls,
        command: Sequence[str],
        *,
        token: str = "",
        timeout: float = 60.0,
        on_notification: NotificationCallback | None = None,
    ) -> Client:
        """Start ``npc-ai serve --stdio`` (or ``command``) and talk over its stdin/stdout."""
        proc = subprocess.Popen(list(command), stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        client = cls(_Pipes(proc), token=token, timeout=timeout, on_notification=on_notification)
        client.process = proc
        return client

    process: subprocess.Popen[bytes] | None = None

    # -- calls -----------------------------------------------------------------------------

    def call(self, method: str, **params: Any) -> Any:
        """Send a request and wait for its result (an error response raises RemoteError)."""
        return self._wait(self.request(method, **params))

    def request(self, method: str, **params: Any) -> int:
        """Send a request without waiting; :meth:`result` collects it."""
        self._check_open()
        msgid, data = self._conn.request(method, params)
        self._transport.send(data)
        return msgid

    def result(self, msgid: int) -> Any:
        """Wait for the result of a request sent with :meth:`request`."""
        return self._wait(msgid)

    def answered(self, msgid: int) -> bool:
        """Whether the response to ``msgid`` has been read (then :meth:`result` returns at
        once); with :meth:`poll`, a loop can send requests and collect them without waiting."""
        return msgid in self._responses

    def notify(self, method: str, **params: Any) -> None:
        """Send a notification (no response; a failure comes back with msgid nil)."""
        self._check_open()
        self._transport.send(self._conn.notify(method, params))

    @property
    def minor(self) -> int:
        """The server's minor protocol version (0 for a 1.0 server, which sends none)."""
        return server_minor(self.server)

    def load(
        self,
        npc_id: str | None = None,
        *,
        persona: str | dict[str, Any] | None = None,
        file: str | None = None,
        priority: str | None = None,
        structured: bool | None = None,
        language: str | None = None,
        memory: bool | None = None,
    ) -> dict[str, Any]:
        """``npc.load``: give ``persona`` (TOML text or a map) or ``file``; ``{id, name}``.

        ``structured``, ``language`` (the player's) and ``memory`` are protocol 1.1.
        """
        params = load_params(
            self.server,
            npc_id,
            persona=persona,
            file=file,
            priority=priority,
            structured=structured,
            language=language,
            memory=memory,
        )
        return dict(self.call("npc.load", **params))

    def say(
        self,
        npc: str,
        text: str,
        *,
        seed: int | None = None,
        heard_by: Sequence[str] | None = None,
        priority: str | None = None,
    ) -> ReplyStream:
        """The player says ``text`` to ``npc``; iterate the result for the reply.

        ``heard_by`` (this client's NPCs within earshot) and ``priority`` are protocol 1.1.
        """
        params = say_params(self.server, npc, text, seed=seed, heard_by=heard_by, priority=priority)
        stream = ReplyStream(self, int(self.call("npc.say", **params)["stream"]))
        self._streams[stream.id] = stream
        for note in self._early.pop(stream.id, []):
            self._route(note)
        return stream

    def prepare(self, npc_id: str) -> None:
        """``npc.prepare`` (1.1): return once the NPC's persona is read (its first reply is
        then quicker)."""
        require_minor(self.server, 1, "npc.prepare")
        self.call("npc.prepare", id=npc_id)

    def facts(self, npc_id: str) -> list[dict[str, Any]]:
        """``npc.facts`` (1.1): ``[{kind, text, turn}]``, the newest fact of each kind."""
        require_minor(self.server, 1, "npc.facts")
        return list(self.call("npc.facts", id=npc_id)["facts"])

    def teach(self, npc_id: str, text: str, *, kind: str) -> None:
        """``npc.teach`` (1.1): the NPC knows ``text`` (replacing the fact of that ``kind``)."""
        require_minor(self.server, 1, "npc.teach")
        self.call("npc.teach", id=npc_id, text=text, kind=kind)

    def relationship(self, npc_id: str, *, adjust: float | None = None) -> float:
        """``npc.relationship`` (1.1): -1..1, moved by ``adjust`` first when given."""
        require_minor(self.server, 1, "npc.relationship")
        params = given(id=npc_id, adjust=adjust)
        return float(self.call("npc.relationship", **params)["relationship"])

    def poll(self, timeout: float = 0.0) -> None:
        """Read what has arrived (waiting up to ``timeout``) and dispatch it."""
        deadline = time.monotonic() + timeout
        while True:
            if not self._receive(max(deadline - time.monotonic(), 0.001), quiet=True):
                return

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._transport.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing --------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise ConnectionDeadError("the client is closed")

    def _wait(self, msgid: int) -> Any:
        deadline = time.monotonic() + self.timeout
        while msgid not in self._responses:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no response to request {msgid} in {self.timeout:g} s")
            self._receive(left)
        response = self._responses.pop(msgid)
        if response.error is not None:
            raise RemoteError.from_map(response.error)
        return response.result

    def _receive(self, timeout: float | None = None, *, quiet: bool = False) -> bool:
        self._check_open()
        data = self._transport.recv(self.timeout if timeout is None else timeout)
        if data is None:
            if quiet:
                return False
            raise TimeoutError(f"nothing from the server in {self.timeout:g} s")
        if not data:
            self._closed = True
            raise ConnectionDeadError("the server closed the connection")
        for message in self._conn.receive_data(data):
            if isinstance(message, Response):
                if message.msgid is None:
                    self._unrouted(Notification("rpc.error", {"error": message.error}))
                else:
                    self._responses[message.msgid] = message
            else:
                self._route(message)
        return True

    def _route(self, note: Notification) -> None:
        stream_id = note.params.get("stream")
        if note.method.startswith("npc.") and isinstance(stream_id, int):
            stream = self._streams.get(stream_id)
            if stream is None:
                # Notifications never precede npc.say's response, but this client
                # may read them before it has built the stream object.
                self._early.setdefault(stream_id, []).append(note)
                return
            stream._note(note.method, note.params)
            if stream.done:
                del self._streams[stream_id]
            return
        self._unrouted(note)

    def _unrouted(self, note: Notification) -> None:
        if self.on_notification is not None:
            self.on_notification(note.method, note.params)
        else:
            self.notifications.append(note)
