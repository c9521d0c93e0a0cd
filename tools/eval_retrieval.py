#!/usr/bin/env python3
"""Retrieval eval: BM25 against embeddings from the loaded Gemma 3 270M, and a hybrid.

    .venv/bin/python tools/eval_retrieval.py [--variants mean last eol] [--out out/]
    .venv/bin/python tools/eval_retrieval.py --no-embeddings     # BM25 only, no model

For each sample persona, a conversation of 60 lines: 16 facts the player tells
the NPC, player small talk (some of it sharing words with the facts on purpose)
and the NPC's own lines (the persona's greeting and examples, and more in its
voice). Each fact has one easy probe that repeats its words and two paraphrased
probes that share few or none ("What do I ride?" for "My horse is called
Pepper."). The share of words in common is printed, so the probes can be checked.

Metrics per retriever: recall@1 and recall@3 of the fact's own line among the
persona's 60 memories, and latency. An embedding retriever pays the cost of
embedding every memory when it is written; that is measured too. Figures are
medians from one run, side by side; the Markdown goes to docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from npc_ai.dialogue.persona import load_persona  # noqa: E402
from npc_ai.memory.embedding import EOL_TEMPLATE, EmbeddingIndex  # noqa: E402
from npc_ai.memory.recall import Bm25Index, Retriever, recall  # noqa: E402
from npc_ai.memory.terms import tokenize  # noqa: E402

PERSONAS = ROOT / "sample_game" / "personas"


@dataclass(frozen=True, slots=True, kw_only=True)
class Mem:
    """The store's Memory fields that retrieval reads."""

    id: int
    kind: str
    text: str
    speaker: str
    turn: int
    importance: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Fact:
    text: str
    easy: str
    hard: tuple[str, str]


def F(text: str, easy: str, hard1: str, hard2: str) -> Fact:
    return Fact(text=text, easy=easy, hard=(hard1, hard2))


# ----------------------------------------------------------------------------- the test set

SET: dict[str, dict[str, Any]] = {
    "blacksmith": {
        "facts": [
            F(
                "My horse is called Pepper.",
                "What is my horse called?",
                "What do I ride?",
                "Remember the name of my mount?",
            ),
            F(
                "I grew up in Riverwick.",
                "Did I grow up in Riverwick?",
                "Where's my home town?",
                "Which village am I from?",
            ),
            F(
                "I promised Marta two silver for the stew.",
                "How much silver did I promise Marta?",
                "What do I owe the innkeeper?",
                "Do I have any debts at the inn?",
            ),
            F(
                "My sister Elsie is a healer in Dunmere.",
                "What does my sister Elsie do?",
                "Who in my family tends the sick?",
                "Is anyone in my family a doctor?",
            ),
            F(
                "I lost my left glove in the Greyspur mine.",
                "Where did I lose my glove?",
                "What did I leave underground?",
                "Why is one of my hands bare?",
            ),
            F(
                "I'm allergic to bee stings.",
                "What am I allergic to?",
                "What insect could kill me?",
                "Why do I keep away from hives?",
            ),
            F(
                "My father was a sailor on the Grey Sea.",
                "What was my father's job?",
                "Did my dad work on ships?",
                "Did any of my family work on boats?",
            ),
            F(
                "I carry a dagger that belonged to my grandmother.",
                "Whose dagger do I carry?",
                "What blade did I inherit?",
                "Which weapon is an heirloom of mine?",
            ),
            F(
                "I can't swim, I never learned.",
                "Can I swim?",
                "Would I drown in the river?",
                "Is deep water dangerous for me?",
            ),
            F(
                "I'm saving up to buy a farm by the lake.",
                "What am I saving up for?",
                "What do I dream of owning?",
                "Where do I hope to settle down?",
            ),
            F(
                "My name is Tobin, by the way.",
                "What is my name?",
                "Who am I?",
                "What do people call me?",
            ),
            F(
                "I was bitten by a wolf last winter.",
                "When was I bitten by a wolf?",
                "What animal attacked me?",
                "Where did my scar come from?",
            ),
            F(
                "I've been afraid of the dark since I was a boy.",
                "What am I afraid of?",
                "Why do I keep a candle lit at night?",
                "What scares me?",
            ),
            F(
                "I broke my sword on a troll's skull.",
                "How did I break my sword?",
                "What happened to my old blade?",
                "What monster ruined my weapon?",
            ),
            F(
                "My birthday is on the first day of spring.",
                "When is my birthday?",
                "When was I born?",
                "Which season marks another year of my life?",
            ),
            F(
                "I owe Captain Venn a favour for letting me through the gate.",
                "What favour do I owe Captain Venn?",
                "Who in the Watch helped me?",
                "Am I in debt to the guard?",
            ),
        ],
        "player": [
            "Good morning! Hot work today?",
            "The horses at the fair look well fed this year.",
            "How long have you worked this forge?",
            "That's a fine hammer.",
            "Is the river water really better for quenching?",
            "I heard the mine is still shut.",
            "Do you ever take a day off?",
            "The road from the south was muddy.",
            "What's the best steel for an axe?",
            "Your apprentice seems busy.",
            "Nice weather for the Harvest Fair.",
            "Have you tried Marta's stew?",
            "The night was cold last night.",
            "Do you make horseshoes too?",
            "I like the sound of the anvil.",
            "See you tomorrow, then.",
        ],
        "npc": [
            "Hmph. Heat's up. Talk or leave.",
            "Thirty years at this anvil. Still hammering.",
            "Day off? Fire doesn't take one.",
            "River water. Cold and clean. Well water makes soft blades.",
            "Mine's shut. Slag and rumours, that's all we get now.",
            "Mud's good for nothing but pigs.",
            "Axe wants tough steel, not hard. Hard cracks.",
            "Marta's stew is the only soft thing I trust.",
            "Hmph. Noted.",
            "Heard you. Keep talking, I'm listening.",
            "Horseshoes, ploughs, spearheads. Whatever pays.",
            "Cold iron and cold nights. Both bite.",
            "Fair brings fools and coin. Coin's welcome.",
            "Go on, then. Forge won't wait.",
        ],
    },
    "guard": {
        "facts": [
            F(
                "I came to sell wool at the Harvest Fair.",
                "What am I selling at the fair?",
                "What's my business here?",
                "What goods did I bring to market?",
            ),
            F(
                "My cart has a broken wheel.",
                "What's wrong with my cart?",
                "Why can't my wagon move?",
                "What needs mending on my wagon?",
            ),
            F(
                "I travelled here along the marsh road.",
                "Which road did I travel?",
                "How did I get here?",
                "What route brought me to the village?",
            ),
            F(
                "My brother Hal serves in the king's army.",
                "Where does my brother Hal serve?",
                "Is anyone in my family a soldier?",
                "Who of my kin fights for the crown?",
            ),
            F(
                "I have a pass signed by the Duke of Ashford.",
                "Who signed my pass?",
                "What papers do I carry?",
                "Do I have permission from a noble?",
            ),
            F(
                "I saw lantern lights in the watchtower last night.",
                "What did I see in the watchtower?",
                "Did I notice anything odd on the hill after dark?",
                "What strange glow did I report?",
            ),
            F(
                "I'm staying at the Crooked Kettle, room four.",
                "Which room am I staying in at the Kettle?",
                "Where do I sleep tonight?",
                "Where can you find me in the village?",
            ),
            F(
                "My name is Tobin Reed.",
                "What is my name?",
                "Who am I?",
                "How should you address me?",
            ),
            F(
                "I used to be a soldier myself, in the border wars.",
                "Was I a soldier?",
                "Have I seen battle?",
                "What did I do before trading?",
            ),
            F(
                "I left my sword with Brakka to be mended.",
                "Where is my sword?",
                "Why am I unarmed?",
                "Who has my blade?",
            ),
            F(
                "I was robbed on the north road three days ago.",
                "When was I robbed?",
                "Did bandits attack me?",
                "What crime happened to me on the way?",
            ),
            F(
                "I have two mules named Bramble and Thistle.",
                "What are my mules named?",
                "What animals pull my cart?",
                "Which beasts did I bring?",
            ),
            F(
                "I need to leave before the gates close at sundown.",
                "When do I need to leave?",
                "What time must I be gone?",
                "Am I in a hurry?",
            ),
            F(
                "I'm looking for a man called Orrin who owes me money.",
                "Who is Orrin?",
                "Whom am I hunting?",
                "Who is in debt to me?",
            ),
            F(
                "I don't drink ale, only water.",
                "What do I drink?",
                "Should you offer me beer?",
                "Would I like a mug of something strong?",
            ),
            F(
                "My grandfather built the old bridge over the Thorn.",
                "Who built the old bridge?",
                "What did my ancestor make?",
                "Which landmark did my family create?",
            ),
        ],
        "player": [
            "Good day, Captain.",
            "The gate is busy this morning.",
            "Is the road to Dunmere safe?",
            "How many men are in the Watch?",
            "I read the ordinances on the board.",
            "Lovely weather for the fair.",
            "Do you ever get a night off?",
            "The market square is crowded already.",
            "Are there many travellers this year?",
            "Your uniform is very smart.",
            "What time does the fair open?",
            "I heard there was a robbery at the mill.",
            "Is there a curfew in Thornvale?",
            "Where can I water my animals?",
            "The bridge looks old.",
            "Thank you, Captain, I'll be going.",
        ],
        "npc": [
            "State your business, citizen. The Watch is listening.",
            "Noted in the ledger, citizen.",
            "Ordinance Three: the gates close at sundown. Remember it.",
            "The Watch does not discuss its numbers. Why do you ask?",
            "A night off is not in my orders.",
            "The fair opens at first bell. Keep to the main road.",
            "The mill matter is under investigation. Do you know something?",
            "The trough by the north gate is for travellers' animals.",
            "Curfew? The ordinances are posted. Read them, citizen.",
            "Many travellers, many troubles. I watch them all.",
            "Is that so, citizen? It will be recorded.",
            "Move along, and keep your blade sheathed.",
            "Roads are the Watch's concern. Yours is to stay on them.",
            "Very well. Go about your business.",
        ],
    },
    "innkeeper": {
        "facts": [
            F(
                "I'd like my eggs soft-boiled in the morning.",
                "How do I like my eggs?",
                "What do I want for breakfast?",
                "How should my morning meal be cooked?",
            ),
            F(
                "I'm a travelling bard from the coast.",
                "Am I a bard?",
                "What do I do for a living?",
                "What's my trade?",
            ),
            F(
                "My lute was a gift from my mother.",
                "Who gave me my lute?",
                "Where did my instrument come from?",
                "What present did a parent give me?",
            ),
            F(
                "I'm travelling with my dog, Biscuit.",
                "What is my dog's name?",
                "Who is my four-legged companion?",
                "Is my pet allowed inside?",
            ),
            F(
                "I'm allergic to mushrooms.",
                "What am I allergic to?",
                "What shouldn't you put in my stew?",
                "Which food makes me ill?",
            ),
            F(
                "I'll be staying for the whole Harvest Fair.",
                "How long am I staying?",
                "When will I leave the inn?",
                "How many nights will I need a room?",
            ),
            F(
                "I met my wife at a wedding in Dunmere.",
                "Where did I meet my wife?",
                "How did I find my spouse?",
                "Where did my marriage begin?",
            ),
            F(
                "I'm writing a song about the watchtower lights.",
                "What is my song about?",
                "What tune am I composing?",
                "What am I making music about?",
            ),
            F(
                "I paid for three nights in advance.",
                "How many nights did I pay for?",
                "Is my bill settled?",
                "Do I owe you for the room?",
            ),
            F("My name is Wren.", "What is my name?", "Who am I?", "What do folk call me?"),
            F(
                "I snore terribly, so I'd like a room away from the others.",
                "Do I snore?",
                "Why should I sleep alone?",
                "What noise do I make at night?",
            ),
            F(
                "I once sang for the Queen at Highcourt.",
                "Did I sing for the Queen?",
                "Have I performed for royalty?",
                "What's the grandest audience I've had?",
            ),
            F(
                "My boots are soaked from crossing the ford.",
                "Why are my boots wet?",
                "Why are my feet cold?",
                "What did I wade through?",
            ),
            F(
                "I'm looking for my cousin Mira, who left home a year ago.",
                "Who is my cousin Mira?",
                "Which relative am I searching for?",
                "Who went missing from my family?",
            ),
            F(
                "I can't read, so please tell me what the notices say.",
                "Can I read?",
                "Do I need letters explained?",
                "Can I make sense of written words?",
            ),
            F(
                "I hate the cold and always sit by the fire.",
                "Where do I like to sit?",
                "What spot in the taproom do I prefer?",
                "How do I feel about winter?",
            ),
        ],
        "player": [
            "Evening! Something smells wonderful.",
            "What's in the stew tonight?",
            "Busy night, is it?",
            "This ale is a bit thin.",
            "Who's the man in the corner?",
            "The rooms upstairs look cosy.",
            "How long have you kept the inn?",
            "Lovely fire you have going.",
            "Is the Harvest Fair worth seeing?",
            "I heard the blacksmith eats here every night.",
            "Does the captain ever smile?",
            "What a day on the road.",
            "Can I have another bowl?",
            "Any news from the marsh road?",
            "Your mother's recipe, you say?",
            "Good night, Marta.",
        ],
        "npc": [
            "Welcome, welcome, love! Sit down, the pot's on.",
            "Mutton and barley, dear, my mother's recipe, God rest her.",
            "Busy as a kettle on the boil, love!",
            "Thin? Well, I never! It's the barrel, dear, not me.",
            "Oh, him? A tinker from Dunmere, I shouldn't really say more.",
            "Four rooms upstairs, love, and the beds are aired every week.",
            "Since my mother passed it on, bless her, twenty years now.",
            "The fire's the heart of the house, dear, like yeast in bread.",
            "The Fair! Music, pies, fools and fiddlers, you'll love it.",
            "Brakka? Every night, regular as bread, and never says thank you.",
            "Captain Venn? Smile? Sooner see the stew pot dance, love.",
            "Sit, sit, you look worn through like an old dishcloth.",
            "Another bowl coming, love, there's always more in the pot.",
            "Oh, I'll remember that, dear, I remember everything.",
        ],
    },
}


def conversation(persona_key: str) -> tuple[list[Mem], list[int]]:
    """The 60-line history for a persona, and the memory id of each fact (in ``facts`` order)."""
    data = SET[persona_key]
    persona = load_persona(PERSONAS / f"{persona_key}.toml")
    npc_lines = [persona.greeting, *(ex.npc for ex in persona.examples), *data["npc"]]
    facts: list[Fact] = data["facts"]
    player: list[tuple[str, int]] = [(f.text, i) for i, f in enumerate(facts)]
    player += [(text, -1) for text in data["player"]]
    random.Random(persona_key).shuffle(player)
    memories: list[Mem] = []
    fact_ids = [0] * len(facts)
    turn = 0

    def add(kind: str, text: str, speaker: str) -> int:
        mid = len(memories) + 1
        memories.append(Mem(id=mid, kind=kind, text=text, speaker=speaker, turn=turn))
        return mid

    add("said", npc_lines[0], persona_key)
    reply = 1
    for n, (text, fact) in enumerate(player):
        turn += 1
        mid = add("heard", text, "player")
        if fact >= 0:
            fact_ids[fact] = mid
        # The NPC answers most lines; a few times the player says two in a row.
        if n % 8 != 7 and len(memories) < 59:
            add("said", npc_lines[reply % len(npc_lines)], persona_key)
            reply += 1
    return memories, fact_ids


# ----------------------------------------------------------------------------- retrievers

Ranker = Callable[[str], list[int]]


def bm25_ranker(memories: Sequence[Mem]) -> Ranker:
    index: Bm25Index[Mem] = Bm25Index()
    index.extend(memories)

    def rank(query: str) -> list[int]:
        scores = index.scores(query)
        return sorted(scores, key=lambda mid: (-scores[mid], -mid))

    return rank


def unit(vector: Sequence[float]) -> list[float]:
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    return [v / norm for v in vector]


class Embedder:
    """Gemma 3 270M through llama-cpp-python's high-level class, in embedding mode.

    ``variant``: ``mean`` (mean of every token's last hidden state) or ``last``
    (the last token's), of the text alone.
    """

    def __init__(self, variant: str) -> None:
        import llama_cpp

        from npc_ai.models.cache import resolve_model

        info = llama_cpp.llama_print_system_info().decode(errors="replace")
        if "AMX_INT8 = 1" in info:  # see npc_ai/backends/_llama.py: AMX kernels crash on Gemma 3
            raise SystemExit("this llama-cpp-python build has AMX kernels; run `./dev setup`")
        pooling = llama_cpp.LLAMA_POOLING_TYPE_MEAN
        if variant == "last":
            pooling = llama_cpp.LLAMA_POOLING_TYPE_LAST
        started = time.perf_counter()
        self.llm = llama_cpp.Llama(
            model_path=str(resolve_model("gemma3-270m")),
            embedding=True,
            pooling_type=pooling,
            n_ctx=512,
            n_threads=1,
            n_threads_batch=1,
            verbose=False,
        )
        self.load_ms = (time.perf_counter() - started) * 1000
        self.variant = variant

    def __call__(self, text: str) -> list[float]:
        vector = self.llm.embed(text)
        return unit(vector)  # type: ignore[arg-type]

    def close(self) -> None:
        self.llm.close()


class FastEolEmbedder:
    """PromptEOL embeddings the cheap way: a context on an already-loaded model
    (:class:`~npc_ai.backends._llama.LlamaModel`, as the engine's), in embedding mode
    with no pooling, where only the last token is an output. llama-cpp-python's
    ``embed()`` marks every token an output, so the 262k-row output head runs once
    per token; here it runs once per text, as when a prompt is read.
    """

    def __init__(self, model: Any = None) -> None:
        from npc_ai.backends._llama import LlamaModel
        from npc_ai.models.cache import resolve_model

        started = time.perf_counter()
        self.own = model is None
        self.model = model or LlamaModel(resolve_model("gemma3-270m"))
        ll = self.ll = self.model.ll
        params = ll.llama_context_default_params()
        params.n_ctx = params.n_batch = params.n_ubatch = 256
        params.n_seq_max = 1
        params.n_threads = params.n_threads_batch = 1
        params.embeddings = True
        params.pooling_type = ll.LLAMA_POOLING_TYPE_NONE
        params.no_perf = True
        self.ctx = ll.llama_init_from_model(self.model.handle, params)
        if not self.ctx:
            raise SystemExit("llama.cpp could not create an embedding context")
        self.memory = ll.llama_get_memory(self.ctx)
        self.batch = ll.llama_batch_init(256, 0, 1)
        self.n_embd = int(ll.llama_model_n_embd(self.model.handle))
        self.prefix: list[int] | None = None
        self.load_ms = (time.perf_counter() - started) * 1000
        self.variant = "eol"

    def _decode(self, tokens: Sequence[int], start: int, output: bool) -> None:
        batch = self.batch
        for i, token in enumerate(tokens):
            batch.token[i] = token
            batch.pos[i] = start + i
            batch.n_seq_id[i] = 1
            batch.seq_id[i][0] = 0
            batch.logits[i] = output and i == len(tokens) - 1
        batch.n_tokens = len(tokens)
        if self.ll.llama_decode(self.ctx, batch) != 0:
            raise RuntimeError("llama_decode failed")

    def __call__(self, text: str) -> list[float]:
        ll = self.ll
        # The template's opening is read once and kept in the cache; only the text and
        # the template's end are read for each memory.
        head, tail = EOL_TEMPLATE.split("{}")
        if self.prefix is None:
            self.prefix = self.model.tokenize(head, add_bos=True)
            ll.llama_memory_clear(self.memory, True)
            self._decode(self.prefix, 0, output=False)
        n = len(self.prefix)
        ll.llama_memory_seq_rm(self.memory, 0, n, -1)
        tokens = self.model.tokenize(text + tail, add_bos=False)[: 256 - n]
        self._decode(tokens, n, output=True)
        ptr = ll.llama_get_embeddings_ith(self.ctx, -1)
        return unit(ptr[: self.n_embd])

    def close(self) -> None:
        self.ll.llama_batch_free(self.batch)
        self.ll.llama_free(self.ctx)
        if self.own:
            self.model.close()


def reading_ms(texts: Sequence[str]) -> float:
    """Median time to read each text as a prompt in generation mode (logits for the last token
    only), on one thread: the yardstick for the embedding cost, measured in the same run."""
    import llama_cpp

    from npc_ai.models.cache import resolve_model

    llm = llama_cpp.Llama(
        model_path=str(resolve_model("gemma3-270m")),
        n_ctx=512,
        n_threads=1,
        n_threads_batch=1,
        verbose=False,
    )
    times = []
    for text in texts:
        tokens = llm.tokenize(text.encode())
        llm.reset()
        started = time.perf_counter()
        llm.eval(tokens)
        times.append((time.perf_counter() - started) * 1000)
    llm.close()
    return statistics.median(times)


class Cached:
    """An embedder that remembers memory vectors (paid once, at write time) and times them."""

    def __init__(self, embed: Callable[[str], list[float]]) -> None:
        self.embed = embed
        self.vectors: dict[str, list[float]] = {}
        self.write_ms: list[float] = []
        self.queries: dict[str, list[float]] = {}

    def query(self, text: str) -> list[float]:
        """A query's vector, kept: for accuracy runs, where latency is not measured."""
        if text not in self.queries:
            self.queries[text] = self.embed(text)
        return self.queries[text]

    def memory(self, text: str) -> list[float]:
        if text not in self.vectors:
            started = time.perf_counter()
            self.vectors[text] = self.embed(text)
            self.write_ms.append((time.perf_counter() - started) * 1000)
        return self.vectors[text]


def embedding_ranker(memories: Sequence[Mem], cached: Cached) -> Ranker:
    vectors = {m.id: cached.memory(m.text) for m in memories}

    def rank(query: str) -> list[int]:
        q = cached.embed(query)
        scores = {mid: sum(a * b for a, b in zip(q, v, strict=True)) for mid, v in vectors.items()}
        return sorted(scores, key=lambda mid: (-scores[mid], -mid))

    return rank


def rrf_ranker(first: Ranker, second: Ranker, k: int = 60) -> Ranker:
    """Reciprocal rank fusion: 1/(k + rank) summed over the rankers that rank a memory."""

    def rank(query: str) -> list[int]:
        fused: dict[int, float] = {}
        for ranker in (first, second):
            for position, mid in enumerate(ranker(query)):
                fused[mid] = fused.get(mid, 0.0) + 1.0 / (k + position + 1)
        return sorted(fused, key=lambda mid: (-fused[mid], -mid))

    return rank


# ----------------------------------------------------------------------------- evaluation

LEVELS = ("easy", "hard", "hard")


def probes(fact: Fact) -> list[tuple[str, str]]:
    return list(zip(LEVELS, (fact.easy, *fact.hard), strict=True))


def evaluate(name: str, build: Callable[[Sequence[Mem]], Ranker]) -> dict[str, Any]:
    hits: dict[str, list[int]] = {"easy": [], "hard": []}  # rank of the fact's line, 0-based
    query_ms: list[float] = []
    misses: list[str] = []
    for key in SET:
        memories, fact_ids = conversation(key)
        rank = build(memories)
        for fact, target in zip(SET[key]["facts"], fact_ids, strict=True):
            for level, probe in probes(fact):
                started = time.perf_counter()
                ranked = rank(probe)
                query_ms.append((time.perf_counter() - started) * 1000)
                position = ranked.index(target) if target in ranked else len(memories)
                hits[level].append(position)
                if level == "hard" and position >= 3:
                    misses.append(probe)
    out: dict[str, Any] = {"name": name, "query_ms_p50": statistics.median(query_ms)}
    for level, rows in [*hits.items(), ("all", hits["easy"] + hits["hard"])]:
        out[level] = {"n": len(rows)}
        for k in (1, 3, 5):
            out[level][f"r_at_{k}"] = sum(r < k for r in rows) / len(rows)
    out["hard_misses_at_3"] = misses
    return out


IndexMaker = Callable[[Sequence[Mem]], Retriever[Mem]]

# Small talk that asks for no memory: whatever recall() brings back beyond facts is filler.
SMALL_TALK = ["Hello there!", "Thanks!", "Goodbye.", "How are you?", "Fine, fine.", "Ha!"]


def bm25_index(memories: Sequence[Mem]) -> Retriever[Mem]:
    index: Bm25Index[Mem] = Bm25Index()
    index.extend(memories)
    return index


def embedding_index(cached: Cached, top_k: int) -> IndexMaker:
    def make(memories: Sequence[Mem]) -> Retriever[Mem]:
        index: EmbeddingIndex[Mem] = EmbeddingIndex(cached.query, top_k=top_k)
        for m in memories:
            index.add(m, vector=cached.memory(m.text))
        return index

    return make


def budget_eval(make: IndexMaker, budget: int, *, as_facts: bool) -> dict[str, float]:
    """recall() with default options: is the fact's line among what fits ``budget`` tokens?

    ``as_facts``: the fact lines are stored as kind "fact" (as a fact extractor would
    keep them), so recall() offers them even when the query matches nothing.
    ``filler``: non-fact memories recalled for small talk, per query.
    """

    def cost(text: str) -> int:  # about 1.3 tokens a word with Gemma's tokenizer, plus a label
        return round(len(text.split()) * 1.3) + 4

    found: dict[str, list[bool]] = {"easy": [], "hard": []}
    filler: list[int] = []
    for key in SET:
        memories, fact_ids = conversation(key)
        if as_facts:
            facts = set(fact_ids)
            memories = [replace(m, kind="fact") if m.id in facts else m for m in memories]
        index = make(memories)
        now = memories[-1].turn + 1
        for fact, target in zip(SET[key]["facts"], fact_ids, strict=True):
            for level, probe in probes(fact):
                got = recall(index, probe, budget_tokens=budget, count_tokens=cost, now_turn=now)
                found[level].append(any(m.id == target for m in got))
        for line in SMALL_TALK:
            got = recall(index, line, budget_tokens=budget, count_tokens=cost, now_turn=now)
            filler.append(sum(m.kind != "fact" for m in got))
    out = {level: sum(v) / len(v) for level, v in found.items()}
    out["filler"] = statistics.mean(filler)
    return out


def overlap() -> dict[str, float]:
    """Share of probes with no search term in common with their fact (after stemming)."""
    none = {"easy": 0, "hard": 0}
    total = {"easy": 0, "hard": 0}
    for key in SET:
        for fact in SET[key]["facts"]:
            terms = set(tokenize(fact.text))
            for level, probe in probes(fact):
                total[level] += 1
                none[level] += not (terms & set(tokenize(probe)))
    return {level: none[level] / total[level] for level in none}


def bm25_scale(n: int = 1000, repeats: int = 300) -> dict[str, float]:
    """BM25 query and recall() latency with ``n`` memories (lines of all three sets, repeated)."""
    lines = [m.text for key in SET for m in conversation(key)[0]]
    rng = random.Random(7)
    index: Bm25Index[Mem] = Bm25Index()
    started = time.perf_counter()
    for i in range(n):
        index.add(Mem(id=i, kind="heard", text=rng.choice(lines), speaker="player", turn=i))
    add_ms = (time.perf_counter() - started) * 1000 / n
    queries = [p for key in SET for f in SET[key]["facts"] for _, p in probes(f)]
    score_ms, recall_ms = [], []
    for i in range(repeats):
        probe = queries[i % len(queries)]
        t0 = time.perf_counter()
        index.scores(probe)
        t1 = time.perf_counter()
        recall(index, probe, budget_tokens=150, count_tokens=lambda t: len(t.split()), now_turn=n)
        t2 = time.perf_counter()
        score_ms.append((t1 - t0) * 1000)
        recall_ms.append((t2 - t1) * 1000)
    return {
        "n": n,
        "add_ms_per_memory": add_ms,
        "scores_ms_p50": statistics.median(score_ms),
        "recall_ms_p50": statistics.median(recall_ms),
        "recall_ms_p90": sorted(recall_ms)[int(0.9 * (len(recall_ms) - 1))],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-embeddings", action="store_true", help="BM25 only (no model)")
    parser.add_argument(
        "--variants",
        nargs="+",
        default=["mean", "last", "eol"],
        choices=["mean", "last", "eol"],
        help="embeddings: mean or last-token pooling of the text, or last token after PromptEOL",
    )
    parser.add_argument("--budget", type=int, default=120, help="recall() token budget")
    parser.add_argument("--out", default=str(ROOT / "out"), help="folder for the JSON result")
    args = parser.parse_args()

    started = time.time()
    n_lines = [len(conversation(key)[0]) for key in SET]
    rows = [evaluate("BM25", bm25_ranker)]
    budget = {"BM25": {
        "as heard lines": budget_eval(bm25_index, args.budget, as_facts=False),
        "as facts": budget_eval(bm25_index, args.budget, as_facts=True),
    }}  # fmt: skip
    embed_info: dict[str, Any] = {}
    if not args.no_embeddings:
        texts = sorted({m.text for key in SET for m in conversation(key)[0]})
        embed_info["read_as_prompt_ms_p50"] = reading_ms(texts[::3])
        for variant in args.variants:
            embedder: Embedder | FastEolEmbedder
            embedder = FastEolEmbedder() if variant == "eol" else Embedder(variant)
            cached = Cached(embedder)

            def emb(ms: Sequence[Mem], c: Cached = cached) -> Ranker:
                return embedding_ranker(ms, c)

            def hybrid(ms: Sequence[Mem], c: Cached = cached) -> Ranker:
                return rrf_ranker(bm25_ranker(ms), embedding_ranker(ms, c))

            rows.append(evaluate(f"Gemma 3 270M embeddings, {variant}", emb))
            rows.append(evaluate(f"hybrid: BM25 + {variant} embeddings, RRF", hybrid))
            for top_k in (2, 3, 5, 8) if variant == "eol" else ():
                make = embedding_index(cached, top_k)
                budget[f"EmbeddingIndex, eol, top_k={top_k}"] = {
                    "as heard lines": budget_eval(make, args.budget, as_facts=False),
                    "as facts": budget_eval(make, args.budget, as_facts=True),
                }
            embed_info[variant] = {
                "load_ms": embedder.load_ms,
                "embed_ms_per_memory_p50": statistics.median(cached.write_ms),
                "memories_embedded": len(cached.write_ms),
            }
            embedder.close()
    result = {
        "lines_per_conversation": n_lines,
        "probes_without_a_shared_term": overlap(),
        "rows": rows,
        "embedding": embed_info,
        "bm25_1000": bm25_scale(),
        "budget_tokens": args.budget,
        "recall_in_budget": budget,
        "seconds": time.time() - started,
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "python": sys.version.split()[0],
            "load_average": os.getloadavg(),
        },
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "eval_retrieval.json").write_text(json.dumps(result, indent=2) + "\n")
    report(result)
    print(f"\nJSON in {out / 'eval_retrieval.json'}")
    return 0


def report(result: dict[str, Any]) -> None:
    ov = result["probes_without_a_shared_term"]
    print(
        f"conversations: {result['lines_per_conversation']} lines; probes sharing no search "
        f"term with their fact: easy {ov['easy']:.0%}, paraphrased {ov['hard']:.0%}\n"
    )
    print(
        "| retriever | easy R@1 | easy R@3 | paraphrased R@1 | paraphrased R@3 | "
        "paraphrased R@5 | all R@3 | query p50 |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in result["rows"]:
        e, h = r["easy"], r["hard"]
        print(
            f"| {r['name']} | {e['r_at_1']:.0%} | {e['r_at_3']:.0%} | {h['r_at_1']:.0%} | "
            f"{h['r_at_3']:.0%} | {h['r_at_5']:.0%} | {r['all']['r_at_3']:.0%} | "
            f"{r['query_ms_p50']:.3f} ms |"
        )
    info = result["embedding"]
    if info:
        ms = info["read_as_prompt_ms_p50"]
        print(f"\nreading a memory as a prompt (generation mode): {ms:.1f} ms")
    for variant, v in info.items():
        if isinstance(v, dict):
            print(
                f"{variant}: load {v['load_ms']:.0f} ms, {v['embed_ms_per_memory_p50']:.1f} ms to "
                f"embed one memory (p50 of {v['memories_embedded']})"
            )
    s = result["bm25_1000"]
    print(
        f"\nBM25 with {s['n']} memories: add {s['add_ms_per_memory'] * 1000:.0f} µs/memory, "
        f"scores() p50 {s['scores_ms_p50'] * 1000:.0f} µs, recall() p50 "
        f"{s['recall_ms_p50'] * 1000:.0f} µs (p90 {s['recall_ms_p90'] * 1000:.0f} µs)"
    )
    print(
        f"\nrecall(), default options, {result['budget_tokens']}-token budget: share of probes "
        "whose fact line is recalled; non-fact lines recalled for small talk\n"
    )
    print("| index | fact lines kept as | easy | paraphrased | small-talk filler |")
    print("| --- | --- | --- | --- | --- |")
    for name, kinds in result["recall_in_budget"].items():
        for kind, b in kinds.items():
            print(
                f"| {name} | {kind} | {b['easy']:.0%} | {b['hard']:.0%} | {b['filler']:.1f} lines |"
            )
    print(f"load average during the run: {result['machine']['load_average']}")
    for r in result["rows"]:
        print(f"{r['name']}: paraphrased probes missed at 3: {len(r['hard_misses_at_3'])}")


if __name__ == "__main__":
    sys.exit(main())
