from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from bridge.caption_page import HOST, CaptionServer, WebOptions, sse_message
from npc_ai.errors import InputError, NpcAiError, OverlayError
from npc_ai.pygame.caption_window import CaptionWindow, WindowOptions, wrap_text
from npc_ai.subtitles.board import BoardLine, BoardOptions, CaptionBoard, OverlayStyle
from npc_ai.subtitles.speech.events import Caption, CaptionTranslation, SubtitleError


def cap(
    segment: int,
    text: str,
    *,
    final: bool = False,
    revision: int = 0,
    start: float = 0.0,
    end: float = 1.0,
    language: str = "en",
) -> Caption:
    return Caption(
        segment=segment,
        revision=revision,
        final=final,
        text=text,
        start=start,
        end=end,
        language=language,
    )


def tr(
    segment: int, target: str, text: str, start: float = 0.0, end: float = 1.0
) -> CaptionTranslation:
    return CaptionTranslation(segment=segment, target=target, text=text, start=start, end=end)


def texts(board: CaptionBoard) -> list[tuple[str, str]]:
    return [(line.kind, line.text) for line in board.lines]


# -- the board --------------------------------------------------------------------------------


def test_partial_revisions_replace_each_other_and_the_final_replaces_them() -> None:
    board = CaptionBoard()
    assert board.update([cap(0, "hello")], now=0.0)
    assert texts(board) == [("partial", "hello")]
    assert board.update([cap(0, "hello there", revision=1)], now=0.1)
    assert texts(board) == [("partial", "hello there")]
    assert not board.update([cap(0, "hello", revision=0)], now=0.2)  # out of order: ignored
    board.update([cap(0, "Hello there.", final=True, revision=2), cap(1, "how")], now=0.3)
    assert texts(board) == [("final", "Hello there."), ("partial", "how")]
    assert not board.update([cap(0, "late partial", revision=3)], now=0.4)


def test_translations_sit_under_their_final_in_the_chosen_order() -> None:
    board = CaptionBoard(BoardOptions(languages=("fr", "es")))
    board.update(
        [
            cap(0, "Good morning.", final=True),
            tr(0, "es", "Buenos días."),
            tr(0, "de", "Guten Morgen."),
            cap(1, "and"),
        ],
        now=0.0,
    )
    assert texts(board) == [
        ("final", "Good morning."),
        ("translation", "Buenos días."),
        ("partial", "and"),
    ]
    board.update([tr(0, "fr", "Bonjour.")], now=0.1)
    assert [(line.kind, line.language) for line in board.lines] == [
        ("final", "en"),
        ("translation", "fr"),
        ("translation", "es"),
        ("partial", "en"),
    ]
    assert board.lines[1] == BoardLine(
        kind="translation", text="Bonjour.", language="fr", segment=0
    )


def test_all_targets_in_arrival_order_without_a_language_list() -> None:
    board = CaptionBoard()
    board.update([cap(0, "Yes.", final=True), tr(0, "fr", "Oui."), tr(0, "es", "Sí.")], now=0.0)
    assert [line.language for line in board.lines] == ["en", "fr", "es"]


def test_only_the_last_phrases_stay() -> None:
    board = CaptionBoard(BoardOptions(max_phrases=2))
    for i in range(4):
        board.update([cap(i, f"phrase {i}", final=True), tr(i, "es", f"frase {i}")], now=i * 0.1)
    assert texts(board) == [
        ("final", "phrase 2"),
        ("translation", "frase 2"),
        ("final", "phrase 3"),
        ("translation", "frase 3"),
    ]
    # a translation of a phrase pushed off does not bring it back
    assert not board.update([tr(0, "fr", "phrase 0 en français")], now=0.5)


def test_a_final_stays_its_cue_time_clamped_then_expires() -> None:
    opts = BoardOptions(min_seconds=1.0, max_seconds=7.0, reading_cps=1000)
    board = CaptionBoard(opts)
    board.update([cap(0, "Three seconds.", final=True, start=0.0, end=3.0)], now=10.0)
    assert board.next_change(10.0) == pytest.approx(3.0)
    assert not board.update([], now=12.9)
    assert board.update([], now=13.0)
    assert board.lines == ()
    assert board.next_change(13.0) is None
    # short cue: the minimum; very long cue: the maximum
    board.update([cap(1, "Hi.", final=True, start=0.0, end=0.1)], now=20.0)
    assert board.next_change(20.0) == pytest.approx(1.0)
    board.update([cap(2, "Long.", final=True, start=0.0, end=30.0)], now=20.0)
    assert board.next_change(20.0) == pytest.approx(1.0)  # phrase 1 still goes first
    board.update([], now=21.0)
    assert board.next_change(21.0) == pytest.approx(6.0)


def test_reading_speed_keeps_long_text_up_and_a_translation_extends_its_phrase() -> None:
    board = CaptionBoard(BoardOptions(reading_cps=10, min_seconds=0.5))
    board.update([cap(0, "x" * 40, final=True, start=0.0, end=1.0)], now=0.0)
    assert board.next_change(0.0) == pytest.approx(4.0)
    board.update([tr(0, "es", "y" * 30)], now=2.0)
    assert board.next_change(2.0) == pytest.approx(3.0)  # 2.0 + 30/10 = 5.0
    assert not board.update([], now=4.5)
    assert board.update([], now=5.0) and board.lines == ()


def test_a_stalled_partial_goes_away() -> None:
    board = CaptionBoard(BoardOptions(partial_timeout=2.0))
    board.update([cap(0, "and then")], now=0.0)
    assert not board.update([], now=1.9)
    assert board.update([], now=2.0) and board.lines == ()


def test_errors_show_in_the_status_line_fatal_ones_stay() -> None:
    board = CaptionBoard(BoardOptions(error_seconds=1.0))
    board.update([SubtitleError(error=NpcAiError("audio glitch"), fatal=False)], now=0.0)
    assert texts(board) == [("status", "audio glitch")]
    assert board.update([], now=1.0) and board.lines == ()
    board.update([SubtitleError(error=NpcAiError("microphone lost"), fatal=True)], now=2.0)
    assert not board.update([], now=100.0)
    assert texts(board) == [("status", "microphone lost")]


def test_hiding_originals_and_partials_and_empty_finals() -> None:
    board = CaptionBoard(BoardOptions(show_original=False, show_partials=False))
    board.update([cap(0, "Hello.", final=True), tr(0, "es", "Hola."), cap(1, "more")], now=0.0)
    assert texts(board) == [("translation", "Hola.")]
    plain = CaptionBoard()
    plain.update([cap(0, "uh")], now=0.0)
    assert plain.update([cap(0, "  ", final=True)], now=0.1)
    assert plain.lines == ()


def test_version_counts_changes_and_clear_empties() -> None:
    board = CaptionBoard()
    assert board.version == 0
    board.update([cap(0, "a")], now=0.0)
    board.update([], now=0.1)
    assert board.version == 1
    board.clear()
    assert board.lines == () and board.version == 2


@pytest.mark.parametrize(
    "bad",
    [
        {"max_phrases": -1},
        {"min_seconds": 0},
        {"min_seconds": 8.0, "max_seconds": 7.0},
        {"reading_cps": 0},
        {"partial_timeout": -1.0},
    ],
)
def test_bad_board_options_are_input_errors(bad: dict[str, float]) -> None:
    with pytest.raises(InputError):
        BoardOptions(**bad)  # type: ignore[arg-type]


# -- the pygame window (headless) -------------------------------------------------------------


@pytest.fixture
def headless(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    monkeypatch.setenv("SDL_AUDIODRIVER", "dummy")


def test_wrap_text_breaks_at_spaces_and_cuts_long_words() -> None:
    fits = lambda t: len(t) <= 10  # noqa: E731
    assert wrap_text("the quick brown fox jumps", fits) == ["the quick", "brown fox", "jumps"]
    assert wrap_text("abcdefghijklmnopqrstuvwxyz", fits) == ["abcdefghij", "klmnopqrst", "uvwxyz"]
    assert wrap_text("  ", fits) == []


def test_window_draws_outlined_text_on_the_chroma_key(headless: None) -> None:
    style = OverlayStyle(
        font_size=48,
        text_color="#FFFFFF",
        outline_color="#FF0000",
        outline_width=3,
        position="bottom",
        margin=20,
        max_lines=3,
    )
    options = WindowOptions(style=style, width=800, antialias=False)
    with CaptionWindow(options) as window:
        assert window.surface.get_size() == window.size == (800, window.size[1])
        assert window._font is not None and window._font.get_height() == 48  # the size asked
        assert window.frame([cap(0, "Hello there", final=True, end=2.0)])
        pixels = pygame_pixels(window.surface)
    white = {p for p, c in pixels.items() if c == (255, 255, 255)}
    red = {p for p, c in pixels.items() if c == (255, 0, 0)}
    green = {p for p, c in pixels.items() if c == (0, 255, 0)}
    assert white and red and len(green) > len(pixels) // 2
    assert set(pixels.values()) <= {(255, 255, 255), (255, 0, 0), (0, 255, 0)}
    xs, ys = [x for x, _ in white], [y for _, y in white]
    # the outline surrounds the glyphs on every side
    assert min(x for x, _ in red) < min(xs) and max(x for x, _ in red) > max(xs)
    assert min(y for _, y in red) < min(ys) and max(y for _, y in red) > max(ys)
    # ... and is as thick as asked on each side
    assert min(xs) - min(x for x, _ in red) == max(x for x, _ in red) - max(xs) == 3
    assert min(ys) - min(y for _, y in red) == max(y for _, y in red) - max(ys) == 3
    # every glyph pixel touching the background touches the outline first
    for x, y in white:
        for n in ((x + 1, y), (x - 1, y), (x, y + 1), (x, y - 1)):
            assert n not in green
    # bottom placement: the text sits in the lower part of the window
    assert max(ys) > window.size[1] // 2


def test_window_colours_each_kind_and_keeps_the_newest_rows(headless: None) -> None:
    style = OverlayStyle(
        font_size=30,
        outline_width=1,
        max_lines=2,
        position="top",
        translation_color="#0000FF",
        partial_color="#FFFF00",
    )
    with CaptionWindow(WindowOptions(style=style, width=400, antialias=False)) as window:
        window.frame(
            [
                cap(0, "one", final=True),
                cap(1, "two", final=True),
                tr(1, "es", "dos"),
                cap(2, "three"),
            ]
        )
        colours = set(pygame_pixels(window.surface).values())
        rows = window._layout(window.board.lines)
    assert len(rows) == 2  # "dos" and "three": the oldest rows went
    assert (0, 0, 255) in colours and (255, 255, 0) in colours
    assert (255, 255, 255) not in colours


def test_window_redraws_only_on_change_and_ends_on_escape(headless: None) -> None:
    import pygame

    now = [0.0]
    with CaptionWindow(WindowOptions(fps=240), clock=lambda: now[0]) as window:
        assert window.frame([cap(0, "a", final=True, end=1.0)])
        drawn = window.board.version
        assert window.frame([]) and window.board.version == drawn
        now[0] = 10.0
        assert window.frame([]) and window.board.lines == ()
        assert set(pygame_pixels(window.surface).values()) == {(0, 255, 0)}  # text erased
        # a long row, then a short one: nothing of the long one is left at the sides
        window.frame([cap(1, "a much longer line of text than the next", final=True)])
        now[0] = 12.0
        window.frame([cap(2, "short", final=True)])
        now[0] = 12.5  # phrase 1 (2.35 s to read) has gone, phrase 2 (1 s) stays
        window.frame([])
        assert [line.text for line in window.board.lines] == ["short"]
        pixels = pygame_pixels(window.surface)
        xs = [x for (x, _), c in pixels.items() if c != (0, 255, 0)]
        width = window.surface.get_width()
        assert xs and min(xs) > width // 2 - 150 and max(xs) < width // 2 + 150
        pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=pygame.K_ESCAPE))
        assert not window.frame([])
        pygame.event.post(pygame.event.Event(pygame.QUIT))
        assert not window.frame([])


def test_window_run_feeds_polls_until_done(headless: None) -> None:
    batches = [[cap(0, "x")], [], [cap(0, "x y", final=True)]]
    polled: list[int] = []

    def poll() -> list[Caption]:
        polled.append(1)
        return batches.pop(0) if batches else []

    window = CaptionWindow(WindowOptions(fps=240))
    try:
        assert window.run(poll, until=lambda: not batches)
        assert [line.text for line in window.board.lines] == ["x y"]
    finally:
        window.close()
    assert len(polled) >= 3


def test_bad_window_options_and_a_missing_font_file(headless: None, tmp_path: Path) -> None:
    with pytest.raises(InputError):
        WindowOptions(chroma_key="green")
    with pytest.raises(InputError):
        OverlayStyle(font_size=2)
    with pytest.raises(InputError):
        OverlayStyle(position="left")  # type: ignore[arg-type]
    bad = tmp_path / "font.ttf"
    bad.write_bytes(b"not a font")
    window = CaptionWindow(WindowOptions(style=OverlayStyle(font=str(bad))))
    with pytest.raises(OverlayError, match=r"font\.ttf"):
        window.open()
    window.close()


def pygame_pixels(surface: object) -> dict[tuple[int, int], tuple[int, int, int]]:
    import pygame

    assert isinstance(surface, pygame.Surface)
    w, h = surface.get_size()
    raw = pygame.image.tobytes(surface, "RGB")
    return {
        (x, y): (raw[i], raw[i + 1], raw[i + 2])
        for y in range(h)
        for x in range(w)
        for i in (3 * (y * w + x),)
    }


# -- the browser page and its event stream ----------------------------------------------------


class SseReader:
    """A minimal event-stream client on a raw socket."""

    def __init__(self, port: int, path: str = "/events", rcvbuf: int = 0) -> None:
        self.sock = socket.socket()
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(10)
        self.sock.connect((HOST, port))
        self.sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        self.file = self.sock.makefile("rb")
        status = self.file.readline()
        assert b"200" in status, status
        self.headers = {}
        while (line := self.file.readline()) not in (b"\r\n", b""):
            key, _, value = line.decode().partition(":")
            self.headers[key.strip().lower()] = value.strip()

    def next(self) -> tuple[str, dict[str, Any] | None]:
        """The next message: ("caption", data) or ("comment", None)."""
        name, data = "", ""
        while True:
            line = self.file.readline().decode()
            assert line, "stream ended"
            if line == "\n":
                if data:
                    return name, json.loads(data)
                continue
            if line.startswith(":"):
                return "comment", None
            key, _, value = line.rstrip("\n").partition(": ")
            if key == "event":
                name = value
            elif key == "data":
                data += value

    def until(self, kind: str) -> dict[str, Any]:
        while True:
            name, data = self.next()
            if name == "caption" and data is not None and data["kind"] == kind:
                return data

    def close(self) -> None:
        self.file.close()
        self.sock.close()


def http_get(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.headers["Content-Type"], resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, "", ""


def test_page_is_served_on_loopback_with_the_style_defaults() -> None:
    style = OverlayStyle(font_size=64, position="top", outline_color="#112233")
    with CaptionServer(WebOptions(style=style)) as server:
        assert server.url == f"http://127.0.0.1:{server.port}/" and server.port > 0
        status, ctype, body = http_get(server.url + "?size=50&lang=es")
        assert status == 200 and ctype.startswith("text/html")
        assert '"size": 64' in body and '"pos": "top"' in body and "#112233" in body
        assert "EventSource" in body and "background: transparent" in body
        assert "text-shadow" in body.lower() or "textShadow" in body
        assert http_get(server.url + "nothing")[0] == 404
    with pytest.raises(OverlayError):
        server.port  # noqa: B018


def test_sse_clients_receive_caption_events() -> None:
    with CaptionServer(WebOptions(keepalive_seconds=0.2)) as server:
        first, second = SseReader(server.port), SseReader(server.port)
        assert first.headers["content-type"].startswith("text/event-stream")
        assert first.until("snapshot")["lines"] == []
        assert second.until("snapshot")["lines"] == []
        server.publish([cap(0, "hello")])
        server.publish([cap(0, "Hello there.", final=True, end=2.0), tr(0, "es", "Hola.")])
        for reader in (first, second):
            partial = reader.until("partial")
            assert partial["event"]["text"] == "hello" and partial["event"]["final"] is False
            final = reader.until("final")
            assert list(final["event"].items()) == [  # no word times on the page
                ("segment", 0),
                ("revision", 0),
                ("final", True),
                ("text", "Hello there."),
                ("start", 0.0),
                ("end", 2.0),
                ("language", "en"),
            ]
            assert [line["text"] for line in final["lines"]] == ["Hello there."]
            translation = reader.until("translation")
            assert translation["event"] == {
                "segment": 0,
                "target": "es",
                "text": "Hola.",
                "start": 0.0,
                "end": 1.0,
            }
            assert [(x["kind"], x["language"]) for x in translation["lines"]] == [
                ("final", "en"),
                ("translation", "es"),
            ]
        assert first.next() == ("comment", None)  # keep-alive while idle
        server.publish([SubtitleError(error=NpcAiError("microphone lost"), fatal=True)])
        error = first.until("error")
        assert error["event"]["fatal"] and error["event"]["error"]["message"] == "microphone lost"
        late = SseReader(server.port)  # a page opened later sees the board at once
        assert [x["text"] for x in late.until("snapshot")["lines"]] == [
            "Hello there.",
            "Hola.",
            "microphone lost",
        ]
        assert server.client_count == 3
        for reader in (first, second, late):
            reader.close()


def test_expired_lines_are_pushed_to_the_page() -> None:
    now = [0.0]
    board = BoardOptions(min_seconds=0.05, max_seconds=0.05)
    with CaptionServer(board_options=board, clock=lambda: now[0]) as server:
        reader = SseReader(server.port)
        reader.until("snapshot")
        server.publish([cap(0, "brief", final=True, end=0.01)])
        assert reader.until("final")["lines"]
        now[0] = 1.0
        with server._lock:
            server._lock.notify_all()
        assert reader.until("expire")["lines"] == []
        reader.close()


def test_a_slow_client_does_not_block_another_and_loses_only_partials() -> None:
    options = WebOptions(client_queue=8, client_backlog_limit=10_000, write_timeout=30)
    with CaptionServer(options) as server:
        slow = SseReader(server.port, rcvbuf=4096)  # reads nothing until the end
        fast = SseReader(server.port)
        fast.until("snapshot")
        deadline = time.monotonic() + 5
        while server.client_count < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        words = " ".join(["word"] * 1500)  # ~25 KB a message: far more than socket buffers hold
        got: list[dict[str, Any]] = []
        reading = threading.Thread(
            target=lambda: got.extend(fast.until("final") for _ in range(60)), daemon=True
        )
        reading.start()
        started = time.monotonic()
        for i in range(60):
            for r in range(10):
                server.publish([cap(i, f"{words} {r}", revision=r)])
            server.publish([cap(i, f"{words} final {i}", final=True)])
        publish_seconds = time.monotonic() - started
        reading.join(timeout=20)
        assert not reading.is_alive(), f"fast client got {len(got)} of 60 finals"
        assert [d["event"]["segment"] for d in got] == list(range(60))
        assert publish_seconds < 5
        with server._lock:
            stuck = [c for c in server._clients if c.dropped]
        assert stuck, "the slow client should have had partials dropped"
        # the slow client, reading at last, still gets every final, in order
        finals = [slow.until("final")["event"]["segment"] for _ in range(60)]
        assert finals == list(range(60))
        fast.close()
        slow.close()


def test_too_many_clients_and_a_taken_port() -> None:
    with CaptionServer(WebOptions(max_clients=1)) as server:
        first = SseReader(server.port)
        assert http_get(f"http://127.0.0.1:{server.port}/events")[0] == 503
        with pytest.raises(OverlayError, match="another port"):
            CaptionServer(WebOptions(port=server.port)).start()
        first.close()
    with pytest.raises(InputError):
        WebOptions(port=70000)


_FAKE_DOM = """
const made = [];
const fakeBoard = { style: {}, children: [], replaceChildren(...c) { this.children = c; } };
globalThis.document = { getElementById: () => fakeBoard,
  createElement: () => { const d = { style: {} }; made.push(d); return d; } };
globalThis.location = { search: process.argv[2] };
let listener = null;
globalThis.EventSource = class { constructor(url) { this.url = url; }
  addEventListener(name, fn) { if (name === "caption") listener = fn; } };
"""
_FAKE_RUN = """
listener({ data: process.argv[3] });
console.log(JSON.stringify({ board: board.style, lines: board.children.map(
  (d) => ({ text: d.textContent, color: d.style.color, shadow: d.style.textShadow })) }));
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node to run the page script")
def test_page_script_filters_languages_and_styles_lines(tmp_path: Path) -> None:
    page = CaptionServer(WebOptions(style=OverlayStyle(font_size=50))).page().decode()
    script = page.split("<script>")[1].split("</script>")[0]
    runner = tmp_path / "page.js"
    runner.write_text(_FAKE_DOM + script + _FAKE_RUN)
    board = CaptionBoard()
    board.update(
        [
            cap(0, "Good morning.", final=True),
            tr(0, "es", "Buenos días."),
            tr(0, "fr", "Bonjour."),
            cap(1, "and <b>you</b>"),
        ],
        now=0.0,
    )
    message = json.loads(sse_message("partial", None, board, 1).decode().split("data: ")[1])

    def run(query: str) -> dict[str, Any]:
        out = subprocess.run(
            ["node", str(runner), query, json.dumps(message)],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        return json.loads(out.stdout)  # type: ignore[no-any-return]

    shown = run("?lang=fr&size=60&pos=top&ocolor=%23FF0000&outline=2")
    assert [x["text"] for x in shown["lines"]] == ["Good morning.", "Bonjour.", "and <b>you</b>"]
    assert shown["board"]["fontSize"] == "60px" and shown["board"]["top"] == "40px"
    assert "#FF0000" in shown["lines"][0]["shadow"]
    assert shown["lines"][1]["color"] == "#FFE14D"
    plain = run("?original=0&partials=0&lines=1")
    assert [x["text"] for x in plain["lines"]] == ["Bonjour."]
    default = run("")
    assert len(default["lines"]) == 4 and default["board"]["fontSize"] == "50px"
    assert default["board"]["bottom"] == "40px"


def test_overlays_live_at_the_edges() -> None:
    """The board is core; the window is the pygame kit's, the page the bridge's."""
    import bridge.caption_page as page
    import npc_ai.pygame.caption_window as window
    import npc_ai.subtitles.board as board

    assert {"BoardLine", "BoardOptions", "CaptionBoard", "LineKind", "OverlayStyle"} <= set(
        board.__all__
    )
    assert {"CaptionServer", "WebOptions"} <= set(page.__all__)
    assert {"CaptionWindow", "WindowOptions"} <= set(window.__all__)
    assert "pygame" not in window.__dict__  # pygame is imported only when a window opens


def test_no_display_is_a_clear_overlay_error(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SDL_VIDEODRIVER", "DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(name, raising=False)
    window = CaptionWindow()
    with pytest.raises(OverlayError, match="display"):
        window.open()
    window.close()


def test_close_ends_every_stream_and_frees_the_port() -> None:
    server = CaptionServer()
    server.start()
    port = server.port
    readers = [SseReader(port) for _ in range(3)]
    for reader in readers:
        reader.until("snapshot")
    started = time.monotonic()
    server.close()
    assert time.monotonic() - started < 3
    for reader in readers:
        assert reader.file.readline() == b""  # the stream ended
        reader.close()
    again = CaptionServer(WebOptions(port=port))
    again.start()  # the port is free again
    again.close()
    server.close()  # closing twice is harmless


def test_only_local_host_names_are_served() -> None:
    with CaptionServer() as server:
        for host, status in (
            ("127.0.0.1", b"200"),
            ("localhost", b"200"),
            ("evil.example", b"403"),
        ):
            with socket.create_connection((HOST, server.port), timeout=5) as sock:
                sock.sendall(f"GET / HTTP/1.1\r\nHost: {host}:{server.port}\r\n\r\n".encode())
                assert status in sock.makefile("rb").readline()


def test_transparent_background_falls_back_to_the_chroma_key_off_windows(
    headless: None, caplog: pytest.LogCaptureFixture
) -> None:
    options = WindowOptions(background="transparent", chroma_key="#FF00FF", antialias=False)
    with CaptionWindow(options) as window:
        window.frame([cap(0, "Hi", final=True)])
        colours = set(pygame_pixels(window.surface).values())
    assert (255, 0, 255) in colours
    if sys.platform != "win32":
        assert "need Windows" in caplog.text


def test_default_size_is_at_least_46_px_and_unknown_font_names_fall_back(
    headless: None, caplog: pytest.LogCaptureFixture
) -> None:
    with CaptionWindow(WindowOptions(style=OverlayStyle(font="No Such Font 123"))) as window:
        window.frame([cap(0, "Hg", final=True)])
        assert window._font is not None and window._font.get_height() >= 46
        rows = window._layout(window.board.lines)
        assert rows[0].get_height() >= 46
    assert "No Such Font 123" in caplog.text
