"""Memory retrieval: which of an NPC's memories go into the prompt before a reply.

Two parts, both pure Python, deterministic and fast:

* :class:`Bm25Index`, an incremental Okapi BM25 index over memories. Records are
  added as they arrive and removed by id; a query never rebuilds anything (well
  under a millisecond for a thousand memories, see docs/BENCHMARKS.md).
* :func:`recall`, which blends the index's relevance with recency and
  importance, boosts facts, skips what the prompt shows already and
  near-duplicates, fills a token budget greedily by score, and returns the
  chosen memories oldest first, so a small model reads them as a timeline.

BM25 needs no model, rebuilds from the store in microseconds per memory and
brings back nothing for small talk, so it is what :func:`recall` builds for a
plain list of memories. It cannot find a memory that shares no word with the
query ("What do I ride?" for "My horse is called Pepper."):
:class:`~npc_ai.memory.embedding.EmbeddingIndex`, fed by the loaded model,
can, at the cost of one embedding per memory and per query. Both were measured
side by side (``tools/eval_retrieval.py``; docs/BENCHMARKS.md, "Memory
retrieval"), and :func:`recall` takes either through :class:`Retriever`.

Example::

    index = Bm25Index()
    for memory in store.memories(npc="smith"):
        index.add(memory)
    chosen = recall(
        index,
        "Do you remember my horse?",
        budget_tokens=120,
        count_tokens=engine.count_tokens,
        render=describe,  # the line as the prompt will show it
        now_turn=42,
        exclude_ids={m.id for m in visible_turns},
    )

Any record with ``id``, ``kind``, ``text``, ``turn`` and ``importance`` works
(:class:`MemoryLike`), so the store's ``Memory`` needs no adapter; a fact's
``key`` ("player.horse"), if the record has one, is searchable too.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar, runtime_checkable

from npc_ai.errors import InputError
from npc_ai.memory.facts import KEY_WORDS
from npc_ai.memory.terms import STOP_WORDS, dedupe_key, tokenize

__all__ = [
    "Bm25Index",
    "MemoryLike",
    "RecallOptions",
    "Retriever",
    "Scored",
    "recall",
    "score_memories",
]

log = logging.getLogger(__name__)


class MemoryLike(Protocol):
    """What retrieval reads from a memory record (the store's ``Memory`` has all of it)."""

    @property
    def id(self) -> int: ...
    @property
    def kind(self) -> str: ...
    @property
    def text(self) -> str: ...
    @property
    def turn(self) -> int: ...
    @property
    def importance(self) -> float: ...


M = TypeVar("M", bound=MemoryLike)
M_co = TypeVar("M_co", bound=MemoryLike, covariant=True)


@runtime_checkable
class Retriever(Protocol[M_co]):
    """What :func:`recall` asks of an index; :class:`Bm25Index` is one.

    Another index (embeddings, say) plugs in by answering the same three
    questions: the memory for an id, the facts, and a relevance score >= 0 for
    each memory that matches a query at all (absent = no match).
    """

    def get(self, memory_id: int) -> M_co | None: ...
    def facts(self) -> Iterable[M_co]: ...
    def scores(self, query: str) -> Mapping[int, float]: ...


def _key_words(memory: MemoryLike) -> str:
    # A fact's key ("player.horse_name") names what it is about; index its words too.
    key = getattr(memory, "key", "")
    if not isinstance(key, str):
        return ""
    return f"{key.replace('.', ' ').replace('_', ' ')} {KEY_WORDS.get(key, '')}"


# --------------------------------------------------------------------------- index


class Bm25Index(Generic[M]):
    """An incremental Okapi BM25 index over memory records.

    :meth:`add` and :meth:`remove` update the postings in place (cost: the
    memory's own words); :meth:`scores` reads only the postings of the query's
    words. Adding a record whose id is indexed already replaces it.

    ``k1`` saturates repeated words, ``b`` normalises by length (the usual
    1.2 and 0.75). ``language`` picks the stop words and stemming.
    """

    def __init__(self, *, k1: float = 1.2, b: float = 0.75, language: str = "en") -> None:
        if k1 < 0 or not 0.0 <= b <= 1.0:
            raise InputError(f"BM25 needs k1 >= 0 and 0 <= b <= 1, got k1={k1}, b={b}")
        self.k1 = k1
        self.b = b
        self.language = language
        self._memories: dict[int, M] = {}
        self._terms: dict[int, Counter[str]] = {}
        self._postings: dict[str, dict[int, int]] = {}
        self._lengths: dict[int, int] = {}
        self._total_length = 0
        self._facts: dict[int, M] = {}

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

    def add(self, memory: M) -> None:
        """Index one memory (replacing an indexed one with the same id)."""
        if not isinstance(memory.text, str):
            raise InputError(
                f"memory {memory.id!r} has text of type {type(memory.text).__name__}, "
                "not str; store text as a string"
            )
        if memory.id in self._memories:
            self.remove([memory.id])
        terms = Counter(tokenize(f"{memory.text} {_key_words(memory)}", language=self.language))
        mid = memory.id
        self._memories[mid] = memory
        self._terms[mid] = terms
        length = sum(terms.values())
        self._lengths[mid] = length
        self._total_length += length
        for term, tf in terms.items():
            self._postings.setdefault(term, {})[mid] = tf
        if memory.kind == "fact":
            self._facts[mid] = memory

    def extend(self, memories: Iterable[M]) -> None:
        """Index several memories."""
        for memory in memories:
            self.add(memory)

    def remove(self, ids: Iterable[int]) -> None:
        """Forget these ids; ids that are not indexed are ignored."""
        for mid in ids:
            if mid not in self._memories:
                continue
            del self._memories[mid]
            self._facts.pop(mid, None)
            self._total_length -= self._lengths.pop(mid)
            for term in self._terms.pop(mid):
                posting = self._postings[term]
                del posting[mid]
                if not posting:
                    del self._postings[term]

    def document_frequency(self, term: str) -> int:
        """How many indexed memories hold the search term ``term`` (already tokenized)."""
        return len(self._postings.get(term, ()))

    def scores(self, query: str) -> dict[int, float]:
        """BM25 score of every memory sharing a word with ``query`` (others score 0, absent).

        A query word that no memory holds matches the memories' words one typing
        slip away ("sistr", "afriad": one letter missing, added, changed or two
        swapped; two slips for words of seven letters or more), at
        :data:`TYPO_WEIGHT` of the score.
        """
        n = len(self._memories)
        if n == 0:
            return {}
        avgdl = max(self._total_length / n, 1e-9)
        k1, b = self.k1, self.b
        lengths = self._lengths
        out: dict[int, float] = {}
        for term, weight in self._matching(tokenize(query, language=self.language)).items():
            posting = self._postings[term]
            df = len(posting)
            idf = weight * math.log(1.0 + (n - df + 0.5) / (df + 0.5))
            for mid, tf in posting.items():
                norm = k1 * (1.0 - b + b * lengths[mid] / avgdl)
                out[mid] = out.get(mid, 0.0) + idf * tf * (k1 + 1.0) / (tf + norm)
        return out

    def coverage(self, query: str, memory_id: int, *, ignore: Collection[str] = ()) -> float:
        """Share of the query's weight (its words' IDF) that memory ``memory_id`` holds, 0..1.

        A word no memory holds weighs as much as the rarest, unless it is a stop word
        mistyped ("whats"); words in ``ignore`` (search terms, as
        :func:`~npc_ai.memory.terms.tokenize` gives them) do not count, unless the
        query has no other word: then it is 1 if the memory holds one of them.
        """
        n = len(self._memories)
        terms = self._memory_terms(memory_id)
        stops = STOP_WORDS.get(self.language, STOP_WORDS["en"])
        total = held = 0.0
        asked_only = False
        for word in set(tokenize(query, language=self.language)):
            matches = self._matching([word])
            if (
                not matches
                and len(word) >= 4
                and any(
                    len(s) >= 3
                    and s[0] == word[0]
                    and abs(len(s) - len(word)) <= 1
                    and slips(word, s, 1) <= 1
                    for s in stops
                )
            ):
                continue
            share = max((matches[t] for t in matches if t in terms), default=0.0)
            if word in ignore:
                asked_only = asked_only or share > 0
                continue
            df = max((len(self._postings[t]) for t in matches), default=0)
            idf = math.log(1.0 + (n - df + 0.5) / (df + 0.5))
            total += idf
            held += idf * share
        if total == 0:  # "What is my name?": only words of asking, held by the memory
            return 1.0 if asked_only else 0.0
        return held / total

    def _memory_terms(self, memory_id: int) -> Counter[str]:
        return self._terms.get(memory_id, Counter())

    def _matching(self, query_terms: Iterable[str]) -> dict[str, float]:
        """The indexed terms that query terms match, with their weight (1, or a typo's)."""
        terms: dict[str, float] = {}
        for term in query_terms:
            if term in self._postings:
                terms[term] = 1.0
            elif len(term) >= 4 and term.isalpha():
                most = 2 if len(term) >= 7 else 1
                for known in self._postings:
                    if (
                        known[:1] == term[:1]
                        and abs(len(known) - len(term)) <= most
                        and known.isalpha()
                        and slips(term, known, most) <= most
                    ):
                        terms.setdefault(known, TYPO_WEIGHT)
        return terms


#: Share of a word's score that a word one typing slip away gets (see :meth:`Bm25Index.scores`).
TYPO_WEIGHT = 0.8


def slips(a: str, b: str, limit: int) -> int:
    """Optimal string alignment distance of ``a`` and ``b`` (inserts, deletes, changes,
    swaps of two neighbours), or ``limit + 1`` once it is surely above ``limit``."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cost = 0 if ca == cb else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                current[j] = min(current[j], previous2[j - 2] + 1)
        if min(current) > limit:
            return limit + 1
        previous2, previous = previous, current
    return previous[-1]


# --------------------------------------------------------------------------- recall


@dataclass(frozen=True, slots=True, kw_only=True)
class RecallOptions:
    """How :func:`recall` weighs memories. Build once, share between NPCs.

    A memory's score is ``relevance_weight * relevance + recency_weight *
    recency + importance_weight * importance (+ fact_boost for facts)``, where
    relevance is its index score divided by the best score for the query
    (0..1), recency halves every ``recency_half_life`` turns (1 for this
    turn), and importance is the record's own, clipped to 0..1.
    """

    relevance_weight: float = 1.0
    recency_weight: float = 0.25
    importance_weight: float = 0.25
    #: Added to facts (kind "fact"): what the NPC learned outlasts small talk.
    fact_boost: float = 0.25
    #: Turns after which a memory's recency has halved.
    recency_half_life: float = 30.0
    #: Memories whose relevance is below this share of the best match are left out
    #: (facts stay candidates when ``facts_without_match`` is on).
    min_relevance: float = 0.1
    #: Facts that share no word with the query still compete (on recency,
    #: importance and the boost), below any matching memory of equal standing.
    facts_without_match: bool = True
    #: At most this many memories; None = as many as the budget holds.
    max_items: int | None = None

    def __post_init__(self) -> None:
        for name in ("relevance_weight", "recency_weight", "importance_weight", "fact_boost"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise InputError(
                    f"RecallOptions.{name} must be a finite number >= 0, got {value!r}"
                )
        if not self.recency_half_life > 0:
            raise InputError(
                f"RecallOptions.recency_half_life must be > 0 turns, got {self.recency_half_life!r}"
            )
        if not 0.0 <= self.min_relevance <= 1.0:
            raise InputError(
                f"RecallOptions.min_relevance must be within 0..1, got {self.min_relevance!r}"
            )
        if self.max_items is not None and self.max_items < 0:
            raise InputError(f"RecallOptions.max_items must be >= 0 or None, got {self.max_items}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Scored(Generic[M]):
    """A candidate memory and the parts of its score (for tuning and debugging)."""

    memory: M
    score: float
    relevance: float
    recency: float


def _as_index(source: Retriever[M] | Iterable[M]) -> Retriever[M]:
    if isinstance(source, Retriever):
        return source
    if isinstance(source, (str, bytes)):
        raise InputError("recall() needs a Bm25Index or an iterable of memories, not a string")
    index: Bm25Index[M] = Bm25Index()
    index.extend(source)
    return index


def score_memories(
    source: Retriever[M] | Iterable[M],
    query: str,
    *,
    now_turn: int,
    options: RecallOptions = RecallOptions(),
    exclude_ids: Collection[int] = (),
) -> list[Scored[M]]:
    """Every candidate for ``query`` with its score, best first (no budget applied).

    Candidates are the memories that share a word with the query (at least
    ``min_relevance`` of the best match) and, with ``facts_without_match``,
    every fact. Excluded ids are left out. Ties go to the newer memory, then
    the higher id, so the order is deterministic.
    """
    if not isinstance(query, str):
        raise InputError(f"recall query must be a string, got {type(query).__name__}")
    index = _as_index(source)
    raw = index.scores(query)
    best = max(raw.values(), default=0.0)
    relevance: dict[int, float] = {}
    if best > 0:
        for mid, value in raw.items():
            rel = value / best
            if rel >= options.min_relevance and rel > 0:
                relevance[mid] = rel
    candidates: dict[int, M] = {}
    for mid in relevance:
        memory = index.get(mid)
        if memory is not None:
            candidates[mid] = memory
    if options.facts_without_match:
        for memory in index.facts():
            candidates.setdefault(memory.id, memory)
    scored: list[Scored[M]] = []
    decay = math.log(2.0) / options.recency_half_life
    for mid, memory in candidates.items():
        if mid in exclude_ids:
            continue
        rel = relevance.get(mid, 0.0)
        age = max(0, now_turn - memory.turn)
        recency = math.exp(-decay * age)
        importance = min(1.0, max(0.0, float(memory.importance)))
        score = (
            options.relevance_weight * rel
            + options.recency_weight * recency
            + options.importance_weight * importance
            + (options.fact_boost if memory.kind == "fact" else 0.0)
        )
        scored.append(Scored(memory=memory, score=score, relevance=rel, recency=recency))
    scored.sort(key=lambda s: (-s.score, -s.memory.turn, -s.memory.id))
    return scored


def recall(
    source: Retriever[M] | Iterable[M],
    query: str,
    *,
    budget_tokens: int,
    count_tokens: Callable[[str], int],
    now_turn: int,
    options: RecallOptions = RecallOptions(),
    exclude_ids: Collection[int] = (),
    visible_texts: Collection[str] = (),
    render: Callable[[M], str] | None = None,
) -> list[M]:
    """The memories to put in the prompt before a reply to ``query``, oldest first.

    ``source`` is a :class:`Bm25Index` (or another :class:`Retriever`) kept up
    to date by the caller, or any iterable of memories (indexed on the spot:
    fine for a few hundred).
    A memory costs ``count_tokens(render(memory))`` tokens (``render``
    defaults to the memory's text; pass the function that writes it into the
    prompt, so labels and quotes are counted); the chosen memories' costs never
    add up to more than ``budget_tokens``.
    ``exclude_ids`` are memories the prompt shows already (the recent turns):
    they are skipped, and so is any other memory with the same text.
    ``visible_texts`` are lines shown already that may not be indexed: memories
    with the same text (up to case, spacing and punctuation) are skipped too.

    Candidates (see :func:`score_memories`) are taken best first while they
    fit; one that does not fit is passed over for smaller ones. A query that
    shares no word with any memory brings back facts only, or nothing.
    """
    if isinstance(budget_tokens, bool) or not isinstance(budget_tokens, int) or budget_tokens < 0:
        raise InputError(f"budget_tokens must be an int >= 0, got {budget_tokens!r}")
    index = _as_index(source)
    scored = score_memories(
        index, query, now_turn=now_turn, options=options, exclude_ids=exclude_ids
    )
    seen = {dedupe_key(text) for text in visible_texts}
    for mid in exclude_ids:
        visible = index.get(mid)
        if visible is not None:
            seen.add(dedupe_key(visible.text))
    limit = options.max_items
    left = budget_tokens
    chosen: list[M] = []
    for candidate in scored:
        if left <= 0 or (limit is not None and len(chosen) >= limit):
            break
        memory = candidate.memory
        key = dedupe_key(memory.text)
        if key in seen or not key:
            continue
        cost = count_tokens(memory.text if render is None else render(memory))
        if isinstance(cost, bool) or not isinstance(cost, int) or cost < 0:
            raise InputError(
                f"count_tokens returned {cost!r} for memory {memory.id}; it must be an int >= 0"
            )
        if cost > left:
            continue
        seen.add(key)
        chosen.append(memory)
        left -= cost
    chosen.sort(key=lambda m: (m.turn, m.id))
    log.debug(
        "recalled %d of %d candidates, %d of %d tokens",
        len(chosen),
        len(scored),
        budget_tokens - left,
        budget_tokens,
    )
    return chosen
