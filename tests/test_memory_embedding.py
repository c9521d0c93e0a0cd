from __future__ import annotations

import importlib
import math

import pytest

from npc_ai.errors import InputError
from npc_ai.memory.embedding import EmbeddingIndex
from npc_ai.memory.recall import Retriever, recall
from npc_ai.memory.records import Memory

# A toy meaning space: each word points along a topic axis.
TOPICS = {
    "horse": 0, "pepper": 0, "ride": 0, "mount": 0,
    "silver": 1, "owe": 1, "debt": 1, "coin": 1,
    "home": 2, "riverwick": 2, "grew": 2, "town": 2,
    "weather": 3, "rain": 3, "sun": 3,
}  # fmt: skip


def embed(text: str) -> list[float]:
    vector = [0.05] * 5
    for word in text.lower().replace("?", " ").replace(".", " ").split():
        vector[TOPICS.get(word, 4)] += 1.0
    return vector


def mem(id: int, text: str, *, kind: str = "heard", turn: int = 0) -> Memory:
    return Memory(id=id, npc="smith", kind=kind, text=text, speaker="player", turn=turn)


def index_of(memories: list[Memory], **kwargs: object) -> EmbeddingIndex[Memory]:
    calls: list[str] = []

    def counting(text: str) -> list[float]:
        calls.append(text)
        return embed(text)

    index: EmbeddingIndex[Memory] = EmbeddingIndex(counting, **kwargs)  # type: ignore[arg-type]
    index.extend(memories)
    assert calls == [m.text for m in memories]  # one embedding per memory, at add time
    return index


MEMORIES = [
    mem(1, "My horse is called Pepper", turn=1),
    mem(2, "I owe Marta two silver", turn=2),
    mem(3, "I grew up in Riverwick", turn=3),
    mem(4, "Lovely weather today", turn=4),
    mem(5, "Riverwick is my home", kind="fact", turn=5),
]


def test_public_names() -> None:
    module = importlib.import_module("npc_ai.memory.embedding")
    assert sorted(module.__all__) == ["EOL_TEMPLATE", "EmbeddingIndex", "HybridIndex"]


def test_finds_memories_by_meaning_with_no_shared_word() -> None:
    index = index_of(MEMORIES, top_k=2)
    scores = index.scores("What do I ride")
    assert max(scores, key=scores.__getitem__) == 1
    assert len(scores) <= 2 and all(0 < v <= 1 for v in scores.values())
    got = recall(index, "What do I ride", budget_tokens=100, count_tokens=len, now_turn=6)
    assert 1 in [m.id for m in got]


def test_is_a_retriever_with_the_bm25_interface() -> None:
    index = index_of(MEMORIES)
    assert isinstance(index, Retriever)
    assert len(index) == 5 and 3 in index and index.get(3) == MEMORIES[2]
    assert [m.id for m in index.facts()] == [5]
    assert index.memories() == MEMORIES == list(index)


def test_min_similarity_and_top_k_limit_matches() -> None:
    index = index_of(MEMORIES, top_k=5, min_similarity=0.9)
    assert set(index.scores("my horse is called pepper")) == {1}
    assert index.scores("") == {}
    wide = index_of(MEMORIES, top_k=5, min_similarity=-1.0)
    assert len(wide.scores("horse")) == 5
    narrow = index_of(MEMORIES, top_k=1, min_similarity=-1.0)
    assert list(narrow.scores("silver coin")) == [2]


def test_cosine_rescaled_above_the_floor() -> None:
    index = index_of(MEMORIES, top_k=5, min_similarity=0.5)
    q = embed("horse")
    v = embed(MEMORIES[0].text)
    cos = sum(a * b for a, b in zip(q, v, strict=True)) / (math.hypot(*q) * math.hypot(*v))
    assert index.scores("horse")[1] == pytest.approx((cos - 0.5) / 0.5, rel=1e-5)


def test_remove_replace_and_precomputed_vectors() -> None:
    index = index_of(MEMORIES)
    index.remove([1, 99])
    assert 1 not in index and 1 not in index.scores("horse pepper ride")
    index.add(mem(2, "Lovely sun and rain"), vector=embed("weather"))  # replaces id 2
    assert len(index) == 4
    top = index.scores("rain")
    assert max(top, key=top.__getitem__) in {2, 4}
    index.remove([2, 3, 4, 5])
    assert len(index) == 0 and index.scores("horse") == {}
    index.add(mem(9, "x"), vector=[1.0, 0.0])  # an empty index takes any dimension again
    assert index.memories() == [mem(9, "x")]


def test_a_text_embedded_lately_is_not_embedded_again() -> None:
    calls: list[str] = []

    def counting(text: str) -> list[float]:
        calls.append(text)
        return embed(text)

    index: EmbeddingIndex[Memory] = EmbeddingIndex(counting)
    index.extend(MEMORIES)
    calls.clear()
    index.scores("What do I ride")  # the player's line as the query...
    index.add(mem(6, "What do I ride", turn=6))  # ...then stored as a memory: one call
    index.scores("horse")
    index.scores("horse")
    index.scores("silver")
    assert calls == ["What do I ride", "horse", "silver"]
    for word in ["a", "b", "c", "d", "e"]:
        index.scores(word)
    index.scores("What do I ride")  # pushed out of the last few
    assert calls[-1] == "What do I ride" and len(calls) == 9


@pytest.mark.parametrize(
    "vector",
    [[], [0.0, 0.0, 0.0, 0.0, 0.0], [1.0, float("nan"), 0, 0, 0], [1.0, 2.0], ["a", "b"]],
)
def test_bad_embeddings_raise_input_error_and_change_nothing(vector: list[object]) -> None:
    index = index_of(MEMORIES)
    with pytest.raises(InputError):
        index.add(mem(1, "replaced?"), vector=vector)  # type: ignore[arg-type]
    assert index.get(1) == MEMORIES[0] and len(index) == 5


def test_bad_parameters() -> None:
    with pytest.raises(InputError):
        EmbeddingIndex(embed, top_k=0)
    with pytest.raises(InputError):
        EmbeddingIndex(embed, min_similarity=1.0)


@pytest.mark.model
def test_gemma_prompt_eol_embeddings_find_paraphrases_bm25_cannot() -> None:
    llama_cpp = pytest.importorskip("llama_cpp")
    from npc_ai.memory.embedding import EOL_TEMPLATE
    from npc_ai.memory.recall import Bm25Index
    from npc_ai.models.cache import resolve_model

    llm = llama_cpp.Llama(
        model_path=str(resolve_model("gemma3-270m")),
        embedding=True,
        pooling_type=llama_cpp.LLAMA_POOLING_TYPE_LAST,
        n_ctx=512,
        n_threads=1,
        verbose=False,
    )
    try:

        def embed(text: str) -> list[float]:
            return list(llm.embed(EOL_TEMPLATE.format(text)))

        lines = [
            "I grew up in Riverwick.",
            "I can't swim, I never learned.",
            "I'm allergic to bee stings.",
            "Hmph. Forge is hot. Talk fast.",
            "The horses at the fair look well fed this year.",
            "Is the river water really better for quenching?",
            "Mine's shut. Slag and rumours, that's all we get now.",
            "Nice weather for the Harvest Fair.",
            "Axe wants tough steel, not hard. Hard cracks.",
            "Do you ever take a day off?",
        ]
        memories = [mem(i + 1, text, turn=i) for i, text in enumerate(lines)]
        index: EmbeddingIndex[Memory] = EmbeddingIndex(embed, top_k=3)
        index.extend(memories)
        bm25: Bm25Index[Memory] = Bm25Index()
        bm25.extend(memories)
        probes = {"Where's my home town?": 1, "What insect could kill me?": 3}
        for probe, target in probes.items():
            assert target not in bm25.scores(probe)
            assert target in index.scores(probe), probe
    finally:
        llm.close()


def test_small_talk_brings_back_at_most_top_k_lines_and_the_facts() -> None:
    chatter = [mem(10 + i, f"word{i} chatter", turn=i) for i in range(20)]
    index = index_of([*MEMORIES, *chatter], top_k=3, min_similarity=-1.0)
    got = recall(index, "Ha!", budget_tokens=500, count_tokens=len, now_turn=30)
    assert sum(m.kind != "fact" for m in got) <= 3
    assert 5 in [m.id for m in got]  # the fact is offered anyway


def test_a_hybrid_index_finds_by_words_and_by_meaning() -> None:
    from npc_ai.memory.embedding import HybridIndex

    index: HybridIndex[Memory] = HybridIndex(embed, top_k=1)
    index.extend([mem(1, "My horse is Pepper."), mem(2, "I owe silver."), mem(3, "Nice sun.")])
    assert isinstance(index, Retriever) and len(index) == 3 and 2 in index
    by_meaning = index.scores("What do I ride?")  # no word in common: the embedding finds it
    assert set(by_meaning) == {1}
    both = index.scores("Is Pepper my horse?")
    assert max(both, key=both.__getitem__) == 1 and both[1] > 1.0  # BM25 1.0 + embedding
    assert index.coverage("Is Pepper my horse?", 1) == 1.0 and index.document_frequency("pepper")
    index.remove([1])
    assert 1 not in index and 1 not in index.embeddings


def test_an_npc_memory_with_an_embedding_recalls_a_paraphrase() -> None:
    from npc_ai.memory import MemoryStore, NpcMemory

    memory = NpcMemory(MemoryStore(":memory:"), "smith", embed=embed)
    memory.heard("My horse is Pepper.")
    memory.heard("Nice sun.")
    note = memory.note("What do I ride?", count_tokens=lambda t: len(t.split()))
    assert "Pepper" in note
    plain = NpcMemory(MemoryStore(":memory:"), "smith")
    plain.heard("My horse is Pepper.")
    assert plain.note("What do I ride?", count_tokens=lambda t: len(t.split())) == ""
