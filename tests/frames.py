"""A 60 FPS game loop stand-in, for frame-stall tests.

A frame stalls when the game thread cannot finish its frame within 1/60 s of the moment the
frame was due, because something in this process kept it waiting: another thread holding the
GIL (also while the game sleeps between frames: the wait to take the GIL back comes before any
work starts), a lock, a slow ``update()``. What other processes take is not the runtime's
doing, and on a busy machine (other test runs on the same cores) it alone can push a frame past
1/60 s. On Linux the kernel counts, per thread, the time it was ready to run but waiting for a
CPU (``/proc/self/task/<tid>/schedstat``, second field); that time is taken off each frame.
Waiting for the GIL is sleeping, not waiting for a CPU, so it is never taken off: a thread that
holds the GIL still fails the check however loaded the machine is. Where the kernel does not
give that count, frames are measured by the wall clock alone.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

FRAME = 1 / 60


def busy(ms: float) -> None:
    end = time.perf_counter() + ms / 1000
    while time.perf_counter() < end:
        pass


@dataclass(frozen=True, slots=True)
class Frame:
    took_ms: float
    """From the moment the frame was due to the end of its work (game work plus ``update()``)."""
    queued_ms: float
    """Of that, the time the game thread was ready to run but waited for a CPU."""

    @property
    def own_ms(self) -> float:
        """What the frame took, less what the machine's other processes took from it."""
        return self.took_ms - self.queued_ms


class _QueueClock:
    """The calling thread's total wait for a CPU, in ms (0 where the kernel does not say)."""

    def __init__(self) -> None:
        path = f"/proc/self/task/{threading.get_native_id()}/schedstat"
        try:
            self._fd: int | None = os.open(path, os.O_RDONLY)
        except OSError:
            self._fd = None

    @property
    def available(self) -> bool:
        return self._fd is not None

    def read(self) -> float:
        if self._fd is None:
            return 0.0
        return int(os.pread(self._fd, 128, 0).split()[1]) / 1e6

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def queue_wait_is_measured() -> bool:
    """Whether this machine's kernel reports a thread's wait for a CPU."""
    clock = _QueueClock()
    try:
        return clock.available
    finally:
        clock.close()


def run_frames(update: Callable[[], object], *, frames: int, work_ms: float = 4.0) -> list[Frame]:
    """Run ``frames`` frames of ``work_ms`` of game work plus ``update()`` at 60 FPS, on the
    calling thread; return what each frame took from the moment it was due."""
    clock = _QueueClock()
    result = []
    due = time.perf_counter()
    try:
        for _ in range(frames):
            # Read before sleeping: a sleeping thread is not waiting for a CPU, so all the
            # wait counted from here on falls between the frame's due time and its end.
            queued = clock.read()
            pause = due - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            else:
                due = time.perf_counter()  # the last frame overran: this one starts now
            busy(work_ms)
            update()
            ended = time.perf_counter()
            result.append(Frame(took_ms=(ended - due) * 1000, queued_ms=clock.read() - queued))
            due += FRAME
    finally:
        clock.close()
    return result


def assert_no_stall(frames: list[Frame], *, limit_ms: float = FRAME * 1000) -> None:
    """Fails when any frame, less its wait for a CPU, did not end within the frame."""
    worst = max(frames, key=lambda f: f.own_ms)
    assert worst.own_ms < limit_ms, (
        f"a frame took {worst.own_ms:.1f} ms from its due time to the end of its work "
        f"(limit {limit_ms:.1f} ms), not counting {worst.queued_ms:.1f} ms it waited for a CPU"
    )
