"""Audio sources: files decoded with PyAV in chunks, PCM pushed by the host, the microphone."""

from __future__ import annotations

import subprocess
import threading
import time
import wave
from pathlib import Path

import numpy as np
import pytest

from npc_ai.backends.mic import MicSource
from npc_ai.backends.pyav import FileSource
from npc_ai.errors import AudioDecodeError, AudioDeviceError, AudioFormatError, InputError
from npc_ai.subtitles.speech.audio import PushSource


def tone(seconds: float, rate: int, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (np.sin(2 * np.pi * freq * t) * 0.5).astype(np.float32)


def write_wav(path: Path, samples: np.ndarray, rate: int, channels: int = 1) -> Path:
    data = (np.repeat(samples[:, None], channels, axis=1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as f:
        f.setnchannels(channels)
        f.setsampwidth(2)
        f.setframerate(rate)
        f.writeframes(data.tobytes())
    return path


def read_all(source: FileSource | PushSource) -> np.ndarray:
    parts = []
    while (chunk := source.read(1.0)) is not None:
        parts.append(chunk)
    return np.concatenate(parts) if parts else np.zeros(0, np.float32)


def test_file_is_decoded_in_chunks_resampled_to_16k_mono(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "a.wav", tone(2.0, 44100), 44100, channels=2)
    src = FileSource(path, chunk=0.1)
    src.open()
    sizes = []
    parts = []
    while (chunk := src.read()) is not None:
        sizes.append(len(chunk))
        parts.append(chunk)
    src.close()
    audio = np.concatenate(parts)
    assert abs(len(audio) - 32000) <= 32
    assert max(sizes) == 1600 and len(sizes) >= 20
    assert audio.dtype == np.float32
    # Still a 440 Hz tone at the same level after resampling and down-mixing.
    spectrum = np.abs(np.fft.rfft(audio[:16000]))
    assert abs(np.argmax(spectrum) - 440) <= 1
    assert 0.4 < np.abs(audio).max() < 0.75  # FFmpeg down-mixes stereo at -3 dB a channel


def test_compressed_file_decodes(tmp_path: Path) -> None:
    wav = write_wav(tmp_path / "a.wav", tone(1.0, 22050), 22050)
    ogg = tmp_path / "a.ogg"
    subprocess.run(["sox", str(wav), str(ogg)], check=True)
    src = FileSource(ogg)
    src.open()
    audio = read_all(src)
    assert abs(len(audio) - 16000) <= 400  # Vorbis pads the last block


def test_realtime_file_is_paced(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "a.wav", tone(0.6, 16000), 16000)
    src = FileSource(path, realtime=True)
    src.open()
    began = time.monotonic()
    audio = read_all(src)
    elapsed = time.monotonic() - began
    assert len(audio) == 9600
    assert 0.45 <= elapsed <= 1.5


@pytest.mark.parametrize("content", [b"", b"not audio at all" * 100])
def test_unreadable_file_is_a_decode_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.wav"
    path.write_bytes(content)
    with pytest.raises(AudioDecodeError) as info:
        FileSource(path).open()
    assert info.value.code == 1602 and str(path) in str(info.value)


def test_missing_file_is_a_decode_error(tmp_path: Path) -> None:
    with pytest.raises(AudioDecodeError):
        FileSource(tmp_path / "nope.wav").open()


def test_push_bytes_and_arrays() -> None:
    src = PushSource()
    pcm = (tone(0.1, 16000) * 32767).astype("<i2")
    src.push(pcm.tobytes())
    src.push(tone(0.1, 16000))
    src.push(pcm)
    out = src.read(0)
    assert out is not None and len(out) == 4800
    np.testing.assert_allclose(out[:1600], out[1600:3200], atol=1e-4)
    src.close()
    assert src.read(0) is None


def test_push_at_another_rate_is_resampled() -> None:
    src = PushSource(48000)
    src.push(tone(1.0, 48000))
    src.close()
    audio = read_all(src)
    assert abs(len(audio) - 16000) <= 16
    assert abs(np.argmax(np.abs(np.fft.rfft(audio))) - 440) <= 1


@pytest.mark.parametrize(
    "pcm",
    [
        b"\x00\x01\x02",
        np.zeros((2, 10), np.float32),
        np.zeros(4, np.int32),
        "text",
        np.array([0.0, np.nan], np.float32),
    ],
)
def test_bad_push_is_a_format_error_and_keeps_earlier_audio(pcm: object) -> None:
    src = PushSource()
    src.push(np.ones(100, np.float32) * 0.1)
    with pytest.raises(AudioFormatError) as info:
        src.push(pcm)  # type: ignore[arg-type]
    assert info.value.code == 1603 and info.value.fault == "remote"
    out = src.read(0)
    assert out is not None and len(out) == 100


def test_push_after_close_is_an_error() -> None:
    src = PushSource()
    src.close()
    with pytest.raises(InputError):
        src.push(b"\x00\x00")


def test_push_backlog_is_bounded_and_counted() -> None:
    src = PushSource(max_seconds=1.0)
    for _ in range(30):
        src.push(np.zeros(1600, np.float32))  # 3 s in all
    out = src.read(0)
    assert out is not None and len(out) <= 16000
    assert src.dropped_seconds == pytest.approx(2.0, abs=0.11)


def test_read_waits_for_a_push() -> None:
    src = PushSource()
    timer = threading.Timer(0.05, lambda: src.push(np.zeros(160, np.float32)))
    timer.start()
    out = src.read(2.0)
    assert out is not None and len(out) == 160
    assert len(src.read(0.01)) == 0  # type: ignore[arg-type]


def test_microphone_without_portaudio_or_device_is_a_device_error() -> None:
    # This machine has no sound card (and no PortAudio): a clear error, not a crash.
    with pytest.raises(AudioDeviceError) as info:
        MicSource().open()
    assert info.value.code == 1601
    assert (
        "npc-ai[mic]" in str(info.value)
        or "PortAudio" in str(info.value)
        or ("device" in str(info.value))
    )
