"""Microphone input through ``sounddevice`` (optional: ``pip install 'npc-ai[mic]'``, which
also needs the PortAudio library)."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from npc_ai.errors import AudioDeviceError, InputError
from npc_ai.subtitles.speech.asr import SAMPLE_RATE, Audio
from npc_ai.subtitles.speech.audio import PushSource

__all__ = ["MicSource"]

logger = logging.getLogger(__name__)


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

    def check(self) -> None:
        """Raise :class:`AudioDeviceError` now if there is no such input device, without
        recording (so a caller can say so before loading a speech model)."""
        sd = _sounddevice()
        try:
            sd.query_devices(self.device, kind="input")
        except (ValueError, sd.PortAudioError) as exc:
            raise AudioDeviceError(
                f"no usable input device {self.device!r}: {exc}", device=str(self.device)
            ) from exc

    def open(self) -> None:
        """Open the device and start recording."""
        sd = _sounddevice()
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


def _sounddevice() -> Any:
    """The sounddevice module, or an :class:`AudioDeviceError` saying what is missing."""
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
    return sd
