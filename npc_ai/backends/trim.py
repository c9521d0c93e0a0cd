"""Vocabulary-trimmed GGUF variants of a SentencePiece (``tokenizer.ggml.model = "llama"``) model.

Gemma 3 270M has a 262,144-token vocabulary whose embedding matrix is shared with the output
head, so every generated token reads the whole matrix. A game speaks a few languages; this module
writes a copy of the GGUF that keeps only chosen tokens (the embedding rows are remapped with the
vocabulary), so the head and the file shrink in proportion.

Any text still encodes: the byte-fallback tokens ``<0x00>`` .. ``<0xFF>`` are always kept, and
llama.cpp's SentencePiece tokenizer spells out in bytes any piece it cannot build. Because that
tokenizer builds a piece by merging pairs that must themselves be in the vocabulary,
:func:`merge_closure` adds every intermediate piece of a kept token; without them a kept token
could never be produced from text.

The ``gguf`` package (extra ``trim``) is imported lazily.
"""

from __future__ import annotations

import hashlib
import heapq
import logging
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from npc_ai.errors import InputError

__all__ = ["TrimmedModel", "Vocab", "merge_closure", "read_vocab", "spm_pieces", "write_trimmed"]

logger = logging.getLogger(__name__)

_TOKENS = "tokenizer.ggml.tokens"
_SCORES = "tokenizer.ggml.scores"
_TYPES = "tokenizer.ggml.token_type"
_EMBED = "token_embd.weight"
_ID_KEYS = (
    "tokenizer.ggml.bos_token_id",
    "tokenizer.ggml.eos_token_id",
    "tokenizer.ggml.unknown_token_id",
    "tokenizer.ggml.padding_token_id",
    "tokenizer.ggml.eot_token_id",
)
_CHUNK = 1 << 20
_UNUSED = re.compile(rb"<unused\d+>")


@dataclass(frozen=True, slots=True, kw_only=True)
class Vocab:
    """The tokenizer vocabulary of a GGUF file: token text (bytes), score and type per id."""

    tokens: tuple[bytes, ...]
    scores: tuple[float, ...]
    types: tuple[int, ...]

    def index(self) -> dict[bytes, int]:
        """Token text to id (the first id wins, as in llama.cpp)."""
        out: dict[bytes, int] = {}
        for i, text in enumerate(self.tokens):
            out.setdefault(text, i)
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class TrimmedModel:
    """A vocabulary-trimmed GGUF file written by :func:`write_trimmed`."""

    path: Path
    sha256: str
    size: int
    n_vocab: int
    source_n_vocab: int


def _gguf() -> Any:
    try:
        import gguf
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise InputError(
            "trimming a GGUF needs the gguf package: pip install 'npc-ai[trim]'"
        ) from exc
    return gguf


def _reader(path: str | os.PathLike[str]) -> Any:
    gguf = _gguf()
    try:
        return gguf.GGUFReader(os.fspath(path))
    except (OSError, ValueError) as exc:
        raise InputError(f"{os.fspath(path)!r} is not a readable GGUF file: {exc}") from exc


def _vocab_from(reader: Any, path: str | os.PathLike[str]) -> Vocab:
    fields = reader.fields
    model = fields.get("tokenizer.ggml.model")
    if model is None or model.contents() != "llama":
        raise InputError(
            f"{os.fspath(path)!r}: only SentencePiece vocabularies (tokenizer.ggml.model "
            "'llama') can be trimmed"
        )
    for key in (_TOKENS, _SCORES, _TYPES):
        if key not in fields:
            raise InputError(f"{os.fspath(path)!r} has no {key}; cannot trim its vocabulary")
    tok = fields[_TOKENS]
    tokens = tuple(bytes(tok.parts[i]) for i in tok.data)
    scores = tuple(float(x) for x in fields[_SCORES].contents())
    types = tuple(int(x) for x in fields[_TYPES].contents())
    return Vocab(tokens=tokens, scores=scores, types=types)


def _named(vocab: Vocab, tid: int) -> bool:
    """A control token other than the ``<unusedN>`` placeholders."""
    return _UNUSED.fullmatch(vocab.tokens[tid]) is None


def read_vocab(path: str | os.PathLike[str]) -> Vocab:
    """Read the vocabulary of a SentencePiece GGUF (an :class:`InputError` for other files)."""
    return _vocab_from(_reader(path), path)


def spm_pieces(text: bytes, index: dict[bytes, int], scores: Sequence[float]) -> list[int]:
    """Every token id llama.cpp's SentencePiece merge forms while it reads ``text``.

    Mirrors ``llm_tokenizer_spm``: start from UTF-8 characters, repeatedly merge the adjacent
    pair whose concatenation is the highest-scoring token (leftmost on ties). The returned list
    holds each merged piece in merge order (single characters are not included).
    """
    chars = [ch.encode("utf-8") for ch in text.decode("utf-8", errors="replace")]
    n = len(chars)
    if n < 2:
        return []
    sym = list(chars)
    prev = [i - 1 for i in range(n)]
    nxt = [i + 1 if i + 1 < n else -1 for i in range(n)]
    heap: list[tuple[float, int, int, bytes]] = []

    def push(left: int, right: int) -> None:
        if left < 0 or right < 0:
            return
        joined = sym[left] + sym[right]
        tid = index.get(joined)
        if tid is not None:
            heapq.heappush(heap, (-scores[tid], left, right, joined))

    for i in range(n - 1):
        push(i, i + 1)
    formed: list[int] = []
    while heap:
        _, left, right, joined = heapq.heappop(heap)
        if not sym[left] or not sym[right] or nxt[left] != right:
            continue
        if sym[left] + sym[right] != joined:
            continue
        sym[left] = joined
        sym[right] = b""
        nxt[left] = nxt[right]
        if nxt[right] >= 0:
            prev[nxt[right]] = left
        formed.append(index[joined])
        push(prev[left], left)
        push(left, nxt[left])
    return formed


def merge_closure(vocab: Vocab, keep: Iterable[int]) -> set[int]:
    """``keep`` plus every piece the tokenizer must form on the way to a kept token."""
    index = vocab.index()
    out = set(keep)
    for tid in list(out):
        if vocab.types[tid] != 1:  # only normal tokens come out of merges
            continue
        out.update(spm_pieces(vocab.tokens[tid], index, vocab.scores))
    return out


def write_trimmed(
    source: str | os.PathLike[str],
    dest: str | os.PathLike[str],
    keep: Iterable[int],
    *,
    name_suffix: str = "vocab trimmed",
) -> TrimmedModel:
    """Write ``dest``: ``source`` with only the token ids in ``keep`` (in id order).

    Every byte-fallback token and every named control token (not ``<unusedN>``) is kept
    whatever ``keep`` says, and ids are renumbered in order, so tokens below the first dropped
    id keep their ids. The embedding rows follow the
    vocabulary; every other tensor and key is copied unchanged. The file is written next to
    ``dest`` and renamed into place, so a failure never leaves a half-written model.
    """
    gguf = _gguf()
    reader = _reader(source)
    vocab = _vocab_from(reader, source)
    n_src = len(vocab.tokens)
    must = {i for i, t in enumerate(vocab.types) if t in (2, 6) or (t == 3 and _named(vocab, i))}
    kept = sorted({i for i in keep if 0 <= i < n_src} | must)
    bad = [i for i in keep if not 0 <= i < n_src]
    if bad:
        raise InputError(f"token ids out of range 0..{n_src - 1}: {bad[:5]}")
    new_id = {old: new for new, old in enumerate(kept)}
    fields = reader.fields
    for key in _ID_KEYS:
        if key in fields and int(fields[key].contents()) not in new_id:
            raise InputError(f"{key} {int(fields[key].contents())} would be dropped")

    arch = fields["general.architecture"].contents()
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    writer = gguf.GGUFWriter(os.fspath(tmp), arch)
    try:
        for key, field in fields.items():
            if key.startswith("GGUF.") or key == "general.architecture":
                continue
            if key in (_TOKENS, _SCORES, _TYPES):
                continue
            value = field.contents()
            if key in _ID_KEYS:
                value = new_id[int(value)]
            elif key == "general.name":
                value = f"{value} ({name_suffix})"
            vtype = field.types[0]
            sub = field.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
            writer.add_key_value(key, value, vtype, sub)
        writer.add_key_value(
            _TOKENS,
            [vocab.tokens[i] for i in kept],
            gguf.GGUFValueType.ARRAY,
            gguf.GGUFValueType.STRING,
        )
        writer.add_key_value(
            _SCORES,
            [vocab.scores[i] for i in kept],
            gguf.GGUFValueType.ARRAY,
            gguf.GGUFValueType.FLOAT32,
        )
        writer.add_key_value(
            _TYPES,
            [vocab.types[i] for i in kept],
            gguf.GGUFValueType.ARRAY,
            gguf.GGUFValueType.INT32,
        )
        rows = None
        for tensor in reader.tensors:
            data = tensor.data
            if tensor.name == _EMBED:
                if data.shape[0] != n_src:
                    raise InputError(f"{_EMBED} has {data.shape[0]} rows, vocabulary {n_src}")
                rows = len(kept)
                data = data[kept]
            writer.add_tensor(tensor.name, data, raw_dtype=tensor.tensor_type)
        if rows is None:
            raise InputError(f"{os.fspath(source)!r} has no {_EMBED} tensor")
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        digest = hashlib.sha256()
        with open(tmp, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                digest.update(chunk)
        os.replace(tmp, dest)
    except BaseException:
        writer.close()
        tmp.unlink(missing_ok=True)
        raise
    size = dest.stat().st_size
    logger.info("wrote %s: %d of %d tokens, %d bytes", dest, len(kept), n_src, size)
    return TrimmedModel(
        path=dest, sha256=digest.hexdigest(), size=size, n_vocab=len(kept), source_n_vocab=n_src
    )
