"""Audio through PyAV: decoding files of any format, and resampling to 16 kHz mono.

:class:`FileSource` decodes any file PyAV can read (WAV, MP3, OGG, FLAC, the audio of a
video...) frame by frame and resamples it, so a long file is never held whole; with
``realtime=True`` it hands out audio no faster than it would play. :class:`Resampler`
brings PCM at another rate to 16 kHz (:class:`~npc_ai.subtitles.speech.audio.PushSource`
uses it). PyAV is imported when a file is opened or a resampler made.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import numpy as np

from npc_ai.errors import AudioDecodeError, InputError
from npc_ai.subtitles.speech.asr import SAMPLE_RATE, Audio

__all__ = ["FileSource", "Resampler", "frames_to_array"]


class Resampler:
    """int16/float32 mono at ``rate`` -> float32 mono at 16 kHz (PyAV's resampler)."""

    def __init__(self, rate: int) -> None:
        import av

        self.rate = rate
        self._av = av
        self._resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)

    def __call__(self, samples: Audio) -> Audio:
        frame = self._av.AudioFrame.from_ndarray(
            np.ascontiguousarray(samples, np.float32)[None], format="flt", layout="mono"
        )
        frame.sample_rate = self.rate
        return frames_to_array(self._resampler.resample(frame))

    def flush(self) -> Audio:
        """The samples the resampler still holds (call once, at the end)."""
        return frames_to_array(self._resampler.resample(None))


def frames_to_array(frames: list[Any]) -> Audio:
    arrays = [np.asarray(f.to_ndarray(), np.float32).reshape(-1) for f in frames]
    return np.concatenate(arrays) if arrays else np.zeros(0, np.float32)


class FileSource:
    """Audio decoded from a file with PyAV, in ``chunk``-second pieces.

    With ``realtime=True`` a chunk is handed out only once it would have finished playing
    (counted from the first read), as if it came from a microphone.
    """

    def __init__(
        self, path: str | os.PathLike[str], *, realtime: bool = False, chunk: float = 0.1
    ) -> None:
        self.path = os.fspath(path)
        self.realtime = realtime
        self.chunk = chunk
        self._frames: Iterator[Audio] | None = None
        self._container: Any = None
        self._buffer = np.zeros(0, np.float32)
        self._t0: float | None = None
        self._delivered = 0
        self._ended = False

    @property
    def started_at(self) -> float | None:
        """``time.monotonic()`` when a realtime file started playing (its first read)."""
        return self._t0

    def open(self) -> None:
        """Open the file and its first audio stream; AudioDecodeError when it cannot."""
        import av

        try:
            self._container = av.open(self.path, mode="r", metadata_errors="ignore")
            if not self._container.streams.audio:
                raise AudioDecodeError(f"{self.path}: the file has no audio stream", path=self.path)
        except AudioDecodeError:
            self.close()
            raise
        except (OSError, av.error.FFmpegError) as exc:
            self.close()
            raise AudioDecodeError(
                f"{self.path}: cannot open as audio ({exc})", path=self.path
            ) from exc
        self._frames = self._decode()

    def _decode(self) -> Iterator[Audio]:
        import av

        resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        stream = self._container.streams.audio[0]
        packets = self._container.demux(stream)
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                break
            except av.error.FFmpegError as exc:
                raise AudioDecodeError(f"{self.path}: {exc}", path=self.path) from exc
            try:
                frames = packet.decode()
            except av.error.InvalidDataError:
                continue  # a damaged packet: skip it, as players do
            except av.error.FFmpegError as exc:
                raise AudioDecodeError(f"{self.path}: {exc}", path=self.path) from exc
            for frame in frames:
                frame.pts = None
                out = frames_to_array(resampler.resample(frame))
                if len(out):
                    yield out
        out = frames_to_array(resampler.resample(None))
        if len(out):
            yield out

    def read(self, timeout: float | None = None) -> Audio | None:
        """The next chunk (after waiting for its play time when realtime), None at the end."""
        if self._frames is None:
            raise InputError("read() before open()")
        size = int(self.chunk * SAMPLE_RATE)
        while len(self._buffer) < size and not self._ended:
            try:
                self._buffer = np.concatenate([self._buffer, next(self._frames)])
            except StopIteration:
                self._ended = True
        if not len(self._buffer):
            return None
        out, self._buffer = self._buffer[:size], self._buffer[size:]
        if self.realtime:
            now = time.monotonic()
            if self._t0 is None:
                self._t0 = now
            due = self._t0 + (self._delivered + len(out)) / SAMPLE_RATE
            if due > now:
                if timeout is not None and due - now > timeout:
                    time.sleep(timeout)
                    self._buffer = np.concatenate([out, self._buffer])
                    return np.zeros(0, np.float32)
                time.sleep(due - now)
        self._delivered += len(out)
        return out

    def close(self) -> None:
        """Close the file."""
        if self._container is not None:
            self._container.close()
            self._container = None
        self._frames = None
