"""A 60 FPS game loop stand-in, for frame-stall tests."""

from __future__ import annotations

import time
from collections.abc import Callable

FRAME = 1 / 60


def busy(ms: float) -> None:
    end = time.perf_counter() + ms / 1000
    while time.perf_counter() < end:
        pass


def run_frames(update: Callable[[], object], *, frames: int, work_ms: float = 4.0) -> list[float]:
    """Run ``frames`` frames of ``work_ms`` of game work plus ``update()``; return
    each frame's work time in milliseconds (what must fit in 1/60 s)."""
    times = []
    next_frame = time.perf_counter()
    for _ in range(frames):
        started = time.perf_counter()
        busy(work_ms)
        update()
        times.append((time.perf_counter() - started) * 1000)
        next_frame += FRAME
        pause = next_frame - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        else:
            next_frame = time.perf_counter()
    return times


def assert_no_stall(times: list[float], *, limit_ms: float = FRAME * 1000) -> None:
    """Fails when any frame's work overran the frame."""
    worst = max(times)
    assert worst < limit_ms, f"a frame took {worst:.1f} ms of work (limit {limit_ms:.1f} ms)"
