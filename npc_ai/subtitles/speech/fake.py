"""Fakes of the speech Protocols: fast, deterministic tests of streaming and of sessions.

:func:`scripted_stream` builds audio for a script of words (loud noise where words are, faint
noise elsewhere); :class:`ScriptedRecognizer` "hears" exactly the script's words inside any
buffer cut from that audio, garbling a word the buffer ends inside of, the way a real model
is unsure of a word it has only half heard; :class:`EnergyVad` calls loud windows speech.
A :class:`FakeClock` lets the recogniser's cost advance time without sleeping.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from npc_ai.subtitles.speech.events import Word
from npc_ai.subtitles.speech.streaming import SAMPLE_RATE, AsrResult

__all__ = ["EnergyVad", "FakeClock", "ScriptedRecognizer", "scripted_stream"]


@dataclass(slots=True)
class FakeClock:
    """A monotonic clock that moves only when told to."""

    now: float = 0.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock forward."""
        self.now += seconds


def scripted_stream(
    words: Sequence[Word], duration: float, *, seed: int = 0
) -> npt.NDArray[np.float32]:
    """``duration`` seconds of audio: loud noise under each word, faint noise elsewhere.

    Every sample differs from every other (almost surely), so a recogniser can tell where a
    buffer was cut from.
    """
    rng = np.random.default_rng(seed)
    audio = (rng.standard_normal(int(duration * SAMPLE_RATE)) * 1e-4).astype(np.float32)
    for w in words:
        a, b = int(w.start * SAMPLE_RATE), int(w.end * SAMPLE_RATE)
        audio[a:b] = (rng.standard_normal(b - a) * 0.3).astype(np.float32)
    return audio


@dataclass(slots=True, kw_only=True)
class ScriptedRecognizer:
    """Recognises the scripted words inside buffers cut from ``stream``.

    A word the buffer holds to within ``settle`` seconds of its end is heard right; a word the
    buffer ends inside of (or just after) is heard as ``text + "-<pass number>"``, a guess no
    other pass repeats. Each call advances
    ``clock`` by ``cost + cost_per_second * buffer seconds`` when a clock is given.
    ``result`` overrides the scores (to exercise the shield); ``extra`` words are appended
    to every pass (a hallucination). With a ``prefix`` the buffer is earlier audio followed by
    a cut from the stream: only the words of that last cut are heard (the real model returns
    only what follows the prefix), timed within the whole buffer.
    """

    stream: npt.NDArray[np.float32]
    words: Sequence[Word]
    settle: float = 0.15
    clock: FakeClock | None = None
    cost: float = 0.0
    cost_per_second: float = 0.0
    avg_logprob: float = -0.2
    no_speech_prob: float = 0.01
    extra: tuple[Word, ...] = ()
    calls: list[tuple[float, float]] = field(default_factory=list)
    prompts: list[str] = field(default_factory=list)
    prefixes: list[str] = field(default_factory=list)

    def _locate(self, audio: npt.NDArray[np.float32]) -> int:
        head = audio[: min(8, len(audio))]
        for i in np.flatnonzero(self.stream == head[0]):
            if np.array_equal(self.stream[i : i + len(head)], head):
                return int(i)
        raise AssertionError("buffer not cut from the scripted stream")

    def _tail(self, audio: npt.NDArray[np.float32]) -> int:
        """Length of the longest end of ``audio`` that is one contiguous cut of the stream."""
        tail = audio[-min(8, len(audio)) :]
        for i in np.flatnonzero(self.stream == tail[0]):
            stop = int(i) + len(tail)
            if not np.array_equal(self.stream[i:stop], tail):
                continue
            n = len(tail)
            while n < min(len(audio), stop) and audio[-n - 1] == self.stream[stop - n - 1]:
                n += 1
            return n
        raise AssertionError("buffer does not end with a cut from the scripted stream")

    def transcribe(
        self, audio: npt.NDArray[np.float32], *, prompt: str = "", prefix: str = ""
    ) -> AsrResult:
        """The scripted words inside ``audio``, times relative to its start."""
        lead = len(audio) - self._tail(audio) if prefix else 0
        audio = audio[lead:]
        start = self._locate(audio) / SAMPLE_RATE
        end = start + len(audio) / SAMPLE_RATE
        self.calls.append((start, end))
        self.prompts.append(prompt)
        self.prefixes.append(prefix)
        origin = start - lead / SAMPLE_RATE  # where the whole buffer would start
        if self.clock is not None:
            self.clock.advance(self.cost + self.cost_per_second * (end - start))
        heard: list[Word] = []
        for w in self.words:
            if w.end <= start or w.start >= end:
                continue
            if w.start < start - 0.05:
                continue  # cut off at the front: not heard
            settled = end >= w.end + self.settle
            text = " " + w.text if settled else f" {w.text}-{len(self.calls)}"
            heard.append(
                Word(
                    text=text,
                    start=w.start - origin,
                    end=min(w.end, end) - origin,
                    probability=0.9,
                )
            )
        heard.extend(self.extra)
        return AsrResult(
            text="".join(w.text for w in heard).strip(),
            words=tuple(heard),
            avg_logprob=self.avg_logprob,
            no_speech_prob=self.no_speech_prob,
        )


@dataclass(slots=True)
class EnergyVad:
    """Speech where a window's RMS reaches ``threshold``."""

    threshold: float = 0.01
    window: int = 512

    def __call__(self, audio: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        n = len(audio) // self.window
        frames = np.asarray(audio[: n * self.window], np.float32).reshape(n, self.window)
        rms = np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=1))
        speech: npt.NDArray[np.float32] = (rms >= self.threshold).astype(np.float32)
        return speech

    def reset(self) -> None:
        """Nothing to forget."""
