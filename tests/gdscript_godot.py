"""The Godot engine names bridge/godot's npc_ai.gd uses, for running it with
tests/gdscript_subset.py: StreamPeerTCP over a real non-blocking socket (with Godot 4's rules
for status and available bytes), Time, OS, FileAccess, JSON, Node's constants and the Error
codes, plus a frame loop that calls _process() like the SceneTree does.

Like the interpreter, this models Godot from its documentation and source; it is not Godot.
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import socket
import subprocess
import termios
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.gdscript_subset import Instance, PackedByteArray, Script

__all__ = ["ERRORS", "GodotLoop", "PackedVector2Array", "StreamPeerTCP", "Vector2", "load_client"]

ADDON = Path(__file__).resolve().parents[1] / "bridge" / "godot" / "addons" / "npc_ai"

# Godot 4's Error enum (the values the client may return).
ERRORS = {
    "OK": 0,
    "FAILED": 1,
    "ERR_FILE_NOT_FOUND": 7,
    "ERR_ALREADY_IN_USE": 22,
    "ERR_CANT_CONNECT": 25,
    "ERR_CONNECTION_ERROR": 27,
    "ERR_INVALID_PARAMETER": 31,
    "ERR_BUSY": 44,
}


class StreamPeerTCP:
    """Godot 4's StreamPeerTCP, non-blocking as in the engine.

    As core/io/stream_peer_tcp.cpp does, poll() moves CONNECTING to CONNECTED or ERROR, and
    drops a connection to NONE only when the socket is readable with no bytes available (the
    peer closed and everything it sent has been read).
    """

    STATUS_NONE, STATUS_CONNECTING, STATUS_CONNECTED, STATUS_ERROR = 0, 1, 2, 3

    def __init__(self) -> None:
        self.sock: socket.socket | None = None
        self.status = self.STATUS_NONE

    def gd_call(self, name: str, args: list[Any]) -> Any:
        handler: Callable[..., Any] = getattr(self, "_" + name)
        return handler(*args)

    def _connect_to_host(self, host: str, port: int) -> int:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setblocking(False)
        self.sock.connect_ex((host, port))
        self.status = self.STATUS_CONNECTING
        return ERRORS["OK"]

    def _poll(self) -> int:
        if self.sock is None:
            return ERRORS["OK"]
        if self.status == self.STATUS_CONNECTING:
            _, writable, _ = select.select([], [self.sock], [], 0)
            if writable:
                failed = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                self.status = self.STATUS_ERROR if failed else self.STATUS_CONNECTED
        elif self.status == self.STATUS_CONNECTED:
            readable, _, _ = select.select([self.sock], [], [], 0)
            if readable and self._get_available_bytes() == 0:
                self._disconnect_from_host()
        return ERRORS["OK"]

    def _get_status(self) -> int:
        return self.status

    def _set_no_delay(self, enabled: bool) -> None:
        assert self.sock is not None and self.status == self.STATUS_CONNECTED
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, int(enabled))

    def _get_available_bytes(self) -> int:
        if self.sock is None or self.status != self.STATUS_CONNECTED:
            return 0
        count = bytearray(4)
        fcntl.ioctl(self.sock.fileno(), termios.FIONREAD, count)
        return int.from_bytes(count, "little")

    def _get_partial_data(self, n: int) -> list[Any]:
        assert self.sock is not None
        try:
            return [ERRORS["OK"], PackedByteArray(self.sock.recv(n))]
        except BlockingIOError:
            return [ERRORS["OK"], PackedByteArray()]
        except OSError:
            return [ERRORS["FAILED"], PackedByteArray()]

    def _put_partial_data(self, data: PackedByteArray) -> list[Any]:
        if self.sock is None or self.status != self.STATUS_CONNECTED:
            return [ERRORS["FAILED"], 0]
        try:
            return [ERRORS["OK"], self.sock.send(bytes(data.b))]
        except BlockingIOError:
            return [ERRORS["OK"], 0]
        except OSError:
            return [ERRORS["FAILED"], 0]

    def _disconnect_from_host(self) -> None:
        if self.sock is not None:
            self.sock.close()
        self.sock = None
        self.status = self.STATUS_NONE


class Vector2:
    """Godot's Vector2 (the members the add-on reads)."""

    def __init__(self, x: float, y: float) -> None:
        self.x, self.y = float(x), float(y)

    def gd_get(self, name: str) -> Any:
        return {"x": self.x, "y": self.y}[name]

    def gd_call(self, name: str, args: list[Any]) -> Any:
        raise NotImplementedError(f"Vector2.{name}")


class PackedVector2Array(list):  # type: ignore[type-arg]
    """Godot's PackedVector2Array, as AudioEffectCapture.get_buffer returns it."""


class _Namespace:
    """An engine class or singleton: constants and static methods."""

    def __init__(self, consts: dict[str, Any], methods: dict[str, Callable[..., Any]]) -> None:
        self.consts, self.methods = consts, methods

    def gd_get(self, name: str) -> Any:
        return self.consts[name]

    def gd_call(self, name: str, args: list[Any]) -> Any:
        return self.methods[name](*args)


def _execute(command: str, args: list[str], output: list[Any]) -> int:
    done = subprocess.run([command, *args], capture_output=True, text=True, check=False)
    output.append(done.stdout)
    return done.returncode


def _parse_json(text: str) -> Any:
    try:
        return json.loads(text, parse_int=float)  # Godot's JSON numbers are floats
    except ValueError:
        return None


def natives(scripts: dict[str, Script]) -> dict[str, Any]:
    tcp = StreamPeerTCP
    return {
        **ERRORS,
        "preload": lambda path: scripts[path],
        "StreamPeerTCP": _Namespace(
            {k: getattr(tcp, k) for k in dir(tcp) if k.startswith("STATUS_")},
            {"new": StreamPeerTCP},
        ),
        "Node": _Namespace({"PROCESS_MODE_ALWAYS": 3}, {}),
        "Time": _Namespace({}, {"get_ticks_msec": lambda: int(time.monotonic() * 1000)}),
        "OS": _Namespace(
            {},
            {
                "get_environment": lambda name: os.environ.get(name, ""),
                "get_name": lambda: "Linux",
                "execute": _execute,
            },
        ),
        "FileAccess": _Namespace(
            {},
            {
                "file_exists": lambda path: Path(path).is_file(),
                "get_file_as_string": lambda path: Path(path).read_text(encoding="utf-8"),
            },
        ),
        "JSON": _Namespace({}, {"parse_string": _parse_json}),
    }


def load_client() -> Script:
    """npc_ai.gd with its preloaded msgpack.gd."""
    scripts: dict[str, Script] = {}
    env = natives(scripts)
    scripts["msgpack.gd"] = Script((ADDON / "msgpack.gd").read_text(encoding="utf-8"), env)
    return Script((ADDON / "npc_ai.gd").read_text(encoding="utf-8"), env)


class GodotLoop:
    """One autoload NpcAi and the frames that drive it."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.node: Instance = script.instance(process_mode=0)
        script.method(self.node, "_ready")
        self.frames = 0

    def call(self, name: str, *args: Any) -> Any:
        return self.script.method(self.node, name, *args)

    def on(self, signal: str, handler: Callable[..., Any]) -> None:
        self.node.signals[signal].handlers.append(handler)

    def frame(self) -> None:
        self.call("_process", 1 / 60)
        self.script.flush_deferred()
        self.frames += 1

    def run_until(self, done: Callable[[], bool], timeout: float = 10.0) -> None:
        end = time.monotonic() + timeout
        while not done():
            if time.monotonic() > end:
                raise AssertionError(f"not done after {timeout} s ({self.frames} frames)")
            self.frame()
            time.sleep(0.002)
