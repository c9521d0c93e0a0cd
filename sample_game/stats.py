"""Frame statistics: how long the game thread's own work takes each frame.

A frame's work is input, update and draw (and the flip). What counts is the game
thread's own time: on Linux the kernel counts, per thread, the time it was ready to run
but waited for a CPU (``/proc/self/task/<tid>/schedstat``, second field), and that time
is taken off, so other programs on a loaded machine do not count against the game.
Waiting for Python's GIL is not such a wait: a worker thread that holds the GIL still
shows up as slow frames. Where the kernel does not say, frames are wall-clock times.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field

__all__ = ["FRAME_BUDGET_MS", "FrameStats"]

#: One frame at 60 FPS.
FRAME_BUDGET_MS = 1000 / 60


def _percentile(values: list[float], share: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered) + 0.5) - 1))]


@dataclass(slots=True)
class FrameStats:
    """Per-frame work times (ms), with how many replies were being generated meanwhile.

    Frames that saved or loaded (disk and a memory export on purpose) are kept apart.
    """

    frames: list[float] = field(default_factory=list)
    generating: list[int] = field(default_factory=list)
    io_frames: list[float] = field(default_factory=list)
    _fd: int | None = None
    _started: float = 0.0
    _queued: float = 0.0

    def __post_init__(self) -> None:
        try:
            path = f"/proc/self/task/{threading.get_native_id()}/schedstat"
            self._fd = os.open(path, os.O_RDONLY)
        except OSError:
            self._fd = None

    def _queue_ms(self) -> float:
        if self._fd is None:
            return 0.0
        try:
            return int(os.pread(self._fd, 128, 0).split()[1]) / 1e6
        except (OSError, IndexError, ValueError):
            return 0.0

    def start(self) -> None:
        """The frame's work begins (after the wait for the next frame)."""
        self._queued = self._queue_ms()
        self._started = time.perf_counter()

    def stop(self, *, generating: int = 0, io: bool = False) -> float:
        """The frame's work is done; return its own time in ms."""
        took = (time.perf_counter() - self._started) * 1000
        own = max(0.0, took - (self._queue_ms() - self._queued))
        if io:
            self.io_frames.append(own)
        else:
            self.frames.append(own)
            self.generating.append(generating)
        return own

    def while_generating(self) -> list[float]:
        """Frame times of the frames during which some reply was being generated."""
        return [t for t, g in zip(self.frames, self.generating, strict=True) if g]

    def summary(self) -> str:
        """A few lines for the end of a headless run."""
        busy = self.while_generating()
        lines = [f"frames: {len(self.frames)} (+{len(self.io_frames)} that saved or loaded)"]
        for label, times in (("all frames", self.frames), ("while NPCs generate", busy)):
            if times:
                over = sum(t > FRAME_BUDGET_MS for t in times)
                lines.append(
                    f"{label}: mean {sum(times) / len(times):.2f} ms, "
                    f"p99 {_percentile(times, 0.99):.2f} ms, max {max(times):.2f} ms, "
                    f"{over} over {FRAME_BUDGET_MS:.1f} ms"
                )
        if self.generating:
            lines.append(f"most replies generating at once: {max(self.generating)}")
        return "\n".join(lines)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
