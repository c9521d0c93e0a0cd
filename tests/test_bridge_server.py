"""The bridge server on a real socket, with the scripted fake generator."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import socket
import stat
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import msgpack
import pytest

from bridge.aio import AsyncClient
from bridge.client import Client
from bridge.discovery import read_discovery
from bridge.errors import ConnectionDeadError, RemoteError
from bridge.methods import METHODS
from bridge.protocol import (
    ClientConnection,
    Limits,
    Notification,
    Request,
    Response,
    frame,
    pack,
)
from bridge.server import BridgeServer, ServerOptions
from npc_ai.backends import ScriptedGenerator
from npc_ai.engine import SerialEngine
from npc_ai.errors import NpcAiError
from npc_ai.memory import MemoryStore
from npc_ai.runtime import Runtime, RuntimeOptions
from tests.conftest import PERSONAS, ROOT

TOKEN = "test-token"
REPLY = " Aye, leave it here. I will mend it by dusk.\nPlayer: x"
SMITH_LINE = "Aye, leave it here. I will mend it by dusk."
LONG = " ".join(f"word{i}" for i in range(300)) + "."


class Running:
    """A server on a free port, its event loop on a thread."""

    def __init__(self, server: BridgeServer, loop: asyncio.AbstractEventLoop, port: int) -> None:
        self.server, self.loop, self.port = server, loop, port

    def client(self, **kw: Any) -> Client:
        return Client.connect(port=self.port, token=TOKEN, timeout=10, **kw)

    def raw(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def on_loop(self, fn: Any) -> Any:
        async def call() -> Any:
            return fn()

        return asyncio.run_coroutine_threadsafe(call(), self.loop).result(5)


@contextmanager
def serving(
    script: list[str] | None = None,
    *,
    delay: float = 0.0,
    limits: Limits | None = None,
    discovery: Path | None = None,
    memory: MemoryStore | None = None,
    fail_after: int | None = None,
    choose: Any = None,
    **services: Any,
) -> Iterator[Running]:
    generator = ScriptedGenerator(
        script or [REPLY], delay=delay, fail_after=fail_after, choose=choose
    )
    runtime = Runtime(SerialEngine(generator), options=RuntimeOptions(budget_ms=5), memory=memory)
    options = ServerOptions(
        token=TOKEN,
        limits=limits or Limits(),
        persona_dirs=(PERSONAS,),
        discovery=discovery,
        write_discovery=discovery is not None,
    )
    server = BridgeServer(runtime, options, **services)
    loop = asyncio.new_event_loop()
    try:
        port = loop.run_until_complete(server.start())
    except BaseException:
        loop.run_until_complete(server.close())
        runtime.close()
        loop.close()
        raise
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield Running(server, loop, port)
    finally:
        asyncio.run_coroutine_threadsafe(server.close(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        runtime.close()
        loop.close()


def read_messages(sock: socket.socket, conn: ClientConnection, until: Any, timeout: float = 5.0):
    """Messages from a raw socket until ``until(messages)`` or the server hangs up."""
    got: list[Response | Notification] = []
    end = time.monotonic() + timeout
    while not until(got):
        sock.settimeout(max(end - time.monotonic(), 0.01))
        try:
            data = sock.recv(65536)
        except TimeoutError:
            raise AssertionError(f"timed out; got {got}") from None
        if not data:
            got.append(Notification("<closed>", {}))
            break
        got += conn.receive_data(data)
    return got


def closed(got: list[Any]) -> bool:
    return bool(got) and isinstance(got[-1], Notification) and got[-1].method == "<closed>"


def say_toml() -> str:
    return (PERSONAS / "blacksmith.toml").read_text(encoding="utf-8")


# -- handshake -----------------------------------------------------------------------------


def test_handshake_and_ping() -> None:
    with serving() as srv, srv.client() as c:
        assert c.server["protocol"] == 1
        assert c.server["limits"]["max_frame"] == 1 << 20
        assert c.call("rpc.ping", echo={"a": [1, b"\x00"]}) == {"echo": {"a": [1, b"\x00"]}}


def test_wrong_token_gets_error_then_close() -> None:
    with serving() as srv, srv.raw() as sock:
        conn = ClientConnection()
        sock.sendall(conn.hello("nope", "t") + pack(Request(9, "rpc.ping", {})))
        got = read_messages(sock, conn, closed)
        assert len(got) == 2  # the error, then the end; the ping is never answered
        assert isinstance(got[0], Response) and got[0].error is not None
        assert got[0].error["code"] == 2007 and got[0].msgid == conn.hello_id


def test_client_helper_raises_remote_error_on_wrong_token() -> None:
    with serving() as srv, pytest.raises(RemoteError) as info:
        Client.connect(port=srv.port, token="bad")
    assert info.value.remote_code == 2007


def test_hello_timeout_closes() -> None:
    with serving(limits=Limits(hello_timeout=0.3)) as srv, srv.raw() as sock:
        start = time.monotonic()
        got = read_messages(sock, ClientConnection(), closed)
        assert 0.25 < time.monotonic() - start < 3
        assert isinstance(got[0], Response) and got[0].error is not None
        assert got[0].error["code"] == 2010 and got[0].msgid is None


def test_message_before_hello_closes() -> None:
    with serving() as srv, srv.raw() as sock:
        sock.sendall(pack(Request(1, "rpc.ping", {})))
        got = read_messages(sock, ClientConnection(), closed)
        assert isinstance(got[0], Response) and got[0].error is not None
        assert got[0].error["code"] == 2006


def test_oversized_frame_closes_before_the_payload_is_sent() -> None:
    with serving(limits=Limits(max_frame=1000)) as srv, srv.client() as c:
        c._transport.send(struct.pack("<I", 1001))  # no payload follows
        with pytest.raises(Exception) as info:
            c.call("rpc.ping")
        assert "2001" in repr(info.value.__dict__) or "closed" in str(info.value)


# -- describe ------------------------------------------------------------------------------


def test_describe_lists_the_table() -> None:
    with serving() as srv, srv.client() as c:
        d = c.call("rpc.describe")
        assert d["protocol"] == 1 and d["server"].startswith("npc-ai")
        names = [m["name"] for m in d["methods"]]
        assert names == list(METHODS)
        for name in ("npc.say", "npc.load", "translate.text", "subtitle.push", "npc.export"):
            assert name in names
        say = next(m for m in d["methods"] if m["name"] == "npc.say")
        assert [(p["name"], p["type"], p["required"], p["since"]) for p in say["params"]] == [
            ("npc", "str", True, "1.0"),
            ("text", "str", True, "1.0"),
            ("seed", "int", False, "1.0"),
            ("heard_by", "[str]", False, "1.1"),
            ("priority", "str", False, "1.1"),
        ]
        assert say["notifications"] == ["npc.delta", "npc.done", "npc.error"]
        assert say["available"] is True and say["since"] == "1.0"


def test_unavailable_and_unknown_methods() -> None:
    with serving() as srv, srv.client() as c:
        with pytest.raises(RemoteError) as info:
            c.call("npc.dance")
        assert info.value.remote_code == 2004
        missing = [n for n, m in METHODS.items() if not m.available(srv.server.services)]
        assert "translate.text" in missing and "subtitle.push" in missing
        for name in missing:  # a protocol method this server lacks: 2011, not 2004
            with pytest.raises(RemoteError) as info:
                c.call(name)
            assert info.value.remote_code == 2011
        assert c.call("rpc.ping") == {"echo": None}  # and the connection goes on


def test_bad_params() -> None:
    with serving() as srv, srv.client() as c:
        for params, param in (
            ({"npc": "x"}, "text"),
            ({"npc": "x", "text": 5}, "text"),
            ({"npc": "x", "text": "hi", "sed": 1}, "sed"),
            ({"npc": "x", "text": "hi", "seed": True}, "seed"),
        ):
            with pytest.raises(RemoteError) as info:
                c.call("npc.say", **params)
            assert info.value.remote_code == 2005
            assert info.value.remote_data["param"] == param


# -- npc.load ------------------------------------------------------------------------------


def persona_map() -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    return tomllib.loads(say_toml())


def test_load_persona_as_toml_string_map_and_file() -> None:
    with serving() as srv, srv.client() as c:
        a = c.call("npc.load", id="a", persona=say_toml())
        b = c.call("npc.load", id="b", persona=persona_map(), priority="focused")
        f = c.call("npc.load", id="f", file="blacksmith.toml")
        g = c.call("npc.load", file=str(PERSONAS / "guard.toml"))  # absolute, inside
        assert a["name"] == b["name"] == f["name"] and a["id"] == "a"
        assert g["id"] == g["name"]  # the id defaults to the persona's name
        for npc in ("a", "b", "f", g["id"]):
            assert c.say(npc, "Hello").read()


@pytest.mark.parametrize(
    "name",
    [
        "../../pyproject.toml",
        str(ROOT / "pyproject.toml"),
        "/etc/passwd",
        "missing.toml",
        "bad\x00name.toml",
        "~/blacksmith.toml",
        "",
    ],
)
def test_load_file_outside_the_persona_folders_is_refused(name: str) -> None:
    with serving() as srv, srv.client() as c:
        with pytest.raises(RemoteError) as info:
            c.call("npc.load", id="x", file=name)
        assert info.value.remote_code == 1300
        assert "persona folders" in info.value.message


def test_load_file_through_a_symlink_out_is_refused(tmp_path: Path) -> None:
    link = PERSONAS / f"_escape_{os.getpid()}.toml"
    target = tmp_path / "outside.toml"
    target.write_text(say_toml(), encoding="utf-8")
    link.symlink_to(target)
    try:
        with serving() as srv, srv.client() as c, pytest.raises(RemoteError) as info:
            c.call("npc.load", id="x", file=link.name)
        assert info.value.remote_code == 1300
    finally:
        link.unlink()


def test_load_errors() -> None:
    with serving() as srv, srv.client() as c:
        with pytest.raises(RemoteError) as info:
            c.call("npc.load", id="x", persona={"name": "Bob", "traits": "not a list"})
        assert info.value.remote_code == 1200 and info.value.remote_data["field"]
        with pytest.raises(RemoteError) as info:
            c.call("npc.load", id="x", persona="name = [unclosed")
        assert info.value.remote_code == 1200
        with pytest.raises(RemoteError) as info:
            c.call("npc.load", id="x")  # neither persona nor file
        assert info.value.remote_code == 2005
        c.call("npc.load", id="x", persona=say_toml())
        with pytest.raises(RemoteError) as info:
            c.call("npc.load", id="x", persona=say_toml())
        assert info.value.remote_code == 1300
        with pytest.raises(RemoteError) as info:
            c.call("npc.load", id="y", persona=say_toml(), priority="urgent")
        assert info.value.remote_code == 2005


def test_npc_ids_are_server_wide_but_owned_by_one_client() -> None:
    with serving() as srv, srv.client() as a, srv.client() as b:
        a.call("npc.load", id="smith", persona=say_toml())
        with pytest.raises(RemoteError) as info:  # the id names one NPC (and its memory)
            b.call("npc.load", id="smith", persona=say_toml())
        assert info.value.remote_code == 1300
        with pytest.raises(RemoteError):  # b cannot speak to a's NPC
            b.say("smith", "hi")
        with pytest.raises(RemoteError):
            b.call("npc.unload", id="smith")
        a.call("npc.unload", id="smith")
        b.call("npc.load", id="smith", persona=say_toml())
        assert b.say("smith", "Hi").read()


def test_a_result_over_the_frame_limit_becomes_an_error() -> None:
    with serving(limits=Limits(max_frame=1000)) as srv, srv.client() as c:
        with pytest.raises(RemoteError) as info:
            c.call("rpc.describe")  # several kilobytes
        assert info.value.remote_code == 2013
        assert info.value.remote_data["max_frame"] == 1000
        assert c.call("rpc.ping", echo=1) == {"echo": 1}


# -- npc.say -------------------------------------------------------------------------------


def test_say_streams_deltas_then_exactly_one_done() -> None:
    with serving(delay=0.005) as srv, srv.raw() as sock:
        conn = ClientConnection()
        sock.sendall(conn.hello(TOKEN, "raw"))
        read_messages(sock, conn, lambda got: len(got) == 1)
        _, data = conn.request("npc.load", {"id": "smith", "persona": say_toml()})
        sock.sendall(data)
        read_messages(sock, conn, lambda got: len(got) == 1)
        say_id, data = conn.request("npc.say", {"npc": "smith", "text": "Mend my sword?"})
        sock.sendall(data)
        got = read_messages(
            sock, conn, lambda got: any(getattr(m, "method", "") == "npc.done" for m in got)
        )
        sock.sendall(pack(Request(99, "rpc.ping", {})))  # anything late would come first
        got += read_messages(sock, conn, lambda g: any(getattr(m, "msgid", 0) == 99 for m in g))
        assert isinstance(got[0], Response) and got[0].msgid == say_id  # response first
        stream = got[0].result["stream"]
        notes = [m for m in got if isinstance(m, Notification)]
        assert {n.params["stream"] for n in notes} == {stream}
        deltas = [n for n in notes if n.method == "npc.delta"]
        dones = [n for n in notes if n.method == "npc.done"]
        assert len(dones) == 1 and notes[-1] is dones[0] and len(deltas) >= 3
        done = dones[0].params
        assert done["text"] == "Aye, leave it here. I will mend it by dusk."
        assert "".join(d.params["text"] for d in deltas) == done["text"]
        assert done["finish_reason"] == "stop" and done["npc"] == "smith"


def test_say_to_unknown_npc_and_bad_text() -> None:
    with serving() as srv, srv.client() as c:
        with pytest.raises(RemoteError) as info:
            c.say("nobody", "hi")
        assert info.value.remote_code == 1300
        c.call("npc.load", id="smith", persona=say_toml())
        with pytest.raises(RemoteError) as info:
            c.say("smith", "   ")
        assert info.value.remote_code == 1300


def test_a_failed_reply_ends_with_one_npc_error() -> None:
    notes: list[tuple[str, dict[str, Any]]] = []
    with serving([LONG], fail_after=3) as srv, srv.client() as c:
        c.call("npc.load", id="smith", persona=say_toml())
        reply = c.say("smith", "Talk.")
        pieces: list[str] = []
        with pytest.raises(RemoteError) as info:
            for piece in reply:
                pieces.append(piece)
        assert info.value.remote_code == 1400 and reply.error is info.value
        assert reply.finish_reason is None
        c.on_notification = lambda m, p: notes.append((m, p))
        c.poll(0.3)
        assert not c._early and not notes  # nothing after the error
        # The NPC can be spoken to again.
        assert c.call("rpc.ping") == {"echo": None}


def test_cancel_ends_with_one_cancelled_done() -> None:
    with serving([LONG], delay=0.02) as srv, srv.client() as c:
        c.call("npc.load", id="smith", persona=say_toml())
        reply = c.say("smith", "Tell me everything.")
        pieces = iter(reply)
        first = next(pieces)
        assert reply.cancel() is True
        rest = list(pieces)
        assert reply.finish_reason == "cancelled"
        assert len(rest) < 100
        assert (first + "".join(rest)).strip().startswith(reply.text.strip()[:5])
        assert reply.cancel() is False  # already ended
        c.poll(0.3)
        assert not c._early  # nothing more arrived for the stream


def test_new_say_cancels_the_old_reply() -> None:
    with serving([LONG], delay=0.02) as srv, srv.client() as c:
        c.call("npc.load", id="smith", persona=say_toml())
        old = c.say("smith", "Tell me everything.")
        new = c.say("smith", "Never mind.")
        assert old.read() is not None and old.finish_reason == "cancelled"
        c.call("npc.cancel", stream=new.id)
        new.read()


def test_pipelined_requests_keep_their_order() -> None:
    with serving() as srv, srv.client() as c:
        load = c.request("npc.load", id="smith", persona=say_toml())
        say = c.request("npc.say", npc="smith", text="Hi")  # sent before load's answer
        assert c.result(load)["id"] == "smith"
        assert isinstance(c.result(say)["stream"], int)


def test_disconnect_cancels_that_clients_replies() -> None:
    with serving([LONG], delay=0.02) as srv:
        generator = srv.server.runtime.engine.generator  # type: ignore[attr-defined]
        c = srv.client()
        c.call("npc.load", id="smith", persona=say_toml())
        reply = c.say("smith", "Tell me everything.")
        next(iter(reply))
        c.close()
        deadline = time.monotonic() + 3
        while srv.server.sessions or srv.server.runtime.engine.busy:
            assert time.monotonic() < deadline, "the reply went on after the client left"
            time.sleep(0.02)
        emitted = generator.pieces_emitted
        time.sleep(0.2)
        assert generator.pieces_emitted == emitted < 100
        assert srv.on_loop(lambda: srv.server.runtime._npcs) == {}


# -- many clients, slow clients, bad clients -----------------------------------------------


def test_slow_client_does_not_stall_others() -> None:
    with serving([LONG], delay=0.001) as srv:
        slow = srv.raw()
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        conn = ClientConnection()
        slow.sendall(conn.hello(TOKEN, "slow"))
        time.sleep(0.1)
        slow.sendall(pack(Request(2, "npc.load", {"id": "s", "persona": say_toml()})))
        big = "x" * 200_000
        for i in range(10, 40):  # ~6 MB of answers it will never read
            slow.sendall(pack(Request(i, "rpc.ping", {"echo": big})))
        slow.sendall(pack(Request(50, "npc.say", {"npc": "s", "text": "Talk."})))
        with srv.client() as good:
            good.call("npc.load", id="g", persona=say_toml())
            for _ in range(3):
                start = time.monotonic()
                good.call("rpc.ping")
                assert time.monotonic() - start < 0.5
            start = time.monotonic()
            text = good.say("g", "Hello").read()
            assert text and time.monotonic() - start < 5
        session = next(s for s in srv.server.sessions.values() if s.conn.client == "slow")
        deadline = time.monotonic() + 10
        while session.streams or len(session.outbox) == 0:  # until its reply has ended
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert session.outbox.merged > 0  # its deltas were merged, not dropped
        assert len(session.outbox) < 40
        slow.close()


def test_client_over_the_queue_limit_is_disconnected() -> None:
    with serving(limits=Limits(max_queue=1 << 20)) as srv:
        slow = srv.raw()
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        slow.sendall(ClientConnection().hello(TOKEN, "slow"))
        big = "x" * 200_000
        for i in range(10, 40):
            try:
                slow.sendall(pack(Request(i, "rpc.ping", {"echo": big})))
            except OSError:
                break
        deadline = time.monotonic() + 5
        while any(s.conn.client == "slow" for s in srv.server.sessions.values()):
            assert time.monotonic() < deadline
            time.sleep(0.02)
        with srv.client() as good:
            assert good.call("rpc.ping", echo=1) == {"echo": 1}
        slow.close()


def random_frames(rng: random.Random, count: int) -> Iterator[bytes]:
    names = [*METHODS, "npc", "", "rpc.hello", "x" * 300]
    values: list[Any] = [None, True, -1, 2**40, 1.5, "", "text", b"\x00\xff", [], {}, [1, [2]]]
    for _ in range(count):
        kind = rng.random()
        if kind < 0.4:  # random bytes in a well-formed frame
            yield frame(rng.randbytes(rng.randrange(0, 64)))
        elif kind < 0.8:  # a real method with random params
            params = {
                rng.choice(
                    ["npc", "text", "id", "persona", "stream", "file", "blob", "q"]
                ): rng.choice(values)
                for _ in range(rng.randrange(0, 4))
            }
            msg = [
                rng.choice([0, 0, 2, 1, 7]),
                rng.randrange(0, 2**32),
                rng.choice(names),
                [params] if rng.random() < 0.8 else params,
            ]
            if msg[0] == 2:
                msg.pop(1)
            yield frame(msgpack.packb(msg, use_bin_type=True))
        else:  # a valid message mangled
            data = bytearray(msgpack.packb([0, rng.randrange(1000), "rpc.ping", []]))
            data[rng.randrange(len(data))] = rng.randrange(256)
            yield frame(bytes(data))


def test_ten_thousand_random_frames_then_a_good_client_is_served() -> None:
    rng = random.Random(20261122)
    with serving() as srv:
        with srv.client() as bad:
            bad.call("npc.load", id="smith", persona=say_toml())
            data = b"".join(random_frames(rng, 10_000))
            sender = threading.Thread(target=bad._transport.send, args=(data,))
            sender.start()
            deadline = time.monotonic() + 60
            while sender.is_alive():  # read the answers while the frames go out
                assert time.monotonic() < deadline
                bad.poll(0.05)
            sender.join()
            bad.poll(1.0)  # the rest of the answers (until in-flight requests are answered)
            assert bad.call("rpc.ping", echo="still here") == {"echo": "still here"}
            errors = [n for n in bad.notifications if n.method == "rpc.error"]
            assert len(errors) > 1000  # bad frames got answers, the connection stayed up
        # Unauthenticated junk on other connections does nothing either.
        for _ in range(20):
            with srv.raw() as sock:
                sock.sendall(b"".join(random_frames(rng, 5)))
        with srv.client() as good:
            good.call("npc.load", id="smith2", persona=say_toml())
            assert good.say("smith2", "Hello?").read() == SMITH_LINE


def test_many_clients_at_once() -> None:
    with serving(limits=Limits(max_clients=8)) as srv:  # the default is 4
        failures: list[BaseException] = []

        def run(i: int) -> None:
            try:
                with srv.client() as c:
                    c.call("npc.load", id=f"n{i}", persona=say_toml())
                    for j in range(5):
                        assert c.call("rpc.ping", echo=[i, j]) == {"echo": [i, j]}
                    assert c.say(f"n{i}", "Hi").read()
            except BaseException as exc:
                failures.append(exc)

        threads = [threading.Thread(target=run, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert not failures


def test_failed_notification_comes_back_with_nil_msgid() -> None:
    with serving() as srv, srv.client() as c:
        c.notify("npc.say", npc="nobody", text="hi")
        c.poll(0.5)
        (note,) = [n for n in c.notifications if n.method == "rpc.error"]
        assert note.params["error"]["code"] == 1300
        assert note.params["error"]["data"]["method"] == "npc.say"


# -- asyncio client ------------------------------------------------------------------------


def test_async_client() -> None:
    with serving(delay=0.002) as srv:

        async def main() -> tuple[list[str], str, Any]:
            async with await AsyncClient.connect(port=srv.port, token=TOKEN) as c:
                await c.call("npc.load", id="smith", persona=say_toml())
                reply = await c.say("smith", "Hello")
                pieces = [p async for p in reply]
                pings = await asyncio.gather(*(c.call("rpc.ping", echo=i) for i in range(20)))
                return pieces, reply.text, pings

        pieces, text, pings = asyncio.run(main())
        assert "".join(pieces) == text == "Aye, leave it here. I will mend it by dusk."
        assert [p["echo"] for p in pings] == list(range(20))


def test_async_client_errors_and_lost_connection() -> None:
    with serving(delay=0.05) as srv:

        async def main() -> None:
            notes: list[str] = []
            c = await AsyncClient.connect(
                port=srv.port, token=TOKEN, on_notification=lambda m, p: notes.append(m)
            )
            with pytest.raises(RemoteError) as info:
                await c.call("npc.say", npc="nobody", text="hi")
            assert info.value.remote_code == 1300
            await c.notify("npc.say", npc="nobody", text="hi")
            await c.call("npc.load", id="smith", persona=say_toml())
            assert notes == ["rpc.error"]  # the failed notification, before load's answer
            reply = await c.say("smith", "Hello")
            srv.on_loop(lambda: [s._writer.transport.abort() for s in srv.server.sessions.values()])
            with pytest.raises(ConnectionDeadError):
                await reply.read()
            with pytest.raises(ConnectionDeadError):
                await c.call("rpc.ping")
            await c.close()

        asyncio.run(main())
        with pytest.raises(RemoteError) as info:

            async def wrong() -> None:
                await AsyncClient.connect(port=srv.port, token="wrong")

            asyncio.run(wrong())
        assert info.value.remote_code == 2007


# -- discovery and stdio -------------------------------------------------------------------


def test_discovery_file_is_private_and_removed(tmp_path: Path) -> None:
    path = tmp_path / "run" / "bridge.json"
    with serving(discovery=path) as srv:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        info = read_discovery(path)
        assert info["port"] == srv.port and info["token"] == TOKEN
        assert info["pid"] == os.getpid() and info["protocol"] == 1
        with Client.connect(path) as c:
            assert c.call("rpc.ping", echo=2) == {"echo": 2}
    assert not path.exists()


STDIO_SERVER = """
import asyncio, logging, sys
from npc_ai.backends import ScriptedGenerator
from npc_ai.engine import SerialEngine
from npc_ai.memory import MemoryStore
from npc_ai.runtime import Runtime
from bridge.server import BridgeServer, ServerOptions, claim_stdout
out_fd = claim_stdout()
print("stray output that must not reach the stream")
rt = Runtime(SerialEngine(ScriptedGenerator([" Halt! Who goes there?"])))
server = BridgeServer(rt, ServerOptions(write_discovery=False))
asyncio.run(server.serve_stdio(sys.argv[1], out_fd=out_fd))
rt.close()
"""


def test_stdio_mode() -> None:
    command = [sys.executable, "-c", STDIO_SERVER, "pipe-token"]
    with Client.spawn(command, token="pipe-token", timeout=20) as c:
        c.call("npc.load", id="guard", persona=say_toml())
        assert c.say("guard", "Hello").read() == "Halt! Who goes there?"
        assert c.call("rpc.ping", echo=b"\x00" * 10) == {"echo": b"\x00" * 10}
        process = c.process
    assert process is not None and process.wait(10) == 0


def test_stdio_wrong_token() -> None:
    command = [sys.executable, "-c", STDIO_SERVER, "pipe-token"]
    with pytest.raises(RemoteError) as info:
        Client.spawn(command, token="other", timeout=20)
    assert info.value.remote_code == 2007


def test_serve_is_a_cli_subcommand() -> None:
    from npc_ai.cli import build_parser

    args = build_parser().parse_args(["serve", "--port", "50123", "--token", "secret"])
    assert args.command == "serve" and args.port == 50123 and args.token == "secret"
    assert args.func.__module__ == "bridge.cli"


@pytest.mark.model
def test_real_model_through_the_bridge_over_stdio() -> None:
    npc_ai = str(Path(sys.executable).with_name("npc-ai"))
    command = [npc_ai, "serve", "--stdio", "--personas", str(PERSONAS), "--threads", "1"]
    with Client.spawn(command, timeout=120) as c:
        assert c.call("npc.load", id="smith", file="blacksmith.toml", priority="focused")
        reply = c.say("smith", "Can you mend my sword?", seed=7)
        pieces = list(reply)
        assert reply.text.strip() and "".join(pieces) == reply.text
        assert reply.finish_reason in ("stop", "sentences", "length", "blocked", "fallback")
        again = c.say("smith", "Can you mend my sword?", seed=7).read()
        assert again  # a second turn on the same NPC works (it remembers the first)


# -- the outgoing queue --------------------------------------------------------------------


def test_outbox_merges_deltas_replaces_partials_keeps_the_rest() -> None:
    from bridge.server import Outbox

    box = Outbox()
    box.put(Notification("npc.delta", {"stream": 1, "text": "A"}))
    box.put(Notification("npc.delta", {"stream": 2, "text": "x"}))
    box.put(Response(5, None, {}))
    box.put(Notification("npc.delta", {"stream": 1, "text": "B"}))
    box.put(Notification("subtitle.partial", {"session": 1, "segment": 0, "text": "he"}))
    box.put(Notification("subtitle.partial", {"session": 1, "segment": 0, "text": "hello"}))
    box.put(Notification("subtitle.final", {"session": 1, "segment": 0, "text": "hello."}))
    box.put(Notification("npc.done", {"stream": 1, "text": "AB"}))
    assert box.merged == 2
    out = []
    while (item := box.pop()) is not None:
        assert pack(item[0]) == item[1]
        out.append(item[0])
    assert out == [
        Notification("npc.delta", {"stream": 1, "text": "AB"}),
        Notification("npc.delta", {"stream": 2, "text": "x"}),
        Response(5, None, {}),
        Notification("subtitle.partial", {"session": 1, "segment": 0, "text": "hello"}),
        Notification("subtitle.final", {"session": 1, "segment": 0, "text": "hello."}),
        Notification("npc.done", {"stream": 1, "text": "AB"}),
    ]
    assert box.size == 0
    # Once a delta has gone out, the next one starts a new message.
    box.put(Notification("npc.delta", {"stream": 3, "text": "a"}))
    box.pop()
    box.put(Notification("npc.delta", {"stream": 3, "text": "b"}))
    assert box.pop() is not None and box.merged == 2


def test_public_names() -> None:
    import bridge.aio
    import bridge.client
    import bridge.codec
    import bridge.discovery
    import bridge.errors
    import bridge.media
    import bridge.messages
    import bridge.methods
    import bridge.npcs
    import bridge.outbox
    import bridge.protocol
    import bridge.server

    for module in (
        bridge.aio,
        bridge.client,
        bridge.codec,
        bridge.discovery,
        bridge.errors,
        bridge.media,
        bridge.messages,
        bridge.methods,
        bridge.npcs,
        bridge.outbox,
        bridge.protocol,
        bridge.server,
    ):
        for name in module.__all__:
            assert getattr(module, name).__doc__ or name.isupper() or name == "SubtitleFactory", (
                name
            )
    assert bridge.server.__all__ == [
        "BridgeServer",
        "Outbox",
        "ServerOptions",
        "claim_stdout",
        "default_discovery_path",
        "read_discovery",
    ]
    assert bridge.client.__all__ == ["Client", "ReplyStream"]
    assert bridge.aio.__all__ == ["AsyncClient", "AsyncReplyStream"]


@pytest.mark.parametrize(
    "connect",
    [
        "import bridge.client as c; c.Client.connect(missing)",
        "import asyncio, bridge.aio as a; asyncio.run(a.AsyncClient.connect(missing))",
    ],
)
def test_clients_do_not_load_the_server_or_the_runtime(connect: str, tmp_path: Path) -> None:
    """A game's Python client reads the discovery file without the server and the runtime
    behind it (the model stack)."""
    code = (
        "import sys\n"
        f"missing = {str(tmp_path / 'none.json')!r}\n"
        "try:\n"
        f"    {connect}\n"
        "except Exception as exc:\n"
        "    print(type(exc).__name__)\n"
        "print(sorted(m for m in ('bridge.server', 'npc_ai.runtime', 'npc_ai.engine') "
        "if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["NpcAiError", "[]"]  # no discovery file: the clear error


# -- memory --------------------------------------------------------------------------------


def test_export_and_import_memory() -> None:
    with serving(memory=MemoryStore()) as srv, srv.client() as c:
        c.call("npc.load", id="smith", persona=say_toml())
        c.say("smith", "My name is Arin and I lost my sword in the river.").read()
        blob = c.call("npc.export")["blob"]
        assert isinstance(blob, bytes) and blob
        assert c.call("npc.export", ids=["smith"])["blob"] == blob
    # A new server, a fresh store: the save brings the NPC's memory back.
    with serving(memory=MemoryStore()) as srv, srv.client() as c:
        c.call("npc.load", id="smith", persona=say_toml())
        empty = c.call("npc.export")["blob"]
        assert c.call("npc.import", blob=blob) == {"ids": ["smith"]}
        again = c.call("npc.export")["blob"]
        assert again == blob != empty
        with pytest.raises(RemoteError) as info:
            c.call("npc.import", blob=b"not a save")
        assert info.value.remote_code == 1501  # MemoryFormatError; nothing changed
        assert c.call("npc.export")["blob"] == blob


def test_memory_methods_need_a_store() -> None:
    with serving() as srv, srv.client() as c:
        with pytest.raises(RemoteError) as info:
            c.call("npc.export")
        assert info.value.remote_code == 2011


def test_discovery_in_a_folder_others_can_write_is_refused(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    with pytest.raises(NpcAiError) as info, serving(discovery=shared / "bridge.json"):
        pass
    assert "not private" in info.value.message


@pytest.mark.model
def test_npc_ai_serve_over_tcp_with_a_discovery_file(tmp_path: Path) -> None:
    path = tmp_path / "run" / "bridge.json"
    npc_ai = str(Path(sys.executable).with_name("npc-ai"))
    command = [npc_ai, "serve", "--discovery", str(path), "--threads", "1", "--no-subtitles"]
    proc = subprocess.Popen([*command, "--personas", str(PERSONAS)])
    try:
        deadline = time.monotonic() + 120
        while not path.exists():
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        with Client.connect(path) as c:
            c.call("npc.load", id="guard", file="guard.toml")
            assert c.say("guard", "Who goes there?", seed=3).read()
            blob = c.call("npc.export")["blob"]
            assert c.call("npc.import", blob=blob) == {"ids": ["guard"]}
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    assert not path.exists()  # removed on exit


def test_the_server_needs_a_threaded_runtime() -> None:
    runtime = Runtime(SerialEngine(ScriptedGenerator()), options=RuntimeOptions(threaded=False))
    with runtime, pytest.raises(NpcAiError) as info:
        BridgeServer(runtime)
    assert info.value.code == 1300
