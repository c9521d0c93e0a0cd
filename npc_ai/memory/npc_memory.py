"""One NPC's long-term memory: what it heard and said, facts, feelings, a summary.

:class:`NpcMemory` sits on a :class:`~npc_ai.memory.store.MemoryStore` (one
store for every NPC of a game) and keeps what this NPC alone has heard:

- **episodes**: every line it heard (from the player, or overheard from
  others nearby, or told by another NPC) and every line it said;
- **facts** about the player, found by rule in what the player says
  (:mod:`npc_ai.memory.facts`) or given by the game (:meth:`NpcMemory.learn`);
- a **relationship** value from -1 to 1 that moves with how the player talks
  and with the game's own events (:meth:`NpcMemory.adjust_relationship`);
- a rolling **summary** of older lines, written by the model itself.

Before each reply :meth:`NpcMemory.note` retrieves the memories most relevant
to the player's line (BM25, see :mod:`npc_ai.memory.recall`), within a token
budget, and writes them as one stage direction that the prompt places right
before the NPC's line, where a small model uses them best::

    (Brakka remembers: Player said "My horse is called Pepper." Player's name is Ayla.)
    Brakka Ironhand:

An NPC knows only what it heard: memories move between NPCs only through
:meth:`NpcMemory.tell` (gossip, an explicit share) or lines overheard within
earshot (:meth:`NpcMemory.heard` with a ``source``).
"""

# Over the ~500-line mark on purpose: this is one class, NpcMemory, whose public methods
# (writing, the rolling summary, recall and notes) share one lock and one index. What a
# question asks is in questions.py, the scoring in recall.py, the rows in store.py.

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from npc_ai.dialogue.persona import Persona
from npc_ai.errors import InputError
from npc_ai.memory import questions
from npc_ai.memory.facts import extract_facts, sentiment
from npc_ai.memory.recall import Bm25Index, RecallOptions, recall
from npc_ai.memory.records import Memory, NewMemory
from npc_ai.memory.terms import dedupe_key, tokenize

if TYPE_CHECKING:
    from npc_ai.memory.store import MemoryStore

__all__ = ["MemoryOptions", "Note", "NpcMemory"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class MemoryOptions:
    """How an NPC remembers. Build once, share between NPCs."""

    #: Most tokens of recalled memory placed before each reply.
    budget_tokens: int = 80
    #: Lines at the end of the transcript too close to be worth recalling.
    recent_lines: int = 4
    #: Recall only when the player asks something (a question, "remember...").
    #: Notes after plain statements were measured to derail a small model:
    #: they fill the transcript with loosely related memories.
    recall_on_questions: bool = True
    #: Recall the NPC's own earlier lines too. Off: a 270M model repeats a recalled line of
    #: its own word for word, so one bad reply ("I don't have a dog.") spread to the next
    #: questions (tools/eval_dialogue.py); what it said recently is in the transcript anyway.
    recall_said: bool = False
    #: Find facts about the player in what they say (English patterns).
    learn_facts: bool = True
    #: Move the relationship value with how the player talks.
    track_relationship: bool = True
    #: How far one line moves the relationship, at most.
    relationship_step: float = 0.1
    #: Lines not yet summarised before a new summary is due.
    summary_every: int = 24
    #: Name the words that answer the question (:attr:`Note.answers`) when a memory surely
    #: answers it, so the reply can be nudged towards them (``SamplingParams.prefer``).
    answers: bool = True
    #: Nudge towards what the best memory found for a question says when it stands out:
    #: its search score at least this share above the next memory's (0.3: 1.0 against
    #: 0.7 or less). A memory of what the player said of themselves, a fact about them,
    #: or the NPC's own name or trade. Retrieval decides, not the wording of the question.
    answer_margin: float = 0.1
    #: ... and hold at least this share of the question's weight (its words' IDF; words
    #: of asking such as "say", "remember" or "called" left out).
    answer_coverage: float = 0.3
    #: The English question patterns of :mod:`npc_ai.memory.questions` ("my dog's name"
    #: -> the fact under player.dog, "your name" -> the persona's name) choose the
    #: answer before retrieval does.
    question_patterns: bool = True
    #: Retrieval scoring (see :class:`~npc_ai.memory.recall.RecallOptions`):
    #: only memories that share a word with the player's line, four at most.
    recall: RecallOptions = field(
        default_factory=lambda: RecallOptions(
            facts_without_match=False, max_items=3, min_relevance=0.5
        )
    )

    def __post_init__(self) -> None:
        if self.budget_tokens < 0 or self.recent_lines < 0 or self.summary_every < 1:
            raise InputError("budget_tokens and recent_lines must be >= 0 and summary_every >= 1")
        if not 0 <= self.relationship_step <= 1:
            raise InputError("relationship_step must be between 0 and 1")
        if not 0 <= self.answer_coverage <= 1:
            raise InputError(f"answer_coverage must be within 0..1, got {self.answer_coverage!r}")
        if not 0 <= self.answer_margin <= 1:
            raise InputError(f"answer_margin must be within 0..1, got {self.answer_margin!r}")


@dataclass(frozen=True, slots=True)
class Note:
    """What an NPC recalls before a reply: the stage direction, and the answer it holds.

    ``answers`` are set only when a memory surely answers the player's question: the value
    of the fact a "my X" question names ("What is my dog called?" and the fact "Player's dog is
    called Rascal." give ``("Rascal",)``), or the NPC's own name or trade when asked about
    itself. Empty otherwise.
    """

    text: str = ""
    answers: tuple[str, ...] = ()


# Words of asking, not of what is asked: left out of a question's weight.
_ASKING = frozenset(
    tokenize(
        "say said tell told remember recall remind mention mentioned know forget forgot "
        "name named call called"
    )
)


def _feeling(value: float) -> str | None:
    if value >= 0.6:
        return "trusts"
    if value >= 0.25:
        return "likes"
    if value <= -0.6:
        return "despises"
    if value <= -0.25:
        return "is wary of"
    return None


class NpcMemory:
    """The long-term memory of NPC ``npc`` in ``store``. Thread-safe.

    ``persona`` (optional) lets the NPC recall its own knowledge as well:
    each knowledge item of the persona is a fact it can be reminded of.
    """

    def __init__(
        self,
        store: MemoryStore,
        npc: str,
        *,
        persona: Persona | None = None,
        player: str = "Player",
        options: MemoryOptions | None = None,
        embed: Callable[[str], Sequence[float]] | None = None,
    ) -> None:
        if not isinstance(npc, str) or not npc:
            raise InputError(f"an NPC id must be a non-empty string, got {npc!r}")
        self.store = store
        self.npc = npc
        self.persona = persona
        self.player = player
        self.options = options or MemoryOptions()
        self._lock = threading.RLock()
        self._index: Bm25Index[Memory] | None = None
        self._own: list[Memory] = []  # persona knowledge, never stored
        #: Embeds a text for retrieval by meaning (None: BM25 alone). Experimental: called
        #: on the caller's thread, vectors are not stored (tools/eval_dialogue.py --embed).
        self.embed = embed

    # -- writing ---------------------------------------------------------------------

    def heard(self, text: str, *, speaker: str = "player", source: str = "") -> Memory:
        """The NPC heard ``text`` said by ``speaker``.

        ``source`` is ``""`` when said to this NPC, ``"earshot:<npc>"`` when
        overheard near another NPC, ``"told:<npc>"`` when passed on.
        Facts and feelings are taken only from what the player says to the
        NPC directly.
        """
        with self._lock:
            state = self.store.state(self.npc)
            turn = state.turn + (1 if speaker == "player" and not source else 0)
            records = [
                NewMemory(kind="heard", text=text, speaker=speaker, turn=turn, source=source)
            ]
            direct = speaker == "player" and not source
            if direct and self.options.learn_facts:
                records += [
                    NewMemory(kind="fact", text=f.text, key=f.key, turn=turn, importance=1.0)
                    for f in extract_facts(text, player=self.player)
                ]
            added = self.store.add(self.npc, records)
            if direct:
                changes: dict[str, object] = {"turn": turn}
                if self.options.track_relationship:
                    mood = sentiment(text) * self.options.relationship_step
                    if mood:
                        changes["relationship"] = _clamp(state.relationship + mood)
                self.store.update_state(self.npc, **changes)
            self._indexed(added)
            return added[0]

    def said(self, text: str) -> Memory:
        """The NPC said ``text``."""
        with self._lock:
            turn = self.store.state(self.npc).turn
            added = self.store.add(
                self.npc, [NewMemory(kind="said", text=text, speaker=self.npc, turn=turn)]
            )
            self._indexed(added)
            return added[0]

    def learn(self, key: str, text: str, *, source: str = "") -> Memory:
        """The NPC now knows ``text`` (a newer fact with the same ``key`` replaces it)."""
        if not text.strip():
            raise InputError("a fact needs some text")
        with self._lock:
            turn = self.store.state(self.npc).turn
            added = self.store.add(
                self.npc,
                [
                    NewMemory(
                        kind="fact", text=text, key=key, turn=turn, source=source, importance=1.0
                    )
                ],
            )
            self._index = None  # a superseded fact leaves the index
            return added[0]

    def tell(self, other: NpcMemory, memories: Iterable[Memory | str]) -> list[Memory]:
        """Pass ``memories`` (records of this NPC, or plain sentences) on to ``other``."""
        told = []
        for memory in memories:
            text = memory if isinstance(memory, str) else memory.text
            speaker = memory.speaker if isinstance(memory, Memory) and memory.speaker else self.npc
            told.append(other.heard(text, speaker=speaker, source=f"told:{self.npc}"))
        return told

    def gossip(self, other: NpcMemory, *, limit: int = 5) -> list[Memory]:
        """Tell ``other`` the newest facts this NPC knows about the player."""
        facts = sorted(self.facts().values(), key=lambda m: m.id)[-limit:]
        return self.tell(other, facts)

    def adjust_relationship(self, delta: float) -> float:
        """Move the relationship by ``delta`` (a quest done, a theft seen); return it."""
        with self._lock:
            value = _clamp(self.store.state(self.npc).relationship + delta)
            self.store.update_state(self.npc, relationship=value)
            return value

    # -- the rolling summary ------------------------------------------------------------

    def summary_due(self) -> bool:
        """Whether enough lines have passed since the last summary to write a new one."""
        state = self.store.state(self.npc)
        lines = self.store.memories(
            self.npc,
            kinds=("heard", "said"),
            after_id=state.summary_until,
            limit=self.options.summary_every,
        )
        return len(lines) >= self.options.summary_every

    def summary_prompt(self, *, max_lines: int = 48) -> tuple[str, int]:
        """The prompt for the model to write the next summary, and the last memory id it covers.

        The model continues a note in the NPC's diary: the earlier summary,
        the lines since, then ``"In short,"``. Its continuation (one line)
        goes to :meth:`set_summary`.
        """
        state = self.store.state(self.npc)
        lines = self.store.memories(
            self.npc,
            kinds=("heard", "said"),
            after_id=state.summary_until,
            limit=max_lines,
            newest=True,
        )
        who = self._first()
        out = [f"{who}'s diary: what {who} remembers of talks in the village.", ""]
        if state.summary:
            out += [f"Before: {state.summary}", ""]
        for memory in lines:
            speaker = (
                who
                if memory.kind == "said"
                else self.player
                if memory.speaker == "player"
                else memory.speaker
            )
            out.append(f"{speaker}: {memory.text}")
        out += ["", f"In short, {who} learned that"]
        until = lines[-1].id if lines else state.summary_until
        return "\n".join(out), until

    def set_summary(self, text: str, *, until: int) -> None:
        """Keep ``text`` (the model's continuation) as the summary up to memory ``until``.

        The summary is also a memory of its own, found by retrieval like any
        other; the previous summary's record is replaced.
        """
        text = " ".join(text.split()).strip(" .")
        if not text:
            return
        who = self._first()
        text = f"{who} learned that {text}."
        with self._lock:
            old = [m.id for m in self.store.memories(self.npc, kinds=("summary",))]
            turn = self.store.state(self.npc).turn
            added = self.store.add(
                self.npc, [NewMemory(kind="summary", text=text, turn=turn, importance=0.5)]
            )
            self.store.update_state(self.npc, summary=text, summary_until=until)
            if old:
                self.store.forget(self.npc, old)
                self._index = None
            else:
                self._indexed(added)

    def reload(self) -> None:
        """Read the store again (after the game imported a save blob)."""
        with self._lock:
            self._index = None

    # -- reading ---------------------------------------------------------------------

    @property
    def relationship(self) -> float:
        return self.store.state(self.npc).relationship

    @property
    def turn(self) -> int:
        return self.store.state(self.npc).turn

    @property
    def summary(self) -> str:
        return self.store.state(self.npc).summary

    def facts(self) -> dict[str, Memory]:
        """The newest fact for each key."""
        return self.store.facts(self.npc)

    def memories(self) -> list[Memory]:
        """Everything this NPC remembers, oldest first."""
        return self.store.memories(self.npc)

    def recall(
        self,
        query: str,
        *,
        count_tokens: Callable[[str], int],
        visible: Sequence[str] = (),
        budget_tokens: int | None = None,
    ) -> list[Memory]:
        """The memories most relevant to ``query`` that fit the token budget.

        ``visible`` are lines the prompt shows anyway (the end of the
        transcript): memories with the same text are not recalled again.
        """
        return self._recall(
            query, count_tokens=count_tokens, visible=visible, budget_tokens=budget_tokens
        )[0]

    def _recall(
        self,
        query: str,
        *,
        count_tokens: Callable[[str], int],
        visible: Sequence[str] = (),
        budget_tokens: int | None = None,
    ) -> tuple[list[Memory], tuple[str, ...]]:
        """:meth:`recall`, and the words that answer ``query`` when the memories surely do."""
        budget = self.options.budget_tokens if budget_tokens is None else budget_tokens
        if budget <= 0:
            return [], ()
        # "your name" and "my name" are the same words to BM25: whose name
        # is asked decides which facts may answer.
        about = questions.about(query)
        about_npc, about_player = about == "npc", about == "player"
        patterns = self.options.question_patterns
        keyed = self._keyed_fact(query) if patterns and not about_npc else None
        if keyed is not None:
            # "What is my dog called?" and a fact under player.dog: that fact
            # alone answers it. Other facts sharing a word ("name") only
            # give a small model a wrong value to copy.
            if count_tokens(self._describe(keyed)) > budget:
                return [], ()
            asked = set(questions.WORDS.findall(f"{query} {self.player}".casefold()))
            return [keyed], questions.new_words(keyed.text, asked)
        own = self._own_answer(query) if patterns and not about_player else []
        if own:
            # "What is your name?", "What is your trade?": the persona's own
            # fact answers it, not lore that shares a word ("job", "village").
            cost = sum(count_tokens(self._describe(m)) for m in own)
            return (own, self._own_words(own)) if cost <= budget else (own[:1], ())
        with self._lock:
            index = self._ensure_index()
            # Questions the player asked tell the NPC nothing to recall.
            exclude = {
                m.id for m in index if m.speaker == "player" and questions.is_question(m.text)
            }
            if about_npc:  # not the player's facts, nor what the player said of themselves
                exclude |= {
                    m.id for m in index if m.key.startswith("player.") or m.speaker == "player"
                }
            elif about_player:  # not the NPC's own name and trade
                exclude |= {m.id for m in self._persona_facts()[:2]}
            chosen = recall(
                index,
                query,
                budget_tokens=budget,
                count_tokens=count_tokens,
                now_turn=self.store.state(self.npc).turn,
                exclude_ids=exclude,
                visible_texts=visible,
                render=self._describe,
                options=self.options.recall,
            )
            answers = self._answer(index, query, exclude, chosen)
            words = set(questions.WORDS.findall(query.casefold()))
            asked_of_npc = about_npc or (
                about != "player" and "you" in words and not words & {"i", "me"}
            )
            if asked_of_npc and not chosen and self.persona is not None:
                # "Who are you?", "What do you do?": nothing to match, but the
                # NPC is asked about itself. Its name and trade answer that.
                chosen = self._persona_facts()[:2]
            return chosen, answers

    def _answer(
        self,
        index: Bm25Index[Memory],
        query: str,
        exclude: set[int],
        chosen: Sequence[Memory],
    ) -> tuple[str, ...]:
        """What the best memory for ``query`` answers, when retrieval is sure of it.

        Sure: the best memory is in the note, it is what the player said of themselves
        (or a fact about them, or the NPC's own name or trade), and its search score
        stands ``answer_margin`` above the next memory's that says something else.
        """
        raw = index.scores(query)
        ranked = sorted(
            ((score, mid) for mid, score in raw.items() if mid not in exclude),
            key=lambda item: (-item[0], -item[1]),
        )
        if not ranked:
            return ()
        best_score, best_id = ranked[0]
        best = index.get(best_id)
        if best is None or all(m.id != best_id for m in chosen):
            return ()
        same = dedupe_key(best.text)
        runner_up = next(
            (s for s, mid in ranked[1:] if (m := index.get(mid)) and dedupe_key(m.text) != same),
            0.0,
        )
        if best_score <= 0 or runner_up > (1.0 - self.options.answer_margin) * best_score:
            return ()
        # It must hold most of what the question asks, not one word of small talk
        # ("Is the market open tomorrow?" and "Tomorrow I ride on to Greyhaven.").
        if index.coverage(query, best_id, ignore=_ASKING) < self.options.answer_coverage:
            return ()
        own = self._persona_facts()[:2]
        if own and best.id in (own[0].id, own[1].id):
            return self._own_words([best])
        direct = best.kind == "heard" and best.speaker == "player" and not best.source
        about_player = best.kind == "fact" and (
            best.key.startswith(("player.", "promise.")) or not best.key
        )
        if not (direct or about_player) or best.id < 0:
            return ()
        n = max(len(index), 1)

        def rarity(term: str) -> float:
            return math.log(1.0 + n / (1.0 + index.document_frequency(term)))

        return questions.answer_words(best.text, query, skip=(self.player,), rarity=rarity)

    def note(
        self,
        query: str,
        *,
        count_tokens: Callable[[str], int],
        visible: Sequence[str] = (),
        name: str | None = None,
    ) -> str:
        """A stage direction with what the NPC recalls for ``query`` ("" if nothing).

        ``name`` is how the NPC is called in it (the persona's short name).
        """
        return self.recall_note(query, count_tokens=count_tokens, visible=visible, name=name).text

    def recall_note(
        self,
        query: str,
        *,
        count_tokens: Callable[[str], int],
        visible: Sequence[str] = (),
        name: str | None = None,
    ) -> Note:
        """:meth:`note`, with the words that answer ``query`` when a memory surely does."""
        who = name or self._first()
        if self.options.recall_on_questions and not questions.asks(query):
            return Note()
        chosen, answers = self._recall(query, count_tokens=count_tokens, visible=visible)
        parts = [self._describe(m) for m in chosen]
        feeling = _feeling(self.relationship)
        if feeling:
            parts.append(f"{who} {feeling} {self.player}.")
        if not parts:
            return Note()
        return Note(
            f"({who} remembers: {' '.join(parts)})", answers if self.options.answers else ()
        )

    # -- internals -------------------------------------------------------------------

    def _keyed_fact(self, query: str) -> Memory | None:
        """The player's fact the query names: "my dog's name" -> player.dog, "where do I come
        from" -> player.home."""
        return questions.fact_asked(query, self.store.facts(self.npc))

    def _describe(self, memory: Memory) -> str:
        text = memory.text.strip()
        quoted = f'"{text}"'
        if memory.kind in ("fact", "summary"):
            return text if text.endswith((".", "!", "?", '"')) else text + "."
        if memory.kind == "said":
            return f"{self._first()} said {quoted}"
        speaker = self.player if memory.speaker == "player" else memory.speaker
        if memory.source.startswith("earshot:"):
            return f"{speaker} was overheard saying {quoted}"
        if memory.source.startswith("told:"):
            return f"{memory.source[5:]} told of {speaker} saying {quoted}"
        return f"{speaker} said {quoted}"

    def _own_answer(self, query: str) -> list[Memory]:
        """The persona's name and/or trade fact when ``query`` asks for them, else []."""
        own = self._persona_facts()[:2]
        if len(own) < 2:
            return []
        folded = query.casefold()
        name, trade = questions.NAME_ASK.search(folded), questions.TRADE_ASK.search(folded)
        return [m for m, asked in zip(own, (name, trade), strict=True) if asked]

    def _own_words(self, own: Sequence[Memory]) -> tuple[str, ...]:
        """The words of the NPC's name, or of its trade, that answer a question about it."""
        persona = self.persona
        if persona is None:  # own facts come from the persona: not reached
            return ()
        if own[0] is self._persona_facts()[0]:  # the name ("Who are you?" asks both)
            short, full = persona.short_name, persona.name
            return (short,) if short == full else (short, full)
        trade = questions.trade_word(persona.role)
        return (trade,) if trade else ()

    def _first(self) -> str:
        return self.persona.short_name if self.persona else self.npc

    def _ensure_index(self) -> Bm25Index[Memory]:
        if self._index is None:
            index: Bm25Index[Memory]
            if self.embed is not None:
                from npc_ai.memory.embedding import HybridIndex

                index = HybridIndex(self.embed)  # type: ignore[assignment]
            else:
                index = Bm25Index()
            for memory in self._persona_facts():
                index.add(memory)
            current = {m.id for m in self.store.facts(self.npc).values()}
            memories = self.store.memories(self.npc)
            # A fact found in a line says it shorter, in the third person; the
            # line itself ("I have a dog named Biscuit") is what a small model
            # would parrot, and after a newer fact it is out of date.
            told = {m.turn for m in memories if m.kind == "fact" and m.key and not m.source}
            for memory in memories:
                if memory.kind == "fact" and memory.key and memory.id not in current:
                    continue  # superseded
                if memory.kind == "said" and not self.options.recall_said:
                    continue
                direct = memory.speaker == "player" and not memory.source
                if memory.kind == "heard" and direct and memory.turn in told:
                    continue
                index.add(memory)
            self._index = index
        return self._index

    def _indexed(self, added: Sequence[Memory]) -> None:
        if self._index is None:
            return
        if any(m.kind == "fact" and m.key for m in added):
            self._index = None  # may supersede an older fact: rebuild on next recall
            return
        for memory in added:
            if memory.kind != "said" or self.options.recall_said:
                self._index.add(memory)

    def _persona_facts(self) -> list[Memory]:
        if self.persona is None:
            return []
        if not self._own:
            p = self.persona
            first = p.short_name
            # Measured with tools/eval_dialogue.py: the name reads best in the
            # third person, the trade in the first ("I am the village blacksmith").
            texts = [
                f"{first}'s own name is {p.name}; people call {first} {first}.",
                f"I am the {p.role}; that is my trade and my work.",
                *p.knowledge,
            ]
            # Negative ids: persona knowledge is not stored and never exported.
            self._own = [
                Memory(id=-(i + 1), npc=self.npc, kind="fact", text=t, importance=0.5)
                for i, t in enumerate(texts)
            ]
        return self._own


def _clamp(value: float) -> float:
    return max(-1.0, min(1.0, value))
