"""Memory retrieval by meaning: an index of sentence embeddings behind :func:`recall`.

:class:`EmbeddingIndex` has the same interface as
:class:`~npc_ai.memory.recall.Bm25Index` (``add``, ``remove``, ``get``, ``facts``,
``memories``, ``scores``), so :func:`~npc_ai.memory.recall.recall` takes either.
It does not know where embeddings come from: the caller passes an ``embed``
function, ``text -> vector``, usually the loaded dialogue model with the
PromptEOL template (``'This sentence : "<text>" means in one word:"'``, last
token's hidden state). Measured on paraphrased questions ("What do I ride?" for
"My horse is called Pepper."), that finds the right memory where BM25, sharing
no word, cannot; see docs/BENCHMARKS.md, "Memory retrieval".

Only the ``top_k`` nearest memories with a cosine similarity of at least
``min_similarity`` count as matches. Unlike BM25, cosine similarity cannot tell
"nothing relevant" from "relevant" (measured: no threshold separates them for
this model), so even small talk ("Thanks!") brings back up to ``top_k`` nearest
lines; keep ``top_k`` small. The default (3) was chosen on the measured
trade-off between paraphrased questions answered and small-talk filler; the
similarity floor (0.6) kept every fact line the eval's probes were looking for.

No engine of npc_ai embeds yet: ``embed`` is any function ``text -> vector``. The
measured one is ``FastEolEmbedder`` in ``tools/eval_retrieval.py`` (PromptEOL on a
second llama.cpp context of the already loaded model). Example, with a toy
embedding that runs anywhere::

    from npc_ai.memory.embedding import EmbeddingIndex
    from npc_ai.memory.recall import recall

    def embed(text: str) -> list[float]:      # stands in for a model's embedding
        return [text.count(c) + 0.1 for c in "aeiou"]

    index = EmbeddingIndex(embed)             # text -> list of floats
    for memory in store.memories("smith"):
        index.add(memory)                     # one embedding per memory, paid once
    chosen = recall(index, "What do I ride?", budget_tokens=120,
                    count_tokens=lambda text: len(text.split()), now_turn=42)
"""

from __future__ import annotations

import logging
import math
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Generic

import numpy as np

from npc_ai.errors import InputError
from npc_ai.memory.recall import Bm25Index, M

__all__ = ["EOL_TEMPLATE", "EmbeddingIndex", "HybridIndex"]

log = logging.getLogger(__name__)

EOL_TEMPLATE = 'This sentence : "{}" means in one word:"'
"""PromptEOL (Jiang et al. 2023): a base model's last hidden state after this
template summarises the sentence; mean pooling over a 270M base model does much worse."""

Vector = Sequence[float]
_RECENT = 4


class EmbeddingIndex(Generic[M]):
    """Memories and their unit embeddings; queries rank them by cosine similarity.

    ``embed(text)`` returns a vector (any length, the same for every text); it
    is called once per added memory and once per query, except for a text
    among the last few embedded (the player's line, queried before the reply
    and added after it, costs one call). :meth:`add` takes a precomputed
    ``vector`` instead, for a caller that embeds elsewhere (another thread, a
    saved copy).

    :meth:`scores` returns, for the ``top_k`` most similar memories whose
    cosine is at least ``min_similarity``, ``(cosine - min_similarity) /
    (1 - min_similarity)``: in 0..1, higher is closer.
    """

    def __init__(
        self,
        embed: Callable[[str], Vector],
        *,
        top_k: int = 3,
        min_similarity: float = 0.6,
    ) -> None:
        if top_k < 1:
            raise InputError(f"EmbeddingIndex top_k must be at least 1, got {top_k}")
        if not -1.0 <= min_similarity < 1.0:
            raise InputError(
                f"EmbeddingIndex min_similarity must be within -1..1 (not 1), got {min_similarity}"
            )
        self._embed = embed
        self.top_k = top_k
        self.min_similarity = min_similarity
        self._memories: dict[int, M] = {}
        self._vectors: dict[int, np.ndarray[Any, np.dtype[np.float32]]] = {}
        self._facts: dict[int, M] = {}
        self._dim: int | None = None
        self._matrix: np.ndarray[Any, np.dtype[np.float32]] | None = None
        self._ids: list[int] = []
        # The last few texts embedded: the player's line is usually both the query
        # before the reply and a memory written after it, and is embedded once.
        self._recent: OrderedDict[str, np.ndarray[Any, np.dtype[np.float32]]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._memories)

    def __contains__(self, memory_id: object) -> bool:
        return memory_id in self._memories

    def __iter__(self) -> Iterator[M]:
        return iter(self._memories.values())

    def get(self, memory_id: int) -> M | None:
        """The indexed memory with this id, or None."""
        return self._memories.get(memory_id)

    def memories(self) -> list[M]:
        """Every indexed memory, in the order added."""
        return list(self._memories.values())

    def facts(self) -> Iterator[M]:
        """The indexed memories of kind ``"fact"``."""
        return iter(self._facts.values())

    def _unit(self, vector: Vector, what: str) -> np.ndarray[Any, np.dtype[np.float32]]:
        try:
            array = np.asarray(vector, dtype=np.float32).reshape(-1)
        except (TypeError, ValueError) as exc:
            raise InputError(f"the embedding of {what} is not a vector of numbers") from exc
        if array.size == 0 or not np.all(np.isfinite(array)):
            raise InputError(f"the embedding of {what} is empty or not finite")
        if self._dim is not None and array.size != self._dim:
            raise InputError(
                f"the embedding of {what} has {array.size} numbers, the index holds "
                f"{self._dim}; use one embedding function for the whole index"
            )
        norm = float(np.linalg.norm(array))
        if norm == 0.0 or not math.isfinite(norm):
            raise InputError(f"the embedding of {what} is all zeros")
        return array / norm

    def _embedded(self, text: str, what: str) -> np.ndarray[Any, np.dtype[np.float32]]:
        unit = self._recent.get(text)
        if unit is None or (self._dim is not None and unit.size != self._dim):
            unit = self._unit(self._embed(text), what)
            self._recent[text] = unit
            if len(self._recent) > _RECENT:
                self._recent.popitem(last=False)
        else:
            self._recent.move_to_end(text)
        return unit

    def add(self, memory: M, vector: Vector | None = None) -> None:
        """Index one memory, embedding its text unless ``vector`` is given.

        A memory whose id is indexed already is replaced. A bad embedding
        raises :class:`~npc_ai.errors.InputError` and leaves the index as it was.
        """
        if not isinstance(memory.text, str):
            raise InputError(
                f"memory {memory.id!r} has text of type {type(memory.text).__name__}, "
                "not str; store text as a string"
            )
        if vector is None:
            unit = self._embedded(memory.text, f"memory {memory.id}")
        else:
            unit = self._unit(vector, f"memory {memory.id}")
        self.remove([memory.id])
        self._dim = unit.size
        self._memories[memory.id] = memory
        self._vectors[memory.id] = unit
        if memory.kind == "fact":
            self._facts[memory.id] = memory
        self._matrix = None

    def extend(self, memories: Iterable[M]) -> None:
        """Index several memories."""
        for memory in memories:
            self.add(memory)

    def remove(self, ids: Iterable[int]) -> None:
        """Forget these ids; ids that are not indexed are ignored."""
        for mid in ids:
            if self._memories.pop(mid, None) is not None:
                del self._vectors[mid]
                self._facts.pop(mid, None)
                self._matrix = None
        if not self._memories:
            self._dim = None

    def scores(self, query: str) -> dict[int, float]:
        """Relevance of the ``top_k`` nearest memories at or above ``min_similarity``."""
        if not self._memories or not query.strip():
            return {}
        q = self._embedded(query, "the query")
        if self._matrix is None:
            self._ids = list(self._vectors)
            self._matrix = np.stack([self._vectors[mid] for mid in self._ids])
        sims = self._matrix @ q
        k = min(self.top_k, sims.size)
        best = np.argpartition(-sims, k - 1)[:k]
        floor = self.min_similarity
        out: dict[int, float] = {}
        for i in best.tolist():
            sim = float(sims[i])
            if sim >= floor:
                out[self._ids[i]] = max((sim - floor) / (1.0 - floor), 1e-6)
        return out


class HybridIndex(Generic[M]):
    """BM25 and embeddings side by side: a memory's relevance is its BM25 score (divided
    by the query's best) plus its embedding score (:meth:`EmbeddingIndex.scores`).

    BM25 finds the memories that share the question's words, embeddings the ones that
    say the same in other words ("What frightens me?" for "Nothing scares me like
    bats."). :meth:`coverage` and :meth:`document_frequency` read the BM25 side.
    """

    def __init__(self, embed: Callable[[str], Vector], *, top_k: int = 3) -> None:
        self.bm25: Bm25Index[M] = Bm25Index()
        self.embeddings: EmbeddingIndex[M] = EmbeddingIndex(embed, top_k=top_k)

    def __len__(self) -> int:
        return len(self.bm25)

    def __contains__(self, memory_id: object) -> bool:
        return memory_id in self.bm25

    def __iter__(self) -> Iterator[M]:
        return iter(self.bm25)

    def get(self, memory_id: int) -> M | None:
        return self.bm25.get(memory_id)

    def memories(self) -> list[M]:
        return self.bm25.memories()

    def facts(self) -> Iterator[M]:
        return self.bm25.facts()

    def add(self, memory: M, vector: Vector | None = None) -> None:
        self.embeddings.add(memory, vector)
        self.bm25.add(memory)

    def extend(self, memories: Iterable[M]) -> None:
        for memory in memories:
            self.add(memory)

    def remove(self, ids: Iterable[int]) -> None:
        ids = list(ids)
        self.bm25.remove(ids)
        self.embeddings.remove(ids)

    def scores(self, query: str) -> dict[int, float]:
        lexical = self.bm25.scores(query)
        best = max(lexical.values(), default=0.0)
        out = {mid: value / best for mid, value in lexical.items()} if best > 0 else {}
        for mid, value in self.embeddings.scores(query).items():
            out[mid] = out.get(mid, 0.0) + value
        return out

    def coverage(self, query: str, memory_id: int, *, ignore: Iterable[str] = ()) -> float:
        return self.bm25.coverage(query, memory_id, ignore=tuple(ignore))

    def document_frequency(self, term: str) -> int:
        return self.bm25.document_frequency(term)
