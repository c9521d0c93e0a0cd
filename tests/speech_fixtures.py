"""Real speech for tests and benchmarks: phrases spoken by espeak-ng, joined with known pauses.

Because the script is generated, each phrase's true start and end in the audio are known,
which is what latency from the end of a phrase to its final caption is measured against.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import wave
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16000

PHRASES = (
    "The old bridge north of the village was washed away by the spring flood.",
    "Bring me three wolf pelts and I will forge you a better blade.",
    "Have you seen my daughter? She went to the market this morning.",
    "The gate closes at sunset, so do not be late.",
    "I heard strange noises coming from the old mine last night.",
    "Welcome to the Rusty Anchor, the finest tavern on the coast.",
    "Our harvest was poor this year and the king still wants his taxes.",
    "Follow the river east until you reach the ruined tower.",
    "Keep your voice down, the guards are listening.",
    "My grandfather fought in the war against the northern clans.",
    "If you need a room for the night, it costs two silver coins.",
    "The wizard lives alone at the top of the hill.",
    "Watch out for bandits on the forest road after dark.",
    "I can teach you how to fish, but you must be patient.",
    "The merchant from the capital brought silk and spices.",
    "Nobody has returned from the swamp since the fog came.",
)


@dataclass(frozen=True, slots=True)
class Phrase:
    """One spoken phrase: its text and where its speech starts and ends in the audio."""

    text: str
    start: float
    end: float


@dataclass(frozen=True, slots=True)
class SpeechScript:
    """A wav file of phrases with pauses between them, and where each phrase is."""

    path: Path
    phrases: tuple[Phrase, ...]
    duration: float

    @property
    def text(self) -> str:
        return " ".join(p.text for p in self.phrases)


def have_espeak() -> bool:
    return shutil.which("espeak-ng") is not None


def speak(text: str, *, voice: str = "en-us", speed: int = 165) -> np.ndarray:
    """``text`` spoken by espeak-ng, as 16 kHz mono float32."""
    wav = subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(speed), "--stdout", text],
        check=True,
        capture_output=True,
    ).stdout
    raw = subprocess.run(
        [
            "sox",
            "-t",
            "wav",
            "-",
            "-t",
            "raw",
            "-r",
            str(SAMPLE_RATE),
            "-c",
            "1",
            "-e",
            "signed-integer",
            "-b",
            "16",
            "-",
        ],
        input=wav,
        check=True,
        capture_output=True,
    ).stdout
    return np.frombuffer(raw, "<i2").astype(np.float32) / 32768.0


def _speech_span(audio: np.ndarray) -> tuple[int, int]:
    """First and last sample louder than 2% of the peak (espeak pads with silence)."""
    loud = np.flatnonzero(np.abs(audio) > 0.02 * np.abs(audio).max())
    return int(loud[0]), int(loud[-1]) + 1


def make_script(
    directory: Path,
    phrases: Sequence[str] = PHRASES,
    *,
    gaps: float | Sequence[float] = 1.0,
    lead: float = 0.5,
    tail: float = 1.5,
    voices: Sequence[str] = ("en-us", "en-gb"),
    noise: float = 0.0005,
    name: str = "speech.wav",
    seed: int = 0,
) -> SpeechScript:
    """Speak ``phrases`` (voices alternating) with ``gaps`` seconds of quiet between them.

    The quiet is faint white noise (``noise`` RMS), not digital zeros, like a real room.
    """
    rng = np.random.default_rng(seed)
    pieces: list[np.ndarray] = [np.zeros(int(lead * SAMPLE_RATE), np.float32)]
    placed: list[Phrase] = []
    t = len(pieces[0])
    for i, text in enumerate(phrases):
        audio = speak(text, voice=voices[i % len(voices)])
        a, b = _speech_span(audio)
        audio = audio[a:b]
        placed.append(Phrase(text, t / SAMPLE_RATE, (t + len(audio)) / SAMPLE_RATE))
        gap = gaps if isinstance(gaps, (int, float)) else gaps[i % len(gaps)]
        pause = np.zeros(int((gap if i < len(phrases) - 1 else tail) * SAMPLE_RATE), np.float32)
        pieces += [audio, pause]
        t += len(audio) + len(pause)
    signal = np.concatenate(pieces)
    signal = signal + (rng.standard_normal(len(signal)) * noise).astype(np.float32)
    path = directory / name
    write_wav(path, signal)
    return SpeechScript(path, tuple(placed), len(signal) / SAMPLE_RATE)


def write_wav(path: Path, audio: np.ndarray) -> Path:
    """Write 16 kHz mono float audio as a 16-bit wav."""
    with wave.open(str(path), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(SAMPLE_RATE)
        f.writeframes((np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes())
    return path


_WORD = re.compile(r"[a-z0-9']+")


def words_of(text: str) -> list[str]:
    """Lower-case words without punctuation (hyphens split words)."""
    return _WORD.findall(text.lower().replace("-", " "))


def word_error_rate(reference: str, hypothesis: str) -> float:
    """(substitutions + deletions + insertions) / reference words."""
    ref, hyp = words_of(reference), words_of(hypothesis)
    if not ref:
        return float(bool(hyp))
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            cur = min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
            prev, row[j] = row[j], cur
    return row[-1] / len(ref)
