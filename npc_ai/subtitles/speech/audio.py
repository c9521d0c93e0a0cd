"""Audio sources for live subtitles: files, a microphone, PCM pushed by the host program.

Every source delivers 16 kHz mono float32 chunks through one small Protocol,
:class:`AudioSource`: ``open()``, then ``read(timeout)`` until it returns ``None`` (the end),
then ``close()``. ``read`` returns an empty array when nothing arrived within ``timeout``.

* :class:`~npc_ai.backends.pyav.FileSource` decodes any file PyAV can read (WAV, MP3, OGG,
  FLAC, the audio of a video...) frame by frame and resamples it, so a long file is never
  held whole; with ``realtime=True`` it hands out audio no faster than it would play.
* :class:`~npc_ai.backends.mic.MicSource` records from an input device with the optional
  ``sounddevice`` package (``pip install 'npc-ai[mic]'``, which also needs PortAudio).
* :class:`PushSource` takes PCM from the host program (``push()``: int16 little-endian bytes
  or a float32 array, at its own sample rate); the bridge feeds it from ``subtitle.push``.

Audio queued faster than it is read is bounded (``max_seconds``): the oldest is dropped and
counted in :attr:`PushSource.dropped_seconds`, which the session reports as an
:class:`~npc_ai.errors.AudioOverrunError`.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import numpy.typing as npt

from npc_ai.errors import AudioFormatError, InputError
from npc_ai.subtitles.speech.asr import SAMPLE_RATE, Audio

if TYPE_CHECKING:
    from npc_ai.backends.pyav import Resampler

__all__ = ["AudioSource", "PushSource"]

logger = logging.getLogger(__name__)


class AudioSource(Protocol):
    """16 kHz mono float32 audio, chunk by chunk."""

    @property
    def realtime(self) -> bool:
        """True when audio arrives at the pace it plays (microphone, pushed, paced file)."""
        ...

    def open(self) -> None:
        """Start delivering audio (opens the file or the device)."""
        ...

    def read(self, timeout: float | None = None) -> Audio | None:
        """The next audio: an array (empty when none came within ``timeout``), or ``None``
        once the stream has ended."""
        ...

    def close(self) -> None:
        """Stop and release the file or device (idempotent)."""
        ...


class PushSource:
    """PCM audio pushed by the host program (any thread); read by the session.

    ``sample_rate`` is the rate of the pushed audio (resampled to 16 kHz when it differs);
    at most ``max_seconds`` of audio wait to be read, older audio is dropped.
    """

    realtime = True

    def __init__(self, sample_rate: int = SAMPLE_RATE, *, max_seconds: float = 30.0) -> None:
        if not 8000 <= sample_rate <= 192000:
            raise InputError(
                f"sample_rate must be between 8000 and 192000 Hz, got {sample_rate}",
                sample_rate=sample_rate,
            )
        self.sample_rate = sample_rate
        self.max_seconds = max_seconds
        self._chunks: deque[Audio] = deque()
        self._samples = 0
        self._dropped = 0
        self._closed = False
        self._cond = threading.Condition()
        self._resample: Resampler | None = None
        if sample_rate != SAMPLE_RATE:
            from npc_ai.backends.pyav import Resampler

            self._resample = Resampler(sample_rate)

    @property
    def dropped_seconds(self) -> float:
        """Seconds of audio dropped because the reader fell behind by ``max_seconds``."""
        return self._dropped / SAMPLE_RATE

    def push(self, pcm: bytes | bytearray | memoryview | npt.NDArray[Any]) -> None:
        """Queue audio: int16 little-endian mono bytes, or a 1-D float32 (or int16) array
        of mono samples at ``sample_rate``."""
        samples = self._decode(pcm)
        if self._resample is not None and len(samples):
            samples = self._resample(samples)
        with self._cond:
            if self._closed:
                raise InputError("push() after close(): this audio stream has ended")
            if not len(samples):
                return
            self._chunks.append(samples)
            self._samples += len(samples)
            limit = int(self.max_seconds * SAMPLE_RATE)
            while self._samples > limit and len(self._chunks) > 1:
                old = self._chunks.popleft()
                self._samples -= len(old)
                self._dropped += len(old)
            self._cond.notify_all()

    @staticmethod
    def _decode(pcm: bytes | bytearray | memoryview | npt.NDArray[Any]) -> Audio:
        if isinstance(pcm, (bytes, bytearray, memoryview)):
            raw = bytes(pcm)
            if len(raw) % 2:
                raise AudioFormatError(
                    f"int16 PCM needs an even number of bytes, got {len(raw)}", size=len(raw)
                )
            return np.frombuffer(raw, "<i2").astype(np.float32) / 32768.0
        if isinstance(pcm, np.ndarray):
            if pcm.ndim != 1:
                raise AudioFormatError(
                    f"pushed audio must be 1-D mono samples, got shape {pcm.shape}",
                    shape=list(pcm.shape),
                )
            if pcm.dtype == np.int16:
                return pcm.astype(np.float32) / 32768.0
            if np.issubdtype(pcm.dtype, np.floating):
                out = pcm.astype(np.float32)
                if not np.all(np.isfinite(out)):
                    raise AudioFormatError("pushed audio holds NaN or infinite samples")
                return out
            raise AudioFormatError(
                f"pushed arrays must be float32 or int16, got {pcm.dtype}", dtype=str(pcm.dtype)
            )
        raise AudioFormatError(
            f"push() takes int16 bytes or a numpy array, got {type(pcm).__name__}",
            type=type(pcm).__name__,
        )

    def open(self) -> None:
        """Nothing to open: audio arrives through :meth:`push`."""

    def read(self, timeout: float | None = None) -> Audio | None:
        """All audio pushed so far (waiting up to ``timeout`` for some), ``None`` at the end."""
        with self._cond:
            if not self._chunks and not self._closed:
                self._cond.wait(timeout)
            if not self._chunks:
                return None if self._closed else np.zeros(0, np.float32)
            chunks = list(self._chunks)
            self._chunks.clear()
            self._samples = 0
        return chunks[0] if len(chunks) == 1 else np.concatenate(chunks)

    def close(self) -> None:
        """End the stream: audio already pushed is still read, then ``read`` returns None."""
        with self._cond:
            if self._closed:
                return
            if self._resample is not None:
                tail = self._resample.flush()
                if len(tail):
                    self._chunks.append(tail)
                    self._samples += len(tail)
            self._closed = True
            self._cond.notify_all()
