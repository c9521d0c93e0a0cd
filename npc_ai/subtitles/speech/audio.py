"""Audio sources for live subtitles: files, a microphone, PCM pushed by the host program.

Every source delivers 16 kHz mono float32 chunks through one small Protocol,
:class:`AudioSource`: ``open()``, then ``read(timeout)`` until it returns ``None`` (the end),
then ``close()``. ``read`` returns an empty array when nothing arrived within ``timeout``.

* :class:`FileSource` decodes any file PyAV can read (WAV, MP3, OGG, FLAC, the audio of a
  video...) frame by frame and resamples it, so a long file is never held whole; with
  ``realtime=True`` it hands out audio no faster than it would play.
* :class:`MicSource` records from an input device with the optional ``sounddevice`` package
  (``pip install 'npc-ai[mic]'``, which also needs the PortAudio library).
* :class:`PushSource` takes PCM from the host program (``push()``: int16 little-endian bytes
  or a float32 array, at its own sample rate); the bridge feeds it from ``subtitle.push``.

Audio queued faster than it is read is bounded (``max_seconds``): the oldest is dropped and
counted in :attr:`PushSource.dropped_seconds`, which the session reports as an
:class:`~npc_ai.errors.AudioOverrunError`.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Iterator
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from npc_ai.errors import AudioDecodeError, AudioDeviceError, AudioFormatError, InputError
from npc_ai.subtitles.speech.streaming import SAMPLE_RATE

__all__ = ["AudioSource", "FileSource", "MicSource", "PushSource"]

logger = logging.getLogger(__name__)

Audio = npt.NDArray[np.float32]


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


class _Resampler:
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
        return _frames_to_array(self._resampler.resample(frame))

    def flush(self) -> Audio:
        """The samples the resampler still holds (call once, at the end)."""
        return _frames_to_array(self._resampler.resample(None))


def _frames_to_array(frames: list[Any]) -> Audio:
    arrays = [np.asarray(f.to_ndarray(), np.float32).reshape(-1) for f in frames]
    return np.concatenate(arrays) if arrays else np.zeros(0, np.float32)


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
        self._resample = _Resampler(sample_rate) if sample_rate != SAMPLE_RATE else None

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
                out = _frames_to_array(resampler.resample(frame))
                if len(out):
                    yield out
        out = _frames_to_array(resampler.resample(None))
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


class MicSource:
    """An input device recorded with ``sounddevice`` (optional: ``npc-ai[mic]``).

    ``device`` is a sounddevice device index or name substring (``None``: the default
    input). Raises :class:`~npc_ai.errors.AudioDeviceError` from :meth:`open` when the
    package, the PortAudio library or an input device is missing.
    """

    realtime = True

    def __init__(
        self, device: int | str | None = None, *, chunk: float = 0.1, max_seconds: float = 30.0
    ) -> None:
        self.device = device
        self.chunk = chunk
        self.max_seconds = max_seconds
        self._stream: Any = None
        self._queue: PushSource | None = None
        self._error: str | None = None

    @property
    def dropped_seconds(self) -> float:
        """Seconds of audio dropped because the reader fell behind."""
        return self._queue.dropped_seconds if self._queue is not None else 0.0

    def open(self) -> None:
        """Open the device and start recording."""
        try:
            import sounddevice as sd
        except ImportError as exc:
            raise AudioDeviceError(
                "microphone input needs the optional sounddevice package: pip install 'npc-ai[mic]'"
            ) from exc
        except OSError as exc:  # sounddevice raises OSError when PortAudio is missing
            raise AudioDeviceError(
                f"microphone input needs the PortAudio library ({exc}); on Debian/Ubuntu: "
                "apt install libportaudio2"
            ) from exc
        try:
            info = sd.query_devices(self.device, kind="input")
            rate = int(info["default_samplerate"]) if info else SAMPLE_RATE
            try:
                sd.check_input_settings(device=self.device, samplerate=SAMPLE_RATE, channels=1)
                rate = SAMPLE_RATE
            except Exception:
                logger.info("input device records at %d Hz; resampling to 16 kHz", rate)
            self._queue = PushSource(rate, max_seconds=self.max_seconds)
            self._stream = sd.InputStream(
                samplerate=rate,
                channels=1,
                dtype="float32",
                device=self.device,
                blocksize=int(rate * self.chunk),
                callback=self._callback,
                finished_callback=self._finished,
            )
            self._stream.start()
        except (ValueError, sd.PortAudioError) as exc:
            self.close()
            raise AudioDeviceError(
                f"no usable input device {self.device!r}: {exc}", device=str(self.device)
            ) from exc

    def _callback(self, data: Any, frames: int, time_info: Any, status: Any) -> None:
        if status:
            logger.warning("microphone: %s", status)
        if self._queue is not None:
            self._queue.push(np.asarray(data, np.float32)[:, 0].copy())

    def _finished(self) -> None:
        if self._queue is not None:
            self._queue.close()

    def read(self, timeout: float | None = None) -> Audio | None:
        """Audio recorded since the last read; None once the device stopped."""
        if self._queue is None:
            raise InputError("read() before open()")
        return self._queue.read(timeout)

    def close(self) -> None:
        """Stop recording and release the device."""
        if self._stream is not None:
            try:
                self._stream.stop()
                self._stream.close()
            finally:
                self._stream = None
        if self._queue is not None:
            self._queue.close()
