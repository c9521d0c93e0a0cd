"""What every llama.cpp user in npc-ai shares: the library, a loaded model, samplers.

Private: :mod:`npc_ai.backends.llama_engine` and
:mod:`npc_ai.backends.llama_cpp` build on it.
"""

from __future__ import annotations

import ctypes
import logging
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from npc_ai.errors import BackendError, InputError, ModelLoadError
from npc_ai.generation import SamplingParams

log = logging.getLogger("npc_ai.backends.llama_cpp")
_native = logging.getLogger("npc_ai.backends.llama_cpp.native")

_BYTE_TOKEN = re.compile(rb"<0x([0-9A-Fa-f]{2})>")
_SPACE_MARK = "▁".encode()
_INIT_LOCK = threading.Lock()
_LIB: Any = None
_LOG_CALLBACK: Any = None
# ggml's levels (ggml.h): 1 debug, 2 info, 3 warn, 4 error, 5 continuation.
# Its warnings at load are about the model file's quirks, not the player's
# game: they go one level down.
_NATIVE_LEVELS = {3: logging.INFO, 4: logging.WARNING}


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

    #: Tokens of context for one conversation: prompt and reply together.
    context_size: int = 2048
    #: Threads for generating tokens; None = max(1, cores - 1).
    threads: int | None = None
    #: Threads for reading a prompt; None = the same as ``threads``.
    batch_threads: int | None = None
    #: Prompt tokens read per llama.cpp call. A prompt segment is always read
    #: in chunks of this size from its start, cached or not, so the same seed
    #: gives the same reply; smaller chunks let other conversations go on
    #: between them.
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


# What llama.cpp reports when a decode is aborted on purpose (shutting down):
# compute status 1 is GGML_STATUS_ABORTED, decode's return 2 is "aborted".
_ABORTED = (b"compute status: 1", b"failed with error 1", b"ret = 2")


def _native_log(level: int, text: bytes, _user_data: Any) -> None:
    py_level = _NATIVE_LEVELS.get(level, logging.DEBUG)
    if py_level > logging.DEBUG and any(mark in text for mark in _ABORTED):
        py_level = logging.DEBUG
    if _native.isEnabledFor(py_level):
        _native.log(py_level, "%s", text.decode("utf-8", "replace").rstrip())


def library() -> Any:
    """The ``llama_cpp`` module, initialised once with its logging routed to ``logging``."""
    global _LIB, _LOG_CALLBACK
    with _INIT_LOCK:
        if _LIB is None:
            try:
                import llama_cpp
            except ImportError as exc:  # pragma: no cover - a broken install
                raise BackendError(
                    "llama-cpp-python is not installed; install it with: "
                    "pip install llama-cpp-python"
                ) from exc
            # llama.cpp reports every tensor at load on stderr. The callback
            # object must outlive every call into the library.
            _LOG_CALLBACK = llama_cpp.llama_log_callback(_native_log)
            llama_cpp.llama_log_set(_LOG_CALLBACK, ctypes.c_void_p(0))
            llama_cpp.llama_backend_init()
            _LIB = llama_cpp
    return _LIB


def quiet_native_log() -> None:
    """Stop routing llama.cpp's log to Python once a model is loaded.

    llama.cpp logs debug lines on every decode. Each call into a Python
    callback takes the GIL from llama.cpp's thread, which the game thread
    feels as lost frame time. Load-time messages (the useful ones) have been
    routed already; decode failures come back as status codes. With the
    native logger at DEBUG, the Python callback stays for troubleshooting.
    """
    global _LOG_CALLBACK
    ll = library()
    if _native.isEnabledFor(logging.DEBUG):
        return
    with _INIT_LOCK:
        try:
            # A C function that ignores its arguments: getpid(level, text, data).
            noop = ctypes.cast(ctypes.CDLL(None).getpid, ctypes.c_void_p).value
            callback = ll.llama_log_callback(noop)
        except (OSError, AttributeError, TypeError):  # pragma: no cover - no libc symbols
            return
        ll.llama_log_set(callback, ctypes.c_void_p(0))
        _LOG_CALLBACK = callback


def _repack_default(ll: Any) -> bool:
    info = ll.llama_print_system_info().decode(errors="replace")
    if "AMX_INT8 = 1" in info:
        log.warning(
            "this llama-cpp-python build has AMX kernels, which crash on Gemma 3; "
            "running without repacked weights (slower). `./dev setup` builds one without AMX"
        )
        return False
    return True


def check_gguf(path: Path) -> None:
    """A clear error for a missing file or one that is not GGUF at all."""
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


class AbortFlag:
    """A flag llama.cpp polls while it computes, to abandon a decode at once.

    The poll runs for every node of the compute graph on llama.cpp's own
    threads, so it must not be a Python function (each call would take the
    GIL from the game). libc's ``strlen`` on a two-byte buffer is a C
    function that answers 0 (go on) or 1 (abort) from memory alone.
    """

    def __init__(self, ll: Any) -> None:
        self._buf = ctypes.create_string_buffer(2)
        try:
            libc = ctypes.CDLL(None)
            address = ctypes.cast(libc.strlen, ctypes.c_void_p).value
            self.callback: Any = ll.ggml_abort_callback(address)
        except (OSError, AttributeError, TypeError):  # pragma: no cover - no libc symbols
            self.callback = ll.ggml_abort_callback(lambda _data: bool(self._buf[0] != b"\0"))
        self.data = ctypes.cast(self._buf, ctypes.c_void_p)

    def set(self) -> None:
        self._buf[0] = b"x"

    def clear(self) -> None:
        self._buf[0] = b"\0"

    @property
    def is_set(self) -> bool:
        return bool(self._buf[0] != b"\0")


class LlamaModel:
    """A GGUF model and its vocabulary, loaded once and shared by contexts."""

    def __init__(self, model_path: str | os.PathLike[str], *, repack: bool | None = None):
        self.path = path = Path(model_path)
        check_gguf(path)
        self.ll = ll = library()
        self.handle: Any = None
        params = ll.llama_model_default_params()
        params.use_extra_bufts = _repack_default(ll) if repack is None else repack
        handle = ll.llama_model_load_from_file(os.fsencode(path), params)
        if not handle:
            raise ModelLoadError(
                f"llama.cpp could not load {path}: the file is truncated, corrupt or of an "
                "unsupported architecture; run `npc-ai models verify` to check the default model",
                path=str(path),
            )
        self.handle = handle
        self.vocab = ll.llama_model_get_vocab(handle)
        self.n_vocab = int(ll.llama_vocab_n_tokens(self.vocab))
        self._piece_buf = ctypes.create_string_buffer(256)
        self._piece_lock = threading.Lock()
        #: Tokens that cannot open a reply: whitespace-only, control, unused.
        self.blank = self._scan_blank_tokens()
        self.blank_set = frozenset(self.blank.tolist())

    def tokenize(self, text: str, *, add_bos: bool) -> list[int]:
        """Token ids of ``text``; special-token markup is read as plain text."""
        data = text.encode("utf-8")
        room = len(data) + 8
        out = (ctypes.c_int32 * room)()
        n = self.ll.llama_tokenize(self.vocab, data, len(data), out, room, add_bos, False)
        if n < 0:  # pragma: no cover - room is always enough for a byte-level tokenizer
            raise BackendError(f"tokenizer needed {-n} slots for {len(data)} bytes")
        return list(out[:n])

    def piece(self, token: int) -> bytes:
        """The bytes one token stands for (control tokens give nothing)."""
        with self._piece_lock:
            n = self.ll.llama_token_to_piece(self.vocab, token, self._piece_buf, 256, 0, False)
            return self._piece_buf.raw[: max(n, 0)]

    def is_end(self, token: int) -> bool:
        return bool(self.ll.llama_vocab_is_eog(self.vocab, token))

    def _scan_blank_tokens(self) -> np.ndarray[Any, np.dtype[np.int32]]:
        ll, vocab = self.ll, self.vocab
        unusable = ll.LLAMA_TOKEN_ATTR_CONTROL | ll.LLAMA_TOKEN_ATTR_UNUSED
        unusable |= ll.LLAMA_TOKEN_ATTR_UNKNOWN
        get_text, get_attr = ll.llama_vocab_get_text, ll.llama_vocab_get_attr
        blank = []
        for token in range(self.n_vocab):
            if get_attr(vocab, token) & unusable:
                blank.append(token)
                continue
            text = get_text(vocab, token) or b""
            match = _BYTE_TOKEN.fullmatch(text)
            raw = bytes([int(match.group(1), 16)]) if match else text.replace(_SPACE_MARK, b" ")
            if not raw.strip():
                blank.append(token)
        return np.array(blank, dtype=np.int32)

    def close(self) -> None:
        if self.handle:
            self.ll.llama_model_free(self.handle)
            self.handle = None


def make_sampler(ll: Any, n_vocab: int, params: SamplingParams, seed: int) -> Any:
    """A llama.cpp sampler chain for ``params``; free it with ``llama_sampler_free``."""
    chain = ll.llama_sampler_chain_init(ll.llama_sampler_chain_default_params())
    add = ll.llama_sampler_chain_add
    if params.temperature <= 0:
        add(chain, ll.llama_sampler_init_greedy())
        return chain
    # top-k first: the penalties sampler is slow over the whole vocabulary.
    add(chain, ll.llama_sampler_init_top_k(params.top_k))
    if params.repeat_penalty != 1.0:
        add(chain, ll.llama_sampler_init_penalties(n_vocab, 64, params.repeat_penalty, 0.0, 0.0))
    add(chain, ll.llama_sampler_init_top_p(params.top_p, 1))
    add(chain, ll.llama_sampler_init_min_p(params.min_p, 1))
    add(chain, ll.llama_sampler_init_temp(params.temperature))
    add(chain, ll.llama_sampler_init_dist(seed & 0xFFFFFFFF))
    return chain
