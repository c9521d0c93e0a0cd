"""Text generation with llama.cpp, through llama-cpp-python's low-level API.

The high-level ``llama_cpp.Llama`` class hides the decode loop; this backend
drives it directly so that it can:

* tokenize prompts with special-token parsing *off*, so text such as
  ``<start_of_turn>`` typed by a player is plain text, never a control token;
* keep the KV cache of the previous prompt and decode only the part of a new
  prompt that differs (the persona prefix and earlier turns are reused);
* forbid ending the line before the reply has any content, so a reply is
  never empty by construction;
* stop within one token when the consumer closes the stream.

One generator serves one stream at a time; other threads wait for it.
"""

from __future__ import annotations

import codecs
import ctypes
import logging
import os
import re
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from npc_ai.backends.base import SamplingParams
from npc_ai.errors import BackendError, InputError, ModelLoadError
from npc_ai.models import Progress, resolve_model

__all__ = ["LlamaCppGenerator", "LlamaOptions", "default_threads"]

log = logging.getLogger(__name__)

DEFAULT_MODEL = "gemma3-270m"
_BYTE_TOKEN = re.compile(rb"<0x([0-9A-Fa-f]{2})>")
_SPACE_MARK = "▁".encode()
_BACKEND_LOCK = threading.Lock()
_BACKEND_READY = False
_LOG_CALLBACK: Any = None
_native = logging.getLogger(__name__ + ".native")


# ggml's levels (ggml.h): 1 debug, 2 info, 3 warn, 4 error, 5 continuation.
# Its warnings at load are about the model file's quirks, not the player's
# game: they go one level down.
_NATIVE_LEVELS = {3: logging.INFO, 4: logging.WARNING}


def _native_log(level: int, text: bytes, _user_data: Any) -> None:
    py_level = _NATIVE_LEVELS.get(level, logging.DEBUG)
    if _native.isEnabledFor(py_level):
        _native.log(py_level, "%s", text.decode("utf-8", "replace").rstrip())


def default_threads() -> int:
    """Generation threads that leave one core to the game: max(1, cores - 1)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, cores - 1)


@dataclass(frozen=True, slots=True, kw_only=True)
class LlamaOptions:
    """How the model is loaded and run. Build once at the edge."""

    #: Tokens of context: prompt and reply together.
    context_size: int = 2048
    #: Threads for generating tokens; None = max(1, cores - 1).
    threads: int | None = None
    #: Threads for reading a prompt; None = the same as ``threads``.
    batch_threads: int | None = None
    #: Tokens decoded per call while reading a prompt.
    batch_size: int = 256
    #: Let llama.cpp repack weights into faster CPU layouts at load. None =
    #: yes, unless the llama.cpp build has AMX kernels: they crash on this
    #: model (seen on Xeon CPUs with AMX), so such a build runs unpacked.
    repack: bool | None = None

    def __post_init__(self) -> None:
        if self.context_size < 256:
            raise InputError(f"context_size must be at least 256, got {self.context_size}")
        for name in ("threads", "batch_threads"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise InputError(f"{name} must be at least 1, got {value}")
        if self.batch_size < 1:
            raise InputError(f"batch_size must be at least 1, got {self.batch_size}")


def _init_backend() -> Any:
    """Import llama_cpp once, quiet its logging, start its backend."""
    global _BACKEND_READY
    try:
        import llama_cpp
    except ImportError as exc:  # pragma: no cover - a broken install
        raise BackendError(
            "llama-cpp-python is not installed; install it with: pip install llama-cpp-python"
        ) from exc
    with _BACKEND_LOCK:
        if not _BACKEND_READY:
            # llama.cpp reports every tensor at load on stderr; route it all
            # to this module's logger instead (debug level, or warning for
            # its errors). The callback object must outlive the process.
            global _LOG_CALLBACK
            _LOG_CALLBACK = llama_cpp.llama_log_callback(_native_log)
            llama_cpp.llama_log_set(_LOG_CALLBACK, ctypes.c_void_p(0))
            llama_cpp.llama_backend_init()
            _BACKEND_READY = True
    return llama_cpp


def _repack_default(ll: Any) -> bool:
    info = ll.llama_print_system_info().decode(errors="replace")
    if "AMX_INT8 = 1" in info:
        log.warning(
            "this llama-cpp-python build has AMX kernels, which crash on Gemma 3; "
            "running without repacked weights (slower). `./dev setup` builds one without AMX"
        )
        return False
    return True


def _check_gguf(path: Path) -> None:
    if not path.is_file():
        raise ModelLoadError(
            f"model file {path} does not exist; run `npc-ai models verify` or pass a valid path",
            path=str(path),
        )
    with path.open("rb") as fh:
        magic = fh.read(4)
    if magic != b"GGUF":
        raise ModelLoadError(
            f"{path} is not a GGUF model file (it starts with {magic!r}, not b'GGUF'); "
            "pass the path of a .gguf file",
            path=str(path),
        )


class LlamaCppGenerator:
    """A GGUF model loaded with llama.cpp, generating one stream at a time."""

    def __init__(self, model_path: str | os.PathLike[str], *, options: LlamaOptions | None = None):
        self.options = options = options or LlamaOptions()
        self.model_path = path = Path(model_path)
        _check_gguf(path)
        self._ll = ll = _init_backend()
        self._model: Any = None
        self._ctx: Any = None
        self._batch: Any = None
        mparams = ll.llama_model_default_params()
        mparams.use_extra_bufts = _repack_default(ll) if options.repack is None else options.repack
        model = ll.llama_model_load_from_file(os.fsencode(path), mparams)
        if not model:
            raise ModelLoadError(
                f"llama.cpp could not load {path}: the file is truncated, corrupt or of an "
                "unsupported architecture; run `npc-ai models verify` to check the default model",
                path=str(path),
            )
        self._model = model
        threads = options.threads or default_threads()
        cparams = ll.llama_context_default_params()
        cparams.n_ctx = options.context_size
        cparams.n_batch = options.batch_size
        cparams.n_ubatch = options.batch_size
        cparams.n_seq_max = 1
        # Only the last prompt token's logits are read: a small output buffer
        # instead of batch_size x 262k floats.
        cparams.n_outputs_max = 1
        cparams.n_threads = threads
        cparams.n_threads_batch = options.batch_threads or threads
        cparams.no_perf = True
        ctx = ll.llama_init_from_model(model, cparams)
        if not ctx:
            self.close()
            raise ModelLoadError(f"llama.cpp could not create a context for {path}")
        self._ctx = ctx
        self._vocab = ll.llama_model_get_vocab(model)
        self._n_vocab = int(ll.llama_vocab_n_tokens(self._vocab))
        self._memory = ll.llama_get_memory(ctx)
        self._batch = ll.llama_batch_init(options.batch_size, 0, 1)
        self._piece_buf = ctypes.create_string_buffer(256)
        self._context_size = int(ll.llama_n_ctx(ctx))
        # The cache holds these prompt segments, decoded one llama_decode
        # call per segment, then ``_n_past - sum(len)`` generated tokens.
        self._segments: list[tuple[int, ...]] = []
        self._n_past = 0
        self._lock = threading.Lock()
        self._owner: int | None = None
        self._closed = False
        self._blank = self._scan_blank_tokens()
        self._blank_set = frozenset(self._blank.tolist())

    @classmethod
    def from_default(
        cls, *, options: LlamaOptions | None = None, progress: Progress | None = None
    ) -> LlamaCppGenerator:
        """Load the default dialogue model (resolved and verified by :mod:`npc_ai.models`)."""
        return cls(resolve_model(DEFAULT_MODEL, progress=progress), options=options)

    # -- the Generator protocol ------------------------------------------------

    @property
    def context_size(self) -> int:
        return self._context_size

    def count_tokens(self, text: str) -> int:
        return len(self.tokenize(text, add_bos=False))

    def generate(self, prompt: str | Sequence[str], params: SamplingParams) -> Iterator[str]:
        """Stream the continuation of ``prompt``.

        A prompt given as segments (persona prefix, one per line, the cue) is
        decoded one segment per llama.cpp call, cold or warm: a segment that
        the cache already holds after the same earlier segments is reused,
        and a reused segment was computed exactly as it would be now. So the
        same seed gives the same reply whatever was cached before, and only
        the segments that changed are read.
        """
        self._check_open()
        if self._owner == threading.get_ident():
            raise BackendError(
                "this thread already has a generation open on this model; "
                "finish or close it before starting another"
            )
        segments = self._segments_of(prompt)
        total = sum(len(seg) for seg in segments)
        if total + params.max_tokens > self._context_size:
            raise InputError(
                f"the prompt takes {total} tokens and the reply up to {params.max_tokens}, "
                f"more than the context of {self._context_size}; shorten it or load the model "
                "with a larger context_size"
            )
        return self._stream(segments, params)

    def prefill(self, prompt: Sequence[str]) -> None:
        """Decode ``prompt`` (segments, as for :meth:`generate`) into the cache now."""
        self._check_open()
        segments = self._segments_of(prompt)
        with self._lock:
            self._check_open()
            self._prefill(segments, need_logits=False)

    def reset_cache(self) -> None:
        """Forget the cached prompt: the next generation reads its prompt in full."""
        with self._lock:
            self._check_open()
            self._reset_cache()

    def close(self) -> None:
        """Free the model. Safe to call twice."""
        ll = self._ll
        with self._lock:
            self._closed = True
            if self._batch is not None:
                ll.llama_batch_free(self._batch)
                self._batch = None
            if self._ctx:
                ll.llama_free(self._ctx)
                self._ctx = None
            if self._model:
                ll.llama_model_free(self._model)
                self._model = None

    def __enter__(self) -> LlamaCppGenerator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- tokens ----------------------------------------------------------------

    def _segments_of(self, prompt: str | Sequence[str]) -> list[tuple[int, ...]]:
        parts = [prompt] if isinstance(prompt, str) else [p for p in prompt if p]
        if not parts:
            raise InputError("the prompt is empty")
        return [tuple(self.tokenize(part, add_bos=i == 0)) for i, part in enumerate(parts)]

    def tokenize(self, text: str, *, add_bos: bool) -> list[int]:
        """Token ids of ``text``; special-token markup is read as plain text."""
        self._check_open()
        data = text.encode("utf-8")
        room = len(data) + 8
        out = (ctypes.c_int32 * room)()
        n = self._ll.llama_tokenize(self._vocab, data, len(data), out, room, add_bos, False)
        if n < 0:  # pragma: no cover - room is always enough for a byte-level tokenizer
            raise BackendError(f"tokenizer needed {-n} slots for {len(data)} bytes")
        return list(out[:n])

    def piece(self, token: int) -> bytes:
        """The bytes one token stands for (control tokens give nothing)."""
        n = self._ll.llama_token_to_piece(self._vocab, token, self._piece_buf, 256, 0, False)
        return self._piece_buf.raw[: max(n, 0)]

    def _scan_blank_tokens(self) -> np.ndarray[Any, np.dtype[np.int32]]:
        """Tokens that cannot start a reply: whitespace-only, control, unused."""
        ll, vocab = self._ll, self._vocab
        unusable = ll.LLAMA_TOKEN_ATTR_CONTROL | ll.LLAMA_TOKEN_ATTR_UNUSED
        unusable |= ll.LLAMA_TOKEN_ATTR_UNKNOWN
        get_text, get_attr = ll.llama_vocab_get_text, ll.llama_vocab_get_attr
        blank = []
        for token in range(self._n_vocab):
            if get_attr(vocab, token) & unusable:
                blank.append(token)
                continue
            text = get_text(vocab, token) or b""
            match = _BYTE_TOKEN.fullmatch(text)
            raw = bytes([int(match.group(1), 16)]) if match else text.replace(_SPACE_MARK, b" ")
            if not raw.strip():
                blank.append(token)
        return np.array(blank, dtype=np.int32)

    # -- decoding ----------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise BackendError("the model is closed")

    def _decode(self, tokens: list[int], start: int) -> None:
        """Feed ``tokens`` at positions from ``start``; logits for the last one."""
        ll, batch, size = self._ll, self._batch, self.options.batch_size
        for offset in range(0, len(tokens), size):
            chunk = tokens[offset : offset + size]
            batch.n_tokens = len(chunk)
            last = offset + len(chunk) == len(tokens)
            for i, token in enumerate(chunk):
                batch.token[i] = token
                batch.pos[i] = start + offset + i
                batch.n_seq_id[i] = 1
                batch.seq_id[i][0] = 0
                batch.logits[i] = last and i == len(chunk) - 1
            status = ll.llama_decode(self._ctx, batch)
            if status != 0:
                self._reset_cache()
                raise BackendError(f"llama_decode failed with status {status}")
            self._n_past = start + offset + len(chunk)

    def _reset_cache(self) -> None:
        self._ll.llama_memory_clear(self._memory, True)
        self._segments = []
        self._n_past = 0

    def _prefill(self, segments: list[tuple[int, ...]], *, need_logits: bool = True) -> None:
        """Bring the cache to ``segments``, reusing the leading ones it holds."""
        same = 0
        # For a reply the last segment is always decoded again: its logits
        # start the reply.
        reusable = len(segments) - 1 if need_logits else len(segments)
        while (
            same < reusable
            and same < len(self._segments)
            and self._segments[same] == segments[same]
        ):
            same += 1
        keep = sum(len(seg) for seg in segments[:same])
        if keep < self._n_past and not self._ll.llama_memory_seq_rm(self._memory, 0, keep, -1):
            self._reset_cache()
            same = keep = 0
        del self._segments[same:]
        self._n_past = keep
        for seg in segments[same:]:
            self._decode(list(seg), self._n_past)
            self._segments.append(seg)

    def _sampler(self, params: SamplingParams, seed: int) -> Any:
        ll = self._ll
        chain = ll.llama_sampler_chain_init(ll.llama_sampler_chain_default_params())
        add = ll.llama_sampler_chain_add
        if params.temperature <= 0:
            add(chain, ll.llama_sampler_init_greedy())
            return chain
        # top-k first: the penalties sampler is slow over the whole vocabulary.
        add(chain, ll.llama_sampler_init_top_k(params.top_k))
        if params.repeat_penalty != 1.0:
            add(
                chain,
                ll.llama_sampler_init_penalties(self._n_vocab, 64, params.repeat_penalty, 0.0, 0.0),
            )
        add(chain, ll.llama_sampler_init_top_p(params.top_p, 1))
        add(chain, ll.llama_sampler_init_min_p(params.min_p, 1))
        add(chain, ll.llama_sampler_init_temp(params.temperature))
        add(chain, ll.llama_sampler_init_dist(seed & 0xFFFFFFFF))
        return chain

    def _stream(self, segments: list[tuple[int, ...]], params: SamplingParams) -> Iterator[str]:
        ll = self._ll
        with self._lock:
            self._check_open()
            self._owner = threading.get_ident()
            seed = (
                params.seed if params.seed is not None else int.from_bytes(os.urandom(4), "little")
            )
            chain = self._sampler(params, seed)
            try:
                self._prefill(segments)
                decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
                blank = self._blank_set
                has_content = not params.forbid_empty
                for _ in range(params.max_tokens):
                    if not has_content:
                        logits = np.ctypeslib.as_array(
                            ll.llama_get_logits_ith(self._ctx, -1), shape=(self._n_vocab,)
                        )
                        logits[self._blank] = -np.inf
                    token = int(ll.llama_sampler_sample(chain, self._ctx, -1))
                    if ll.llama_vocab_is_eog(self._vocab, token):
                        break
                    if not has_content and token not in blank:
                        has_content = True
                    text = decoder.decode(self.piece(token))
                    if text:
                        yield text
                    self._decode([token], self._n_past)
                tail = decoder.decode(b"", final=True)
                if tail:
                    yield tail
            finally:
                ll.llama_sampler_free(chain)
                self._owner = None
