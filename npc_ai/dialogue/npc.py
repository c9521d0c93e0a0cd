"""The dialogue core: an NPC that hears the player and answers in a stream.

A minimal loop::

    from npc_ai import Npc, load_persona
    from npc_ai.backends.llama_cpp import LlamaCppGenerator

    with LlamaCppGenerator.from_default() as model:
        npc = Npc(load_persona("sample_game/personas/blacksmith.toml"), model)
        for piece in npc.say("Can you mend my sword?", seed=7):
            print(piece, end="", flush=True)
        print()

Each :meth:`Npc.say` returns a :class:`Reply`, an iterator of text pieces
that add up to the finished line. The conversation is kept per NPC for the
session; long-term memory is separate.
"""

from __future__ import annotations

import functools
import logging
import random
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Protocol

from npc_ai.dialogue.cleanup import ReplyFilter
from npc_ai.dialogue.guard import META_PHRASES, Guard, GuardOptions, looks_like_injection
from npc_ai.dialogue.persona import Persona
from npc_ai.dialogue.prompt import (
    EXAMPLE_NAMES,
    MAX_PLAYER_CHARS,
    PromptParts,
    Turn,
    build_prompt,
    role_markers,
    sanitize_line,
)
from npc_ai.dialogue.reply import Reply, write_summary
from npc_ai.dialogue.turn import SummaryWriter
from npc_ai.errors import InputError, PersonaError
from npc_ai.generation import Generator, SamplingParams

if TYPE_CHECKING:
    from npc_ai.dialogue.interpret import Interpreter
    from npc_ai.dialogue.structured import CalibrationSteps, ReplyStructure
    from npc_ai.memory.npc_memory import NpcMemory

__all__ = ["DialogueOptions", "Npc", "Reply", "TokenBudget", "new_seed"]

log = logging.getLogger(__name__)

# Room the conversation needs beside the persona header: a few turns.
_MIN_SCENE_TOKENS = 128
# A reply may not repeat one of the NPC's last few lines word for word; a
# retry (a repeat, or an empty reply) samples a little hotter.
_AVOID_REPEATS = 2
_RETRY_HEAT = 0.25
# Turns forgotten at once when the session history is full (an even number: whole exchanges).
_FORGET_STEP = 16


@dataclass(frozen=True, slots=True, kw_only=True)
class DialogueOptions:
    """How an NPC talks. Build once, share between NPCs."""

    #: How the player is named in the transcript (the game may use the hero's name).
    player_name: str = "Player"
    #: Upper bound on a reply's tokens; replies usually end sooner, at a line end.
    max_tokens: int = 60
    #: A reply ends after this many complete sentences.
    max_sentences: int = 3
    #: Low for a 270M model: above ~0.6 its replies drift off topic, and 0.3
    #: kept its name and trade better than 0.5 (tools/eval_dialogue.py,
    #: docs/BENCHMARKS.md "Dialogue quality"); a retry samples hotter.
    temperature: float = 0.3
    top_k: int = 40
    top_p: float = 0.95
    min_p: float = 0.05
    repeat_penalty: float = 1.1
    #: Player lines are cut to this many characters (at a word boundary).
    max_player_chars: int = MAX_PLAYER_CHARS
    #: Turns kept in the session history (older ones are forgotten).
    max_history_turns: int = 64
    #: Extra attempts when clean-up leaves nothing, before the fallback line.
    retries: int = 2
    #: Said when every attempt came out empty: a reply is never empty.
    fallback_reply: str = "Hmm."
    #: Each reply also picks an emotion and an action from the persona's own
    #: (:mod:`npc_ai.dialogue.structured`); two short choice steps after the line.
    structured: bool = False
    #: When memory holds the answer to the player's question (a fact a "my X" question names,
    #: the NPC's own name or trade), nudge the reply towards its words until it says one
    #: (``SamplingParams.prefer``): a 270M model sees the answer and often fails to copy it.
    prefer_answers: bool = True
    #: What replies must never contain (blocklist, out-of-fiction words, secrets).
    guard: GuardOptions = field(default_factory=GuardOptions)

    def __post_init__(self) -> None:
        name = sanitize_line(self.player_name, limit=40)
        if not name or name != self.player_name.strip() or ":" in self.player_name:
            raise InputError(
                f"player_name must be a name of at most 40 characters on one line, without ':'; "
                f"got {self.player_name!r}"
            )
        if self.max_tokens < 1 or self.max_sentences < 1 or self.max_player_chars < 1:
            raise InputError("max_tokens, max_sentences and max_player_chars must be positive")
        if not self.fallback_reply.strip():
            raise InputError("fallback_reply must not be blank")


class TokenBudget(Protocol):
    """What an NPC needs of a model to size its prompts (a Generator or an Engine)."""

    @property
    def context_size(self) -> int: ...

    def count_tokens(self, text: str) -> int: ...


class Npc:
    """A character who talks: a persona, a generator and this session's conversation.

    :meth:`say` streams a reply from the generator. A driver that generates
    elsewhere (the game-loop :class:`~npc_ai.runtime.Runtime`) uses the turn
    methods instead: :meth:`begin_turn`, :meth:`sampling`,
    :meth:`reply_filter` and :meth:`end_turn`; then ``generator`` only needs
    to size prompts.
    """

    def __init__(
        self,
        persona: Persona,
        generator: Generator | TokenBudget,
        *,
        options: DialogueOptions | None = None,
        memory: NpcMemory | None = None,
        interpreter: Interpreter | None = None,
    ) -> None:
        self.persona = persona
        self.generator = generator
        self.options = options or DialogueOptions()
        #: Long-term memory (None: the NPC remembers only this session's lines).
        self.memory = memory
        #: The allowed emotions and actions, when replies are structured.
        self.structure: ReplyStructure | None = None
        self._calibrated = False  # the structure's choices are calibrated (once per NPC)
        if self.options.structured:
            from npc_ai.dialogue.structured import ReplyStructure

            self.structure = ReplyStructure.for_persona(persona)
        #: Translates between the player's language and the persona's (None: no translation).
        self.interpreter = interpreter if interpreter is not None and interpreter.needed else None
        o = self.options
        self._player = sanitize_line(o.player_name, limit=40)
        if self._player.casefold() in {
            n.casefold() for n in (persona.name, persona.name.split()[0], persona.short_name)
        }:
            raise InputError(
                f"player_name {self._player!r} is the NPC's own name; pick another "
                "(DialogueOptions(player_name=...))"
            )
        self._markers = role_markers(persona, self._player)
        self._stops = ("\n", *self._markers)
        self._sampling = SamplingParams(
            max_tokens=o.max_tokens,
            temperature=o.temperature,
            top_k=o.top_k,
            top_p=o.top_p,
            min_p=o.min_p,
            repeat_penalty=o.repeat_penalty,
            stop=self._stops,
        )
        self._history: list[Turn] = []
        self._prefer: tuple[str, ...] = ()
        first = persona.short_name
        self._stay_in_character = (
            f"({first} does not understand such talk and stays {first}, the {persona.role}.)"
        )
        self._active: Reply | None = None
        self._budget = generator.context_size - o.max_tokens - 8
        self._prefix = build_prompt(
            persona, [], player_name=self._player, memory_notes=memory is not None
        ).prefix
        # Lines of a conversation are counted again at every turn: remember
        # their counts (tokenizing the persona prefix alone takes ~0.3 ms).
        self._count_tokens = functools.lru_cache(maxsize=512)(generator.count_tokens)
        fixed = self._count_tokens(self._prefix)
        if fixed + _MIN_SCENE_TOKENS > self._budget:
            raise PersonaError(
                f"the persona takes {fixed} tokens of prompt, which leaves less than "
                f"{_MIN_SCENE_TOKENS} of the {self._budget} available for the conversation",
                source=persona.source,
                expected="fewer or shorter knowledge facts and examples, or a larger context_size",
            )

    @property
    def history(self) -> tuple[Turn, ...]:
        """This session's conversation, oldest first."""
        return tuple(self._history)

    def greet(self) -> str:
        """The persona's greeting (no generation); empty if it has none."""
        return self.persona.greeting

    @property
    def prefix(self) -> str:
        """The persona's part of every prompt (header, examples, greeting)."""
        return self._prefix

    def prepare(self) -> None:
        """Compute the persona's part of the prompt now (say, when the player
        comes near), so that the first reply starts sooner."""
        self._generator().prefill([self._prefix])

    def reset(self) -> None:
        """Forget this session's conversation."""
        self._cancel_active()
        self._history.clear()

    def say(self, text: str, *, seed: int | None = None) -> Reply:
        """The player says ``text``; return the NPC's reply as a stream.

        ``text`` is sanitised (it cannot pose as another speaker or a header)
        and cut to ``options.max_player_chars``. A reply still streaming from
        an earlier call is cancelled first. ``seed`` makes the reply
        reproducible for the same model, persona and conversation.
        """
        self._generator()
        line = self.check_line(text)
        self._cancel_active()
        prompt = self.begin_turn(line)
        if seed is None:
            seed = new_seed()
        reply = Reply(self, prompt, seed)
        self._active = reply
        return reply

    def reply(self, text: str, *, seed: int | None = None) -> str:
        """Blocking form of :meth:`say`: the whole reply at once."""
        return self.say(text, seed=seed).read()

    # -- turns, for drivers ---------------------------------------------------------

    def begin_turn(self, text: str) -> PromptParts:
        """The player says ``text``: record it and return the prompt for the reply.

        ``text`` is sanitised and cut as in :meth:`say`; an empty line is an
        :class:`InputError`. The oldest turns are left out of the prompt when
        the conversation outgrows the context.
        """
        line = self.check_line(text)
        if self.interpreter is not None:
            line = self.check_line(self.interpreter.to_npc(line))
        note, self._prefer = "", ()
        if self.memory is not None:
            recent = self.memory.options.recent_lines
            visible = [t.text for t in self._history[-recent:]] if recent else []
            recalled = self.memory.recall_note(
                line, count_tokens=self._count_tokens, visible=[*visible, line]
            )
            note, self._prefer = recalled.text, recalled.answers
            self.memory.heard(line)
        if looks_like_injection(text):
            note = _join_notes(note, self._stay_in_character)
        self._history.append(Turn("player", line, note))
        most = self.options.max_history_turns
        if len(self._history) > most:
            # Forget a block of turns at once (see build_prompt's drop_step): the
            # transcript's start then stays put, and so does the cached prompt.
            del self._history[: len(self._history) - most + min(_FORGET_STEP, most // 2)]
        return build_prompt(
            self.persona,
            self._history,
            player_name=self._player,
            budget_tokens=self._budget,
            count_tokens=self._count_tokens,
            memory_notes=self.memory is not None,
        )

    def sampling(self, seed: int, attempt: int = 0) -> SamplingParams:
        """Sampling for one attempt at a reply; each retry draws differently, a little hotter.

        A retry may not open like the NPC's last lines or the fallback line: the attempt before
        was most often held back as a repeat of one of them, and hotter sampling alone kept
        drawing the same line (a 270M model in a loop).
        """
        ban: tuple[str, ...] = ()
        if attempt > 0:
            lines = (*self._last_said(), self.options.fallback_reply)
            ban = tuple(dict.fromkeys(t for t in lines if t.strip()))
        return replace(
            self._sampling,
            seed=(seed + 7919 * attempt) & 0x7FFFFFFF,
            temperature=self._sampling.temperature + _RETRY_HEAT * attempt,
            # What memory says answers the question (see NpcMemory.recall_note).
            prefer=self._prefer if self.options.prefer_answers else (),
            ban_first=ban,
        )

    def reply_filter(self) -> ReplyFilter:
        """A fresh clean-up filter for one attempt at a reply."""
        heard = [self._history[-1].text] if self._history else []
        said = self._last_said()
        # A reply that names the worked example's mule or town copied the example
        # (measured: "I came from Dunmere."), unless the player named them first.
        unsaid: tuple[str, ...] = ()
        if self.memory is not None:
            player = " ".join(t.text for t in self._history if t.speaker == "player")
            unsaid = tuple(n for n in EXAMPLE_NAMES if n.casefold() not in player.casefold())
        guard = Guard.for_persona(self.persona, self.options.guard, heard=heard, unsaid=unsaid)
        return ReplyFilter(
            self._stops,
            echo=f"{self.persona.name}:",
            max_sentences=self.options.max_sentences,
            guard=guard,
            avoid=said,
        )

    def _last_said(self) -> list[str]:
        """The NPC's last lines, which a reply may not repeat word for word."""
        return [t.text for t in self._history if t.speaker == "npc"][-_AVOID_REPEATS:]

    def end_turn(self, text: str) -> None:
        """The NPC said ``text`` (nothing, if empty): record it."""
        if text:
            self._history.append(Turn("npc", text))
            if self.memory is not None:
                self.memory.said(text)

    @property
    def player_name(self) -> str:
        """How the player is named in this NPC's transcript."""
        return self._player

    @property
    def needs_calibration(self) -> bool:
        """True until the structured choices of this NPC are calibrated (see
        :func:`npc_ai.dialogue.structured.calibrate`)."""
        return self.structure is not None and not self._calibrated

    def calibration(self) -> CalibrationSteps:
        """The two readings that calibrate this NPC's structured choices, on its own prefix."""
        from npc_ai.dialogue.structured import CalibrationSteps

        if self.structure is None:
            raise InputError(f"{self.persona.name}'s replies are not structured")
        prompt = self.structure.neutral_prompt(self._player, self._prefix)
        return CalibrationSteps(self.structure, prompt)

    def calibrate_with(self, structure: ReplyStructure) -> None:
        """Use ``structure`` (calibrated) for this NPC's choices from now on."""
        self.structure = structure
        self._calibrated = True

    def summary(self) -> SummaryWriter | None:
        """The memory's next summary, when one is due: a job for whoever runs the model.

        The runtime runs it in the background; a synchronous NPC runs it at
        once, after the reply that made it due.
        """
        if self.memory is None or not self.memory.summary_due():
            return None
        prompt, until = self.memory.summary_prompt()
        params = SamplingParams(max_tokens=48, temperature=0.0, stop=("\n",), forbid_empty=True)
        return SummaryWriter(self, prompt, params, until)

    def finish_summary(self, text: str, until: int) -> None:
        """Keep the model's summary (the raw continuation of the summary prompt)."""
        assert self.memory is not None
        line = text.split("\n", 1)[0]
        if Guard(META_PHRASES).find(line) is None:  # a summary that breaks the fiction is dropped
            self.memory.set_summary(line, until=until)

    def check_line(self, text: str) -> str:
        """The player's line as the NPC will hear it; an :class:`InputError` if unusable."""
        if not isinstance(text, str):
            raise InputError(f"the player's line must be a string, got {type(text).__name__}")
        line = sanitize_line(text, limit=self.options.max_player_chars, markers=self._markers)
        if not line:
            raise InputError("the player's line is empty; pass some text to say")
        return line

    def _generator(self) -> Generator:
        if not isinstance(self.generator, Generator):
            raise InputError(
                f"{self.persona.name} is driven by a runtime; talk to it through the runtime"
            )
        return self.generator

    def _cancel_active(self) -> None:
        if self._active is not None:
            self._active.cancel()
            self._active = None

    def _commit(self, reply: Reply) -> None:
        if reply is self._active:
            self._active = None
        self.end_turn(reply.original)
        writer = self.summary() if reply.original else None
        if writer is not None:
            write_summary(writer, self._generator())


def _join_notes(*notes: str) -> str:
    return " ".join(n for n in notes if n)


def new_seed() -> int:
    """A fresh random seed for a reply."""
    return random.SystemRandom().randrange(2**31)
