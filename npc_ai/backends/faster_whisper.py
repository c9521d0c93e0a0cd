"""faster-whisper (CTranslate2 Whisper) and its Silero VAD behind the streaming Protocols.

:class:`WhisperRecognizer` implements :class:`npc_ai.subtitles.speech.streaming.SpeechRecognizer`.
It drives the CTranslate2 model directly rather than through ``WhisperModel.transcribe``
for one reason: ``transcribe`` pads every buffer to Whisper's 30 s window, and the encoder
pass over 30 s costs ~0.4 s of one core for tiny.en however short the phrase. A streaming
phrase is a few seconds, so the recogniser encodes only ``ceil(duration) + 1`` seconds
(at least ``min_context``, 10 s): ~0.04 s instead of ~0.4 s, with the same word error rate
on espeak phrases (measured: 9.7 % either way; 29 % with a 4 s window).
``full_context=True`` restores the 30 s window. Decoding, word alignment and punctuation
merging are faster-whisper's own.

:class:`SileroVad` implements :class:`npc_ai.subtitles.speech.streaming.VoiceDetector` with the
Silero VAD model faster-whisper ships, keeping its recurrent state between calls so a
stream is judged as one signal.

Loaded models are shared: every :class:`WhisperRecognizer` asking for the same model (its
files, compute type, threads and workers) uses one loaded copy from :data:`MODELS`, a
:class:`WhisperModelCache`, so two subtitle sessions (or two bridge clients) cost one model's
memory and one load. CTranslate2 runs concurrent calls on one model safely (its workers take
them from a queue; ``workers`` of them run in parallel, the rest wait), and nothing else in a
pass is shared state. A model is released when its last recogniser is closed (or collected).

Both import faster-whisper (and through it CTranslate2 and onnxruntime) only when created.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from npc_ai.errors import BackendError, InputError, ModelLoadError
from npc_ai.models.cache import resolve_model
from npc_ai.subtitles.speech.events import Word
from npc_ai.subtitles.speech.streaming import SAMPLE_RATE, AsrResult

__all__ = [
    "MODELS",
    "MODEL_NAMES",
    "ModelKey",
    "SileroVad",
    "WhisperModelCache",
    "WhisperOptions",
    "WhisperRecognizer",
]

logger = logging.getLogger(__name__)

MODEL_NAMES = {"tiny.en": "whisper-tiny.en", "base": "whisper-base"}
"""Short model names accepted by :class:`WhisperOptions` and their manifest names."""

_FRAMES_PER_SECOND = 100  # mel frames per second of audio
_CONTEXT_FRAMES = 3000  # Whisper's full 30 s window


@dataclass(frozen=True, slots=True, kw_only=True)
class WhisperOptions:
    """How the Whisper model is loaded and run.

    ``model`` is ``"tiny.en"`` (English only, fastest), ``"base"`` (multilingual), a manifest
    name, or a path to a CTranslate2 Whisper directory. ``language`` is the spoken language
    (``None``: English for ``.en`` models, detected per pass otherwise); ``task="translate"``
    makes a multilingual model write English text whatever is spoken.
    """

    model: str = "tiny.en"
    cpu_threads: int = 1
    compute_type: str = "int8"
    beam_size: int = 1
    language: str | None = None
    task: str = "transcribe"
    min_context: float = 10.0
    """Seconds of encoder window at least (the phrase plus a second, rounded up, above).
    Shorter windows are faster still but tiny.en's word error rate triples at 4 s."""
    full_context: bool = False
    """Encode Whisper's whole 30 s window on every pass (slower, the stock behaviour)."""
    max_new_tokens: int = 120
    workers: int = 1
    """Passes the loaded model runs in parallel (CTranslate2's ``inter_threads``), each on
    ``cpu_threads`` threads; more wait their turn. Recognisers sharing a model share these."""
    shared: bool = True
    """Use the model loaded once in :data:`MODELS` for every recogniser with the same files,
    compute type, threads and workers (``False``: load a private copy)."""


@dataclass(frozen=True, slots=True)
class ModelKey:
    """What makes two loaded models interchangeable: the same files loaded the same way."""

    path: str
    device: str
    compute_type: str
    cpu_threads: int
    workers: int


class _Entry:
    __slots__ = ("model", "users")

    def __init__(self, model: Any) -> None:
        self.model = model
        self.users = 1


class WhisperModelCache:
    """Loaded faster-whisper models, one per :class:`ModelKey`, shared by their users.

    :meth:`acquire` loads a model the first time (two threads asking at once load it once) and
    counts a user; :meth:`release` forgets a user, and the model with its last one, so memory
    goes back once no session uses it. Thread-safe.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[ModelKey, _Entry] = {}
        self._loading: dict[ModelKey, threading.Lock] = {}

    def acquire(self, key: ModelKey, load: Callable[[], Any]) -> Any:
        """The model for ``key``, loaded with ``load()`` when nobody holds it; one user more."""
        with self._lock:
            gate = self._loading.setdefault(key, threading.Lock())
        # One load per key at a time, without holding up other keys (a load takes ~0.1-1 s).
        with gate:
            with self._lock:
                entry = self._entries.get(key)
                if entry is not None:
                    entry.users += 1
                    return entry.model
            model = load()
            with self._lock:
                self._entries[key] = _Entry(model)
            return model

    def retain(self, key: ModelKey) -> None:
        """One user more of a model already held."""
        with self._lock:
            self._entries[key].users += 1

    def release(self, key: ModelKey) -> None:
        """One user fewer; the model is dropped with its last user."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return
            entry.users -= 1
            if entry.users <= 0:
                del self._entries[key]
                logger.debug("released the Whisper model %s", key.path)

    def users(self) -> dict[ModelKey, int]:
        """The models loaded now and how many recognisers use each."""
        with self._lock:
            return {key: entry.users for key, entry in self._entries.items()}


MODELS = WhisperModelCache()
"""The process's shared Whisper models (what :class:`WhisperRecognizer` uses by default)."""


class WhisperRecognizer:
    """A faster-whisper model transcribing one short buffer per call (thread-safe).

    The model comes from ``cache`` (default :data:`MODELS`) unless ``options.shared`` is off;
    :meth:`close` (or the context manager) gives it back.
    """

    def __init__(
        self, options: WhisperOptions | None = None, *, cache: WhisperModelCache | None = None
    ) -> None:
        self.options = opts = options or WhisperOptions()
        if opts.task not in ("transcribe", "translate"):
            raise InputError(
                f"task must be 'transcribe' or 'translate', got {opts.task!r}", task=opts.task
            )
        if opts.beam_size < 1 or opts.cpu_threads < 0 or opts.workers < 1:
            raise InputError("beam_size and workers must be >= 1 and cpu_threads >= 0")
        path = _model_path(opts.model)
        key = ModelKey(
            path=os.path.realpath(path),
            device="cpu",
            compute_type=opts.compute_type,
            cpu_threads=opts.cpu_threads,
            workers=opts.workers,
        )
        self._cache: WhisperModelCache | None = None
        self._release: weakref.finalize[Any, Any] | None = None
        if opts.shared:
            cache = MODELS if cache is None else cache
            self.model: Any = cache.acquire(key, lambda: _load(key))
            self._hold(cache, key)
        else:
            self.model = _load(key)
        self.key = key
        self.multilingual: bool = bool(self.model.model.is_multilingual)
        if not self.multilingual and (
            opts.task == "translate" or opts.language not in (None, "en")
        ):
            self.close()
            raise InputError(
                f"model {opts.model!r} is English-only: language={opts.language!r} and "
                f"task={opts.task!r} need a multilingual model such as 'base'",
                model=opts.model,
            )
        self._lock = threading.Lock()
        self._tokenizers: dict[str, Any] = {}
        self._suppress: list[int] | None = None

    def _hold(self, cache: WhisperModelCache, key: ModelKey) -> None:
        # The finaliser holds the cache and key, never self: a recogniser that is dropped
        # without close() still gives its model back when it is collected.
        self._cache = cache
        self._release = weakref.finalize(self, cache.release, key)

    def close(self) -> None:
        """Give the model back (it is unloaded once no recogniser uses it). Idempotent;
        the recogniser cannot transcribe afterwards."""
        if self._release is not None:
            self._release()
        self.model = None

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self.model is None

    def __enter__(self) -> WhisperRecognizer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- SpeechRecognizer -----------------------------------------------------------------

    def with_beam(self, beam_size: int) -> WhisperRecognizer:
        """A recogniser sharing this one's loaded model (and lock) that decodes with
        ``beam_size`` beams: greedy partials and beam-searched finals from one model.
        It is one more user of the model: close it too."""
        if beam_size < 1:
            raise InputError("beam_size must be >= 1", beam_size=beam_size)
        if self.model is None:
            raise BackendError("this Whisper recognizer was closed")
        other = object.__new__(WhisperRecognizer)
        other.options = replace(self.options, beam_size=beam_size)
        other.model = self.model
        other.key = self.key
        other.multilingual = self.multilingual
        other._lock = self._lock
        other._tokenizers = self._tokenizers
        other._suppress = self._suppress
        other._cache = None
        other._release = None
        if self._cache is not None:
            self._cache.retain(self.key)
            other._hold(self._cache, self.key)
        return other

    def transcribe(
        self, audio: npt.NDArray[np.float32], *, prompt: str = "", prefix: str = ""
    ) -> AsrResult:
        """Transcribe one buffer of 16 kHz mono audio (<= 30 s) into words with times.

        ``prefix`` is the text of the buffer's beginning, already known: the decoder is forced
        through it and only what follows is returned (its words timed within the buffer).
        """
        if self.model is None:
            raise BackendError("this Whisper recognizer was closed")
        if len(audio) == 0:
            return AsrResult(text="")
        if len(audio) > 30 * SAMPLE_RATE:
            raise InputError(
                f"a pass covers at most 30 s of audio, got {len(audio) / SAMPLE_RATE:.1f} s"
            )
        try:
            with self._lock:
                return self._transcribe(audio, prompt, prefix)
        except InputError:
            raise
        except Exception as exc:
            raise BackendError(
                f"faster-whisper failed on a {len(audio)}-sample buffer: {exc}"
            ) from exc

    def _transcribe(self, audio: npt.NDArray[np.float32], prompt: str, prefix: str) -> AsrResult:
        import ctranslate2
        from faster_whisper.transcribe import merge_punctuations

        opts = self.options
        seconds = len(audio) / SAMPLE_RATE
        if opts.full_context:
            frames = _CONTEXT_FRAMES
        else:
            frames = min(
                _CONTEXT_FRAMES,
                _FRAMES_PER_SECOND * max(math.ceil(opts.min_context), math.ceil(seconds) + 1),
            )
        padded = np.zeros(frames * SAMPLE_RATE // _FRAMES_PER_SECOND, np.float32)
        padded[: len(audio)] = audio
        features = self.model.feature_extractor(padded)[:, :frames]
        content_frames = min(frames, math.ceil(seconds * _FRAMES_PER_SECOND))
        encoded = self.model.model.encode(
            ctranslate2.StorageView.from_array(np.ascontiguousarray(features[None]))
        )
        language = self._language(encoded)
        tokenizer = self._tokenizer(language)
        previous = tokenizer.encode(" " + prompt.strip()) if prompt.strip() else []
        forced = tokenizer.encode(" " + prefix.strip()) if prefix.strip() else []
        sequence = self.model.get_prompt(tokenizer, previous, without_timestamps=True) + forced
        result = self.model.model.generate(
            encoded,
            [sequence],
            beam_size=opts.beam_size,
            max_length=len(sequence) + opts.max_new_tokens,
            return_scores=True,
            return_no_speech_prob=True,
            suppress_blank=True,
            suppress_tokens=self._suppressed(tokenizer),
        )[0]
        # The result starts with the forced prefix tokens; only what follows is new.
        generated = list(result.sequences_ids[0])
        known = len(forced) if generated[: len(forced)] == forced else 0
        tokens = [t for t in generated[known:] if t < tokenizer.eot]
        text = tokenizer.decode(tokens).strip()
        # CTranslate2 scores are length-normalised sums; faster-whisper's avg_logprob divides
        # the sum by length + 1.
        avg_logprob = result.scores[0] * len(tokens) / (len(tokens) + 1) if tokens else 0.0
        words: tuple[Word, ...] = ()
        if tokens:
            alignment = self.model.find_alignment(
                tokenizer, [forced[:known] + tokens], encoded, content_frames
            )[0]
            alignment = _after_tokens(alignment, known)
            merge_punctuations(alignment, "\"'“¿([{-", "\"'.。,，!！?？:：”)]}、")
            words = tuple(
                Word(
                    text=str(a["word"]),
                    start=float(min(a["start"], seconds)),
                    end=float(min(a["end"], seconds)),
                    probability=float(a["probability"]),
                )
                for a in alignment
                if a["word"]
            )
        return AsrResult(
            text=text,
            words=words,
            avg_logprob=float(avg_logprob),
            no_speech_prob=float(result.no_speech_prob),
            language=language if self.options.task == "transcribe" else "en",
        )

    def _language(self, encoded: Any) -> str:
        if not self.multilingual:
            return "en"
        if self.options.language:
            return self.options.language
        detected = self.model.model.detect_language(encoded)[0]
        token = str(detected[0][0])  # "<|de|>"
        return token[2:-2]

    def _tokenizer(self, language: str) -> Any:
        tokenizer = self._tokenizers.get(language)
        if tokenizer is None:
            from faster_whisper.tokenizer import Tokenizer

            tokenizer = Tokenizer(
                self.model.hf_tokenizer,
                self.multilingual,
                task=self.options.task,
                language=language,
            )
            self._tokenizers[language] = tokenizer
        return tokenizer

    def _suppressed(self, tokenizer: Any) -> list[int]:
        if self._suppress is None:
            from faster_whisper.transcribe import get_suppressed_tokens

            self._suppress = list(get_suppressed_tokens(tokenizer, [-1]) or [])
        return self._suppress

    # -- reference ------------------------------------------------------------------------

    def transcribe_offline(self, audio: npt.NDArray[np.float32], *, beam_size: int = 5) -> str:
        """faster-whisper's own whole-file transcription (30 s windows, no VAD; beam 5 as
        faster-whisper's default, or the streaming finals' beam for a like-for-like reference).

        The reference the streaming path is measured against.
        """
        language = self.options.language or (None if self.multilingual else "en")
        with self._lock:
            segments, _info = self.model.transcribe(
                audio, language=language, task=self.options.task, beam_size=beam_size
            )
            return " ".join(s.text.strip() for s in segments).strip()


def _after_tokens(alignment: list[dict[str, Any]], count: int) -> list[dict[str, Any]]:
    """The aligned words after the first ``count`` tokens (the forced prefix's words)."""
    seen = 0
    for i, word in enumerate(alignment):
        if seen >= count:
            return alignment[i:]
        seen += len(word["tokens"])
    return []


def _load(key: ModelKey) -> Any:
    from faster_whisper import WhisperModel

    try:
        return WhisperModel(
            key.path,
            device=key.device,
            compute_type=key.compute_type,
            cpu_threads=key.cpu_threads,
            num_workers=key.workers,
            local_files_only=True,
        )
    except Exception as exc:  # CTranslate2 raises plain RuntimeErrors
        raise ModelLoadError(
            f"faster-whisper could not load {key.path}: {exc}", path=key.path
        ) from exc


def _model_path(model: str) -> os.PathLike[str]:
    if model in MODEL_NAMES:
        return resolve_model(MODEL_NAMES[model])
    if os.sep in model or os.path.isdir(model):
        # The user's own CTranslate2 directory: checked for shape only.
        return resolve_model("whisper-tiny.en", path=model)
    return resolve_model(model)


class SileroVad:
    """faster-whisper's Silero VAD run as a stream: 512-sample windows, state kept."""

    _CONTEXT = 64

    def __init__(self) -> None:
        from faster_whisper.vad import get_vad_model

        self._session = get_vad_model().session
        self.reset()

    @property
    def window(self) -> int:
        """Samples per probability (32 ms)."""
        return 512

    def reset(self) -> None:
        """Forget the stream so far."""
        self._h = np.zeros((1, 1, 128), np.float32)
        self._c = np.zeros((1, 1, 128), np.float32)
        self._context = np.zeros(self._CONTEXT, np.float32)

    def __call__(self, audio: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Speech probability of each whole 512-sample window of ``audio``."""
        n = len(audio) // 512
        if n == 0:
            return np.zeros(0, np.float32)
        windows = np.asarray(audio[: n * 512], np.float32).reshape(n, 512)
        contexts = np.concatenate([self._context[None], windows[:-1, -self._CONTEXT :]])
        batch = np.concatenate([contexts, windows], axis=1)
        probs, self._h, self._c = self._session.run(
            None, {"input": batch, "h": self._h, "c": self._c}
        )
        self._context = windows[-1, -self._CONTEXT :].copy()
        return np.asarray(probs, np.float32).reshape(n)
