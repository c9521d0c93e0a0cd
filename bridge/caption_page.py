"""Live captions as a web page, for an OBS Browser Source.

A standard-library HTTP server bound to 127.0.0.1 (never another interface) on a given or a
free port:

- ``GET /`` is a self-contained page (no external files): transparent background, outlined
  text. Query parameters change its look: ``size`` (px), ``pos`` (``bottom``/``top``),
  ``lang`` (translation targets to show, e.g. ``es,fr``), ``original=0``, ``partials=0``,
  ``font``, ``color``, ``tcolor``, ``outline`` (px), ``ocolor``, ``margin`` (px), ``lines``.
- ``GET /events`` is a ``text/event-stream``. Each ``event: caption`` carries JSON
  ``{"kind", "event", "lines"}``: what happened (``partial``, ``final``, ``translation``,
  ``error``, ``expire`` or, first on connecting, ``snapshot``), the event's fields, and every
  line on the board now, so one message is enough to draw the screen. Comments keep idle
  connections alive.
- ``GET /captions-worker.js`` is the SharedWorker through which the pages of one browser
  share one event stream (a browser keeps at most 6 HTTP/1.1 connections to a server, and
  each stream holds one); ``shared=0`` gives a page its own stream.

Several browsers can watch at once. Each has its own bounded queue: when a slow one falls
behind, its oldest partial messages are dropped (each message repeats the whole board, so
nothing is lost but intermediate states), finals never; a client that cannot even keep up
with finals is cut off. Writing to one client never holds up another or the publisher.

Example::

    with CaptionServer(WebOptions(port=8765)) as server:
        print("OBS Browser Source URL:", server.url)
        for event in session.events():
            server.publish([event])
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from npc_ai.errors import InputError, OverlayError
from npc_ai.subtitles.board import BoardLine, BoardOptions, CaptionBoard, OverlayStyle
from npc_ai.subtitles.speech.events import SubtitleEvent

__all__ = ["HOST", "CaptionServer", "WebOptions"]

log = logging.getLogger(__name__)

#: The only address the server binds: captions are for this machine's OBS, not the network.
HOST = "127.0.0.1"

_DROPPABLE = frozenset({"partial", "expire", "snapshot"})
_LOCAL_NAMES = frozenset({"127.0.0.1", "localhost"})


@dataclass(frozen=True, slots=True, kw_only=True)
class WebOptions:
    """The caption web server. Build once at the edge."""

    #: TCP port on 127.0.0.1; 0 picks a free one (see :attr:`CaptionServer.port`).
    port: int = 0
    #: The page's default look (query parameters override it per Browser Source).
    style: OverlayStyle = field(default_factory=OverlayStyle)
    #: Seconds between keep-alive comments on an idle event stream.
    keepalive_seconds: float = 15.0
    #: Messages a client may have waiting before its oldest partials are dropped.
    client_queue: int = 64
    #: Waiting finals at which a client that does not read is cut off.
    client_backlog_limit: int = 2048
    #: Seconds a write to one client may block before that client is cut off.
    write_timeout: float = 10.0
    max_clients: int = 32

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise InputError(f"port must be 0 to 65535, not {self.port}")
        if self.keepalive_seconds <= 0 or self.write_timeout <= 0:
            raise InputError("keepalive_seconds and write_timeout must be positive")
        if not 1 <= self.client_queue <= self.client_backlog_limit or self.max_clients < 1:
            raise InputError("need 1 <= client_queue <= client_backlog_limit and max_clients >= 1")


class _Client:
    """One event-stream connection's queue: bounded, partials dropped first."""

    def __init__(self, options: WebOptions, sock: socket.socket) -> None:
        self.sock = sock
        self._limit = options.client_queue
        self._hard = options.client_backlog_limit
        self._queue: deque[tuple[bool, bytes]] = deque()
        self._cond = threading.Condition()
        self.closed = False
        self.dropped = 0

    def put(self, droppable: bool, data: bytes) -> None:
        with self._cond:
            if self.closed:
                return
            if len(self._queue) >= self._limit:
                for i, (can_drop, _) in enumerate(self._queue):
                    if can_drop:
                        del self._queue[i]
                        self.dropped += 1
                        break
                else:
                    if len(self._queue) >= self._hard:
                        log.warning("caption client fell %d finals behind; cut off", self._hard)
                        self.close_locked()
                        return
            self._queue.append((droppable, data))
            self._cond.notify()

    def get(self, timeout: float) -> bytes | None:
        """The next message, b"" on timeout, None once closed."""
        with self._cond:
            if not self._queue and not self.closed:
                self._cond.wait(timeout)
            if self._queue:
                return self._queue.popleft()[1]
            return None if self.closed else b""

    def close(self) -> None:
        with self._cond:
            self.close_locked()

    def close_locked(self) -> None:
        self.closed = True
        self._queue.clear()
        self._cond.notify_all()
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)


def _event_fields(event: SubtitleEvent) -> dict[str, Any]:
    data = event.to_dict()
    data.pop("words", None)  # the page draws whole lines: word times are dead weight
    return data


def sse_message(kind: str, event: SubtitleEvent | None, board: CaptionBoard, ident: int) -> bytes:
    """One ``event: caption`` message of the stream, as bytes."""
    payload = {
        "kind": kind,
        "event": None if event is None else _event_fields(event),
        "lines": [dataclasses.asdict(line) for line in board.lines],
    }
    data = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return f"event: caption\nid: {ident}\ndata: {data}\n\n".encode()


class CaptionServer:
    """The caption page and its event stream on 127.0.0.1. See the module docs."""

    def __init__(
        self,
        options: WebOptions | None = None,
        *,
        board: CaptionBoard | None = None,
        board_options: BoardOptions | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.options = options or WebOptions()
        self.board = board or CaptionBoard(board_options)
        self._clock = clock
        self._lock = threading.Condition()  # the board, the clients, the message ids
        self._clients: set[_Client] = set()
        self._ids = 0
        self._closing = False
        self._httpd: ThreadingHTTPServer | None = None
        self._threads: list[threading.Thread] = []

    # -- life cycle -----------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The port the server listens on (known once started)."""
        if self._httpd is None:
            raise OverlayError("the caption server is not started")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """The page's address, for an OBS Browser Source."""
        return f"http://{HOST}:{self.port}/"

    @property
    def lines(self) -> tuple[BoardLine, ...]:
        """The lines on the page now."""
        with self._lock:
            return self.board.lines

    @property
    def client_count(self) -> int:
        """Event streams connected now."""
        with self._lock:
            return len(self._clients)

    def start(self) -> None:
        """Bind and serve on background threads. Raises :class:`OverlayError` if the port is
        taken."""
        if self._httpd is not None:
            return
        try:
            httpd = ThreadingHTTPServer((HOST, self.options.port), _handler_for(self))
        except OSError as exc:
            raise OverlayError(
                f"cannot serve captions on {HOST}:{self.options.port}: {exc.strerror or exc} "
                "(pick another port, or 0 for any free one)",
                port=self.options.port,
            ) from exc
        httpd.daemon_threads = True
        self._httpd = httpd
        self._threads = [
            threading.Thread(target=httpd.serve_forever, name="npc-ai-captions-http", daemon=True),
            threading.Thread(target=self._tick, name="npc-ai-captions-expiry", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        log.info("caption page at %s", self.url)

    def close(self) -> None:
        """Stop serving, end every event stream and free the port."""
        httpd = self._httpd
        if httpd is None:
            return
        with self._lock:
            self._closing = True
            clients = list(self._clients)
            self._lock.notify_all()
        for client in clients:
            client.close()
        httpd.shutdown()
        httpd.server_close()
        for thread in self._threads:
            thread.join(timeout=2.0)
        self._httpd = None

    def __enter__(self) -> CaptionServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- publishing -----------------------------------------------------------------------

    def publish(self, events: Iterable[SubtitleEvent]) -> None:
        """Show caption events on every connected page. Never waits for a client."""
        with self._lock:
            now = self._clock()
            for event in events:
                changed = self.board.update([event], now)
                kind = event.kind
                if changed or kind in ("final", "translation", "error"):
                    self._broadcast(kind, event)
            self._lock.notify_all()  # the expiry clock may have a new deadline

    def _broadcast(self, kind: str, event: SubtitleEvent | None) -> None:
        self._ids += 1
        data = sse_message(kind, event, self.board, self._ids)
        for client in list(self._clients):
            if client.closed:
                self._clients.discard(client)
            else:
                client.put(kind in _DROPPABLE, data)

    def _tick(self) -> None:
        with self._lock:
            while not self._closing:
                wait = self.board.next_change(self._clock())
                self._lock.wait(None if wait is None else max(wait, 0.01))
                if not self._closing and self.board.update([], self._clock()):
                    self._broadcast("expire", None)

    # -- connections ----------------------------------------------------------------------

    def _join(self, sock: socket.socket) -> _Client | None:
        with self._lock:
            if self._closing or len(self._clients) >= self.options.max_clients:
                return None
            client = _Client(self.options, sock)
            self._ids += 1
            client.put(True, sse_message("snapshot", None, self.board, self._ids))
            self._clients.add(client)
            return client

    def _leave(self, client: _Client) -> None:
        client.close()
        with self._lock:
            self._clients.discard(client)

    def page(self) -> bytes:
        """The overlay page, with this server's default look filled in."""
        s = self.options.style
        defaults = {
            "size": s.font_size,
            "pos": s.position,
            "font": s.font or "",
            "color": s.text_color,
            "tcolor": s.translation_color,
            "pcolor": s.partial_color,
            "scolor": s.status_color,
            "ocolor": s.outline_color,
            "outline": s.outline_width,
            "margin": s.margin,
            "lines": s.max_lines,
        }
        blob = json.dumps(defaults).replace("<", "\\u003c")
        return _PAGE.replace("/*DEFAULTS*/{}", blob).encode()


def _handler_for(server: CaptionServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        timeout = server.options.write_timeout
        server_version = "npc-ai-captions"

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("%s " + format, self.address_string(), *args)

        def do_GET(self) -> None:
            host = (self.headers.get("Host") or HOST).rsplit(":", 1)[0].lower()
            if host not in _LOCAL_NAMES:
                # A web page elsewhere that rebinds its DNS name to 127.0.0.1 must not read
                # the captions; OBS and local browsers send 127.0.0.1 or localhost.
                self._send(HTTPStatus.FORBIDDEN, "text/plain; charset=utf-8", b"forbidden\n")
                return
            path = urlsplit(self.path).path
            if path in ("/", "/index.html"):
                self._send(HTTPStatus.OK, "text/html; charset=utf-8", server.page())
            elif path == "/events":
                self._stream()
            elif path == "/captions-worker.js":
                self._send(HTTPStatus.OK, "text/javascript; charset=utf-8", _WORKER.encode())
            elif path == "/favicon.ico":
                self._send(HTTPStatus.NO_CONTENT, "text/plain", b"")
            else:
                self._send(HTTPStatus.NOT_FOUND, "text/plain; charset=utf-8", b"not found\n")

        def _send(self, status: HTTPStatus, ctype: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def _stream(self) -> None:
            client = server._join(self.connection)
            if client is None:
                self._send(HTTPStatus.SERVICE_UNAVAILABLE, "text/plain", b"too many clients\n")
                return
            try:
                self.send_response(HTTPStatus.OK)
                self.send_header("Content-Type", "text/event-stream; charset=utf-8")
                self.send_header("Cache-Control", "no-store")
                self.send_header("X-Accel-Buffering", "no")
                self.end_headers()
                self.wfile.write(b"retry: 2000\n\n")
                while True:
                    data = client.get(server.options.keepalive_seconds)
                    if data is None:
                        break
                    self.wfile.write(data or b": keep-alive\n\n")
                    self.wfile.flush()
            except OSError as exc:  # the browser went away, or stopped reading
                log.debug("caption client %s left: %s", self.address_string(), exc)
            finally:
                server._leave(client)
                self.close_connection = True

    return Handler


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>npc-ai captions</title>
<style>
html, body { margin: 0; height: 100%; background: transparent; overflow: hidden; }
#board { position: absolute; left: 0; right: 0; display: flex; flex-direction: column;
  align-items: center; text-align: center; font-family: sans-serif; font-weight: bold;
  line-height: 1.25; }
#board div { max-width: 100%; padding: 0 0.2em; overflow-wrap: anywhere;
  paint-order: stroke fill; }
</style></head>
<body><div id="board" aria-live="polite"></div>
<script>
"use strict";
const D = /*DEFAULTS*/{};
const q = new URLSearchParams(location.search);
const get = (k) => q.has(k) ? q.get(k) : String(D[k]);
const num = (k, lo, hi) => Math.min(hi, Math.max(lo, parseFloat(get(k)) || Number(D[k])));
const langs = q.has("lang") ? q.get("lang").split(",").map((s) => s.trim()).filter(Boolean)
  : null;
const showOriginal = q.get("original") !== "0";
const showPartials = q.get("partials") !== "0";
const maxLines = Math.round(num("lines", 1, 50));
const colors = { final: get("color"), translation: get("tcolor"), partial: get("pcolor"),
  status: get("scolor") };
const board = document.getElementById("board");
const w = num("outline", 0, 20);
const margin = num("margin", 0, 2000) + "px";
board.style.fontSize = num("size", 6, 400) + "px";
if (get("font")) board.style.fontFamily = JSON.stringify(get("font")) + ", sans-serif";
if (get("pos") === "top") board.style.top = margin; else board.style.bottom = margin;
board.style.left = board.style.right = margin;
const shadow = [];
for (let a = 0; a < 16; a++) {
  const x = (w * Math.cos(a * Math.PI / 8)).toFixed(1);
  const y = (w * Math.sin(a * Math.PI / 8)).toFixed(1);
  shadow.push(x + "px " + y + "px 0 " + get("ocolor"));
}
const outline = w > 0 ? shadow.join(",") : "none";
function wanted(line) {
  if (line.kind === "translation") return langs === null || langs.includes(line.language);
  if (line.kind === "partial") return showPartials;
  if (line.kind === "final") return showOriginal;
  return true;
}
let messages = 0;  // drawn so far (the first is the snapshot: the stream is open)
function draw(lines) {
  messages++;
  const shown = lines.filter(wanted).slice(-maxLines);
  board.replaceChildren(...shown.map((line) => {
    const div = document.createElement("div");
    div.textContent = line.text;
    div.className = line.kind;
    div.lang = line.language;
    div.style.color = colors[line.kind] || colors.final;
    div.style.textShadow = outline;
    div.style.webkitTextStroke = w > 0 ? (w * 2) + "px " + get("ocolor") : "";
    return div;
  }));
}
// One event stream per browser, shared by its caption pages through a SharedWorker: a
// browser opens at most 6 HTTP/1.1 connections to one host and port, and each stream holds
// one for good, so a 7th page of the same server would wait forever. Without SharedWorker
// (or if it fails) the page opens its own stream.
let source = null;
function connect() {
  source = new EventSource("/events");
  source.addEventListener("caption", (e) => draw(JSON.parse(e.data).lines));
  source.addEventListener("error", () => {
    // A dropped stream is retried by the browser itself (after the server's "retry"), but
    // an answer that is not an event stream (503: too many pages open) ends the EventSource
    // for good: start a new one, so a Browser Source recovers without a refresh.
    if (source.readyState === EventSource.CLOSED) setTimeout(connect, 2000);
  });
}
let worker = null;
if (q.get("shared") === "0") connect();  // this page's own stream (for tests and tools)
else try {
  worker = new SharedWorker("/captions-worker.js", { name: "npc-ai-captions" });
  worker.port.onmessage = (e) => draw(JSON.parse(e.data).lines);
  worker.onerror = () => { worker = null; if (!source) connect(); };
  worker.port.start();
} catch (err) {
  connect();
}
</script></body></html>
"""

#: The SharedWorker behind every caption page of one browser: one event stream, each message
#: passed to every page (a page that joins gets the last one, which holds the whole board).
_WORKER = """"use strict";
const ports = [];
let last = null;
let source = null;
function connect() {
  source = new EventSource("/events");
  source.addEventListener("caption", (e) => {
    last = e.data;
    for (const port of ports) port.postMessage(e.data);
  });
  source.addEventListener("error", () => {
    if (source.readyState === EventSource.CLOSED) setTimeout(connect, 2000);
  });
}
onconnect = (e) => {
  const port = e.ports[0];
  ports.push(port);
  // A closed page's port is dropped where the browser says so (MessagePort "close").
  port.addEventListener("close", () => ports.splice(ports.indexOf(port), 1));
  if (last !== null) port.postMessage(last);
};
connect();
"""
