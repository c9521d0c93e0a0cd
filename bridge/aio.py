"""An asyncio Python client of the bridge.

::

    from bridge.aio import AsyncClient

    async with await AsyncClient.connect() as npcs:       # reads the discovery file
        await npcs.load("guard", file="guard.toml", structured=True)
        reply = await npcs.say("guard", "Who goes there?")
        async for piece in reply:
            print(piece, end="", flush=True)
        print(reply.emotion, reply.action, reply.args)

A reader task routes responses to their waiting calls (they may come out of
order) and reply notifications to their :class:`AsyncReplyStream`; other
notifications go to ``on_notification``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

from bridge.client import (
    given,
    load_params,
    require_minor,
    say_params,
    server_minor,
    structured_fields,
)
from bridge.discovery import read_discovery
from bridge.errors import ConnectionDeadError, RemoteError
from bridge.protocol import ClientConnection, Notification, Response

__all__ = ["AsyncClient", "AsyncReplyStream"]


class AsyncReplyStream:
    """An NPC reply: ``async for`` its pieces; then ``text`` and ``finish_reason`` (and for a
    structured NPC ``emotion``, ``action`` and ``args``; None otherwise or when cancelled)."""

    def __init__(self, client: AsyncClient, stream: int) -> None:
        self.id = stream
        self.text = ""
        self.finish_reason: str | None = None
        self.error: RemoteError | None = None
        self.emotion: str | None = None
        self.action: str | None = None
        self.args: dict[str, str] | None = None
        self._client = client
        self._queue: asyncio.Queue[Notification | None] = asyncio.Queue()

    def __aiter__(self) -> AsyncIterator[str]:
        return self._pieces()

    async def _pieces(self) -> AsyncIterator[str]:
        while self.finish_reason is None and self.error is None:
            note = await self._queue.get()
            if note is None:
                raise ConnectionDeadError("the connection closed before the reply ended")
            if note.method == "npc.delta":
                yield str(note.params.get("text", ""))
            elif note.method == "npc.done":
                self.text = str(note.params.get("text", ""))
                self.emotion, self.action, self.args = structured_fields(note.params)
                self.finish_reason = str(note.params.get("finish_reason", ""))
            else:
                self.error = RemoteError.from_map(note.params.get("error"))
        if self.error is not None:
            raise self.error

    async def read(self) -> str:
        """Wait for the end; the whole line."""
        async for _ in self:
            pass
        return self.text

    async def cancel(self) -> bool:
        """Ask the server to stop this reply (it still ends with its done)."""
        return bool((await self._client.call("npc.cancel", stream=self.id))["cancelled"])


class AsyncClient:
    """A connection to ``npc-ai serve``; build it with :meth:`connect`."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        on_notification: Callable[[str, dict[str, Any]], object] | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.timeout = timeout
        self.on_notification = on_notification
        self.server: dict[str, Any] = {}
        self._reader, self._writer = reader, writer
        self._conn = ClientConnection()
        self._waiting: dict[int, asyncio.Future[Response]] = {}
        self._streams: dict[int, AsyncReplyStream] = {}
        self._early: dict[int, list[Notification]] = {}
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._lost: BaseException | None = None  # why the connection ended

    @classmethod
    async def connect(
        cls,
        discovery: str | os.PathLike[str] | None = None,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        token: str | None = None,
        name: str = "python-asyncio",
        timeout: float = 30.0,
        on_notification: Callable[[str, dict[str, Any]], object] | None = None,
    ) -> AsyncClient:
        """Connect by discovery file (default path when no port is given) or host/port/token."""
        if port is None or token is None:
            info = read_discovery(Path(discovery) if discovery else None)
            host, port = str(info.get("host", host)), int(info["port"])
            token = token or str(info["token"])
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
        client = cls(reader, writer, on_notification=on_notification, timeout=timeout)
        client._task = asyncio.get_running_loop().create_task(client._read_loop())
        hello = client._conn.hello(token, name)
        assert client._conn.hello_id is not None
        future = client._expect(client._conn.hello_id)
        writer.write(hello)
        try:
            client.server = await client._result(future)
        except BaseException:
            await client.close()
            raise
        return client

    async def call(self, method: str, **params: Any) -> Any:
        """Send a request and wait for its result (an error response raises RemoteError)."""
        if self._closed:
            raise ConnectionDeadError("the client is closed")
        if self._lost is not None:
            raise ConnectionDeadError(f"the connection is lost: {self._lost}")
        msgid, data = self._conn.request(method, params)
        future = self._expect(msgid)
        self._writer.write(data)
        await self._writer.drain()
        return await self._result(future)

    async def notify(self, method: str, **params: Any) -> None:
        """Send a notification (no response; a failure comes back with msgid nil)."""
        self._writer.write(self._conn.notify(method, params))
        await self._writer.drain()

    @property
    def minor(self) -> int:
        """The server's minor protocol version (0 for a 1.0 server, which sends none)."""
        return server_minor(self.server)

    async def load(
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
        return dict(await self.call("npc.load", **params))

    async def say(
        self,
        npc: str,
        text: str,
        *,
        seed: int | None = None,
        heard_by: Sequence[str] | None = None,
        priority: str | None = None,
    ) -> AsyncReplyStream:
        """The player says ``text`` to ``npc``; ``async for`` the result for the reply.

        ``heard_by`` (this client's NPCs within earshot) and ``priority`` are protocol 1.1.
        """
        params = say_params(self.server, npc, text, seed=seed, heard_by=heard_by, priority=priority)
        result = await self.call("npc.say", **params)
        stream = AsyncReplyStream(self, int(result["stream"]))
        self._streams[stream.id] = stream
        for note in self._early.pop(stream.id, []):
            self._route(note)
        return stream

    async def prepare(self, npc_id: str) -> None:
        """``npc.prepare`` (1.1): return once the NPC's persona is read."""
        require_minor(self.server, 1, "npc.prepare")
        await self.call("npc.prepare", id=npc_id)

    async def facts(self, npc_id: str) -> list[dict[str, Any]]:
        """``npc.facts`` (1.1): ``[{kind, text, turn}]``, the newest fact of each kind."""
        require_minor(self.server, 1, "npc.facts")
        return list((await self.call("npc.facts", id=npc_id))["facts"])

    async def teach(self, npc_id: str, text: str, *, kind: str) -> None:
        """``npc.teach`` (1.1): the NPC knows ``text`` (replacing the fact of that ``kind``)."""
        require_minor(self.server, 1, "npc.teach")
        await self.call("npc.teach", id=npc_id, text=text, kind=kind)

    async def relationship(self, npc_id: str, *, adjust: float | None = None) -> float:
        """``npc.relationship`` (1.1): -1..1, moved by ``adjust`` first when given."""
        require_minor(self.server, 1, "npc.relationship")
        params = given(id=npc_id, adjust=adjust)
        return float((await self.call("npc.relationship", **params))["relationship"])

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._writer.close()
        with contextlib.suppress(Exception):
            await self._writer.wait_closed()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- plumbing --------------------------------------------------------------------------

    def _expect(self, msgid: int) -> asyncio.Future[Response]:
        future: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        self._waiting[msgid] = future
        return future

    async def _result(self, future: asyncio.Future[Response]) -> Any:
        response = await asyncio.wait_for(future, self.timeout)
        if response.error is not None:
            raise RemoteError.from_map(response.error)
        return response.result

    async def _read_loop(self) -> None:
        error: BaseException = ConnectionDeadError("the server closed the connection")
        try:
            while True:
                data = await self._reader.read(1 << 16)
                if not data:
                    break
                for message in self._conn.receive_data(data):
                    if isinstance(message, Response):
                        future = self._waiting.pop(message.msgid, None)  # type: ignore[arg-type]
                        if future is not None and not future.done():
                            future.set_result(message)
                        elif message.msgid is None:
                            self._unrouted(Notification("rpc.error", {"error": message.error}))
                    else:
                        self._route(message)
        except (ConnectionError, RemoteError, ConnectionDeadError) as exc:
            error = exc
        except Exception as exc:  # a protocol error from the server's side
            error = exc
        finally:
            self._lost = error
            for future in self._waiting.values():
                if not future.done():
                    future.set_exception(error)
            self._waiting.clear()
            for stream in self._streams.values():
                stream._queue.put_nowait(None)

    def _route(self, note: Notification) -> None:
        stream_id = note.params.get("stream")
        if note.method.startswith("npc.") and isinstance(stream_id, int):
            stream = self._streams.get(stream_id)
            if stream is None:
                self._early.setdefault(stream_id, []).append(note)
                return
            stream._queue.put_nowait(note)
            if note.method != "npc.delta":
                del self._streams[stream_id]
            return
        self._unrouted(note)

    def _unrouted(self, note: Notification) -> None:
        if self.on_notification is not None:
            self.on_notification(note.method, note.params)
