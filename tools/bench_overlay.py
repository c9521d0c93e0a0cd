#!/usr/bin/env python3
"""Caption overlay benchmark: window frame cost and browser-page delivery latency.

    .venv/bin/python tools/bench_overlay.py [--frames 300] [--messages 300]

1. The pygame window (headless, ``SDL_VIDEODRIVER=dummy``, so the figure is drawing work, not
   the display): milliseconds per frame when nothing changed, when a partial caption changed
   (one row re-rendered, the others from the cache), and when every row is new; with the
   3 px outline and without it, side by side.
2. The caption page's event stream: publish-to-receive latency for 1 and 8 browser clients,
   and for 8 clients while a 9th connected client never reads (it must not slow the others).

Every figure is a median (and p95) over repeated runs in one process. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

from bridge.caption_page import CaptionServer, WebOptions  # noqa: E402
from npc_ai.pygame.caption_window import CaptionWindow, WindowOptions  # noqa: E402
from npc_ai.subtitles.board import CaptionBoard, OverlayStyle  # noqa: E402
from npc_ai.subtitles.speech.events import Caption, CaptionTranslation  # noqa: E402

STORY = (
    "the old blacksmith of thornvale told the traveller a long story about the winter the "
    "river froze and the wolves came down from the hills"
)
WORDS = STORY.split()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def caption(segment: int, words: int, *, final: bool = False) -> Caption:
    text = " ".join(WORDS[:words]) + f" {segment}"  # a new text each time: no cache hits
    return Caption(segment=segment, revision=words, final=final, text=text, start=0.0, end=3.0)


def window_frames(outline: int, frames: int) -> dict[str, list[float]]:
    clock = [0.0]
    style = OverlayStyle(outline_width=outline)
    window = CaptionWindow(WindowOptions(style=style, width=1920, fps=240), clock=lambda: clock[0])
    out: dict[str, list[float]] = {"unchanged": [], "partial": [], "all new": []}
    with window:
        for i in range(frames):
            seg = 3 * i
            base = [
                caption(seg, 12, final=True),
                CaptionTranslation(segment=seg, target="es", text=f"frase {i}", start=0, end=3),
                caption(seg + 1, 2),
            ]
            t0 = time.perf_counter()
            window.update(base)
            window.draw()
            out["all new"].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            window.update([caption(seg + 1, 3 + i % 10)])
            window.draw()
            out["partial"].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            window.update([])
            window.draw()
            out["unchanged"].append(time.perf_counter() - t0)
            clock[0] += 0.001
    return out


class Reader(threading.Thread):
    def __init__(self, port: int, times: dict[int, float]) -> None:
        super().__init__(daemon=True)
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.sendall(b"GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        self.file = self.sock.makefile("rb")
        self.times = times
        self.start()

    def run(self) -> None:
        import json

        for raw in self.file:
            if raw.startswith(b"data: "):
                data = json.loads(raw[6:])
                event = data["event"]
                if event and "revision" in event:
                    self.times[event["revision"]] = time.perf_counter()


def web_latency(clients: int, messages: int, *, stuck: bool) -> list[float]:
    with CaptionServer(WebOptions(client_queue=64)) as server:
        idle = None
        if stuck:
            idle = socket.socket()
            idle.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            idle.connect(("127.0.0.1", server.port))
            idle.sendall(b"GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        received = [dict[int, float]() for _ in range(clients)]
        readers = [Reader(server.port, r) for r in received]
        while server.client_count < clients + (1 if stuck else 0):
            time.sleep(0.01)
        sent: dict[int, float] = {}
        long_text = " ".join(WORDS * 4)
        for rev in range(messages):
            sent[rev] = time.perf_counter()
            server.publish(
                [
                    Caption(
                        segment=0,
                        revision=rev,
                        final=False,
                        text=f"{long_text} {rev}",
                        start=0,
                        end=1,
                    )
                ]
            )
            time.sleep(0.005)
        time.sleep(0.5)
        lat = [r[rev] - sent[rev] for r in received for rev in sent if rev in r]
        for reader in readers:
            reader.sock.close()
        if idle is not None:
            idle.close()
        missing = clients * messages - len(lat)
        if missing:
            print(f"  ({missing} partials not delivered to reading clients)", file=sys.stderr)
        return lat


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--messages", type=int, default=300)
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}")
    print(
        "\n| window frame (1920 px wide, 48 px text) | outline 3 px: median / p95 ms "
        "| no outline: median / p95 ms | ratio of medians |"
    )
    print("| --- | --- | --- | --- |")
    with_outline = window_frames(3, args.frames)
    without = window_frames(0, args.frames)
    for name in ("unchanged", "partial", "all new"):
        a = [1000 * v for v in with_outline[name]]
        b = [1000 * v for v in without[name]]
        ma, mb = statistics.median(a), statistics.median(b)
        print(
            f"| {name} | {ma:.3f} / {pct(a, 0.95):.3f} | {mb:.3f} / {pct(b, 0.95):.3f} "
            f"| {ma / mb:.1f}x |"
        )
    print("\n| caption page, publish to receive | median ms | p95 ms |")
    print("| --- | --- | --- |")
    for clients, stuck in ((1, False), (8, False), (8, True)):
        lat = [1000 * v for v in web_latency(clients, args.messages, stuck=stuck)]
        label = f"{clients} client{'s' if clients > 1 else ''}" + (
            " + 1 that never reads" if stuck else ""
        )
        print(f"| {label} | {statistics.median(lat):.2f} | {pct(lat, 0.95):.2f} |")
    board = CaptionBoard()
    t0 = time.perf_counter()
    for i in range(10000):
        board.update([caption(i // 5, 1 + i % 5, final=i % 5 == 4)], now=i * 0.01)
    print(
        f"\nboard update: {(time.perf_counter() - t0) / 10000 * 1e6:.1f} µs per event", flush=True
    )


if __name__ == "__main__":
    main()
