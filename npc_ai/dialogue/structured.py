"""Structured replies: what the NPC says, how it feels and what it does, always valid.

The line is generated freely, as any reply. Then a stage direction is
written after it in the screenplay, and the model continues it twice with a
*choice* (:attr:`~npc_ai.generation.SamplingParams.choices`)::

    Brakka Ironhand: Hmph. Leave it on the anvil. Back by sundown.
    [Brakka Ironhand feels| annoyed.| Action:| repair sword]
                          ^ choice 1        ^ choice 2

Each choice can only end on one of the persona's allowed strings (its
emotions; its actions with every allowed argument value, and ``none``), so
the result is valid by construction, and it costs one model step per point
where the allowed strings part ways: usually one for the emotion and one or
two for the action. No grammar, no sampling over the whole vocabulary.

Synchronously, on any :class:`~npc_ai.generation.Generator`::

    # Once per NPC: calibrated, a small model stops picking the same few
    # words whatever was said (see docs/BENCHMARKS.md, "Structured replies").
    structure = calibrate(model, ReplyStructure.for_persona(persona), prefix=npc.prefix)
    reply = npc.say("Can you fix my sword?")
    line = reply.read()
    result = choose(model, reply.prompt.segments, line, structure)
    result.emotion, result.action, result.args   # 'annoyed', 'repair', {'item': 'sword'}

A driver that runs its own jobs (the game-loop runtime) walks the same two
steps with :class:`StructureSteps`, which does no I/O::

    steps = structure.steps(prompt.segments, line)
    while not steps.done:
        segments, params = steps.job()          # submit as an engine Job
        steps.take(text_of_the_finished_job)    # the chosen string
    steps.result                                # the StructuredReply
"""

from __future__ import annotations

import copy
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Protocol

from npc_ai.dialogue.persona import NO_ACTION, Action, Persona
from npc_ai.dialogue.prompt import Turn, build_prompt
from npc_ai.errors import BackendError
from npc_ai.generation import Generator, SamplingParams

__all__ = [
    "DEFAULT_EMOTIONS",
    "CalibrationSteps",
    "ChoiceScorer",
    "ReplyStructure",
    "StructureOptions",
    "StructureSteps",
    "StructuredReply",
    "calibrate",
    "choose",
    "persona_hint",
]

log = logging.getLogger(__name__)

#: Cue words of common emotions, for :attr:`StructureOptions.vote` (search terms: any
#: form of the word). An emotion a persona names that is not here gets no vote.
EMOTION_CUES: Mapping[str, str] = MappingProxyType(
    {
        "sad": "sorry died dead death lost grief miss mourn poor tears",
        "worried": "worry worried afraid hope careful trouble strange spooky like",
        "afraid": "afraid scared fear run hide help",
        "angry": "out fool damn enough how dare",
        "annoyed": "out tongue fool enough again slag cheap",
        "amused": "ha haha joke laugh funny",
        "cheerful": "love dear welcome lovely wonderful",
        "happy": "glad love wonderful welcome",
        "proud": "finest best kingdom never crack",
        "suspicious": "who why strangers",
        "alarmed": "arms attack stand back beast danger",
        "stern": "halt no one ordinance cell further shut",
        "satisfied": "order pass welcome",
        "tired": "tired dawn lead worn long",
        "curious": "tell everything who really",
        "surprised": "really what oh",
        "calm": "",
    }
)

#: What both sides say in the content-free exchange of :func:`calibrate`.
NEUTRAL_LINE = "..."

#: The emotions of a persona that names none.
DEFAULT_EMOTIONS = ("calm", "happy", "sad", "angry", "afraid", "surprised")

# Every choice ends with its terminator, so no allowed string is the start
# of another ("calm" and "calmer" become " calm." and " calmer.").
_EMOTION_END = "."
_ACTION_END = "]"


@dataclass(frozen=True, slots=True, kw_only=True)
class StructuredReply:
    """One reply as the game uses it: the line, an emotion and an action.

    ``emotion`` is one of the persona's emotions (or of
    :data:`DEFAULT_EMOTIONS`), ``action`` one of its action names or
    ``"none"``, and ``args`` gives a value of each of that action's
    arguments, from its allowed values.
    """

    say: str
    emotion: str
    action: str = NO_ACTION
    args: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def __hash__(self) -> int:
        return hash((self.say, self.emotion, self.action, tuple(sorted(self.args.items()))))

    def to_dict(self) -> dict[str, object]:
        """A plain map, the shape the bridge sends."""
        return {
            "say": self.say,
            "emotion": self.emotion,
            "action": self.action,
            "args": dict(self.args),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class StructureOptions:
    """How the stage direction is written. Build once at the edge."""

    #: List the allowed emotions and actions inside the stage direction, right
    #: before each choice. Off by default: measured in docs/BENCHMARKS.md, it
    #: costs prompt tokens on every reply; see there for what it changes.
    hint: bool = False
    #: Let the words vote: each allowed action gets this much added to its score for every
    #: word it shares with the player's line or the reply ("Can you fix my sword?" and
    #: ``repair sword``), each emotion for every cue word of it in the reply
    #: (:data:`EMOTION_CUES`: "sorry" for sad, "ha" for amused). 0 = off. 2 was chosen on
    #: the development half of tools/structured_labels.py (2 and 4 tied; the smaller
    #: kept); on the held-out half emotions went from 38% to 75% plausible and actions from
    #: 33% to 50% right, calibrated both (tools/eval_choices.py).
    vote: float = 2.0


class ReplyStructure:
    """The allowed emotions and actions of one persona, as choice strings.

    Build it once per NPC with :meth:`for_persona`; it holds no model and is
    safe to share between threads.
    """

    def __init__(self, persona: Persona, options: StructureOptions | None = None) -> None:
        self.persona = persona
        self.options = options or StructureOptions()
        self.emotions = persona.emotions or DEFAULT_EMOTIONS
        self._emotion_of = {f" {e}{_EMOTION_END}": e for e in self.emotions}
        actions: dict[str, tuple[str, tuple[tuple[str, str], ...]]] = {}
        for action in persona.actions:
            for values in _value_rows([a.values for a in action.args]):
                phrase = f" {action.phrase(values)}{_ACTION_END}"
                actions[phrase] = (action.name, tuple(zip(_names(action), values, strict=True)))
        actions[f" {NO_ACTION}{_ACTION_END}"] = (NO_ACTION, ())
        self._action_of = actions
        self._emotion_cues = {
            e: frozenset(_terms(f"{e} {EMOTION_CUES.get(e, '')}")) for e in self.emotions
        }
        self._action_terms = [
            frozenset(_terms(phrase.rstrip(_ACTION_END))) - {NO_ACTION} for phrase in actions
        ]
        #: Sampling of the emotion choice and of the action choice.
        self.emotion_params = SamplingParams(choices=tuple(self._emotion_of))
        self.action_params = SamplingParams(choices=tuple(actions))

    @classmethod
    def for_persona(
        cls, persona: Persona, options: StructureOptions | None = None
    ) -> ReplyStructure:
        """The structure of ``persona``'s replies (its emotions, or the default set)."""
        return cls(persona, options)

    def emotion_job(
        self, prompt: Sequence[str], say: str
    ) -> tuple[tuple[str, ...], SamplingParams]:
        """The prompt segments and sampling of the emotion choice after ``say``.

        ``prompt`` is the line's own prompt (``PromptParts.segments``), which
        ends with the NPC's speaker label; its segments stay cached.
        """
        name = self.persona.name
        hint = ""
        if self.options.hint:
            hint = f"{name} can feel {_listing(self.emotions)}. "
        params = self.emotion_params
        if self.options.vote:
            said = set(_terms(say))
            votes = [len(said & self._emotion_cues[e]) for e in self.emotions]
            params = _with_votes(params, votes, self.options.vote)
        return (*prompt, f" {say}\n[{hint}{name} feels"), params

    def action_job(
        self, prompt: Sequence[str], say: str, emotion: str
    ) -> tuple[tuple[str, ...], SamplingParams]:
        """The prompt segments and sampling of the action choice.

        ``emotion`` is what the emotion choice returned (such as
        ``" annoyed."``); the emotion job's segments stay cached.
        """
        segments, _ = self.emotion_job(prompt, say)
        hint = ""
        if self.options.hint:
            hint = f" {self.persona.name} can {_listing(self.action_phrases())}."
        params = self.action_params
        if self.options.vote:
            # The player's line is in the prompt's last segment, with the NPC's label.
            heard = set(_terms(f"{prompt[-1] if prompt else ''} {say}"))
            votes = [len(heard & terms) for terms in self._action_terms]
            params = _with_votes(params, votes, self.options.vote)
        return (*segments, f"{emotion}{hint} Action:"), params

    def steps(self, prompt: Sequence[str], say: str) -> StructureSteps:
        """The two choices of the line ``say`` that ``prompt`` led to, one at a time."""
        return StructureSteps(self, tuple(prompt), say)

    def calibrated(
        self, emotion_scores: Sequence[float], action_scores: Sequence[float]
    ) -> ReplyStructure:
        """A copy whose choices subtract these scores, measured after a
        content-free exchange (see :func:`calibrate`); empty scores leave a
        choice as it is."""
        other = copy.copy(self)
        if emotion_scores:
            bias = tuple(-float(s) for s in emotion_scores)
            other.emotion_params = replace(self.emotion_params, choice_bias=bias)
        if action_scores:
            bias = tuple(-float(s) for s in action_scores)
            other.action_params = replace(self.action_params, choice_bias=bias)
        return other

    def neutral_prompt(
        self, player_name: str = "Player", prefix: str | None = None
    ) -> tuple[str, ...]:
        """The prompt of a content-free exchange ("..." from the player), as
        :func:`npc_ai.dialogue.prompt.build_prompt` writes it; ``prefix`` replaces the
        persona's part (pass ``Npc.prefix`` so that the cached one is reused)."""
        parts = build_prompt(self.persona, [Turn("player", NEUTRAL_LINE)], player_name=player_name)
        return (parts.prefix if prefix is None else prefix, *parts.chunks)

    def action_phrases(self) -> list[str]:
        """Each action as the model reads it, with its allowed values in brackets."""
        out = []
        for action in self.persona.actions:
            parts = [action.name.replace("_", " ")]
            parts += [f"({' or '.join(arg.values)})" for arg in action.args]
            out.append(" ".join(parts))
        return [*out, "do nothing"]

    def parse(self, say: str, emotion: str, action: str) -> StructuredReply:
        """The record for the two chosen strings; a :class:`BackendError` if
        either is not one of the allowed choices (a broken backend)."""
        feeling = self._emotion_of.get(emotion)
        if feeling is None:
            raise _not_allowed(emotion, self._emotion_of, self.persona.name)
        act = self._action_of.get(action)
        if act is None:
            raise _not_allowed(action, self._action_of, self.persona.name)
        name, args = act
        return StructuredReply(
            say=say, emotion=feeling, action=name, args=MappingProxyType(dict(args))
        )


class StructureSteps:
    """The emotion choice, then the action choice, of one line: no I/O.

    :meth:`job` gives the next choice to run; :meth:`take` records what it
    chose. After two steps :attr:`result` is the record; a string that is not
    an allowed choice raises :class:`BackendError` from :meth:`take`.
    """

    def __init__(self, structure: ReplyStructure, prompt: tuple[str, ...], say: str) -> None:
        self.structure = structure
        self.prompt = prompt
        self.say = say
        self._emotion: str | None = None
        self._result: StructuredReply | None = None

    @property
    def done(self) -> bool:
        return self._result is not None

    @property
    def result(self) -> StructuredReply:
        if self._result is None:
            raise BackendError("the structured reply is not chosen yet")
        return self._result

    def job(self) -> tuple[tuple[str, ...], SamplingParams]:
        """The prompt segments and sampling of the next choice."""
        if self._result is not None:
            raise BackendError("the structured reply is already chosen")
        if self._emotion is None:
            return self.structure.emotion_job(self.prompt, self.say)
        return self.structure.action_job(self.prompt, self.say, self._emotion)

    def take(self, chosen: str) -> None:
        """What the choice from :meth:`job` returned."""
        if self._result is not None:
            raise BackendError("the structured reply is already chosen")
        if self._emotion is None:
            if chosen not in self.structure.emotion_params.choices:
                raise _not_allowed(
                    chosen, self.structure.emotion_params.choices, self.structure.persona.name
                )
            self._emotion = chosen
        else:
            self._result = self.structure.parse(self.say, self._emotion, chosen)


def choose(
    generator: Generator, prompt: Sequence[str], say: str, structure: ReplyStructure
) -> StructuredReply:
    """Pick the emotion, then the action, of the line ``say`` that ``prompt`` led to."""
    steps = structure.steps(prompt, say)
    while not steps.done:
        segments, params = steps.job()
        steps.take("".join(generator.generate(segments, params)))
    result = steps.result
    log.debug("%s: %s, %s %s", structure.persona.name, result.emotion, result.action, result.args)
    return result


class ChoiceScorer(Protocol):
    """A backend that reports the choices' scores (LlamaCppGenerator, ScriptedGenerator)."""

    def choice_scores(self, prompt: Sequence[str], choices: Sequence[str]) -> tuple[float, ...]:
        """Each choice's logit where the choices first part ways after ``prompt``."""
        ...


class CalibrationSteps:
    """The two readings of :func:`calibrate`, one at a time: no I/O.

    :meth:`job` gives the prompt segments and choices to score; :meth:`take`
    records each choice's score there (empty: the backend reports none, and
    that choice stays uncalibrated). After the emotion and the action reading,
    :attr:`result` is the calibrated structure.
    """

    def __init__(self, structure: ReplyStructure, prompt: tuple[str, ...]) -> None:
        self.structure = structure
        self.prompt = prompt
        self._emotions: tuple[float, ...] | None = None
        self._result: ReplyStructure | None = None

    @property
    def done(self) -> bool:
        return self._result is not None

    @property
    def result(self) -> ReplyStructure:
        if self._result is None:
            raise BackendError("the calibration is not measured yet")
        return self._result

    def job(self) -> tuple[tuple[str, ...], SamplingParams]:
        """The segments and the choices (``params.choices``) of the next reading."""
        structure = self.structure
        if self._emotions is None:
            segments, params = structure.emotion_job(self.prompt, NEUTRAL_LINE)
        else:
            # The action's context holds an emotion: the one the neutral exchange picks.
            choices = structure.emotion_params.choices
            scores = self._emotions
            best = max(range(len(scores)), key=scores.__getitem__) if scores else 0
            segments, params = structure.action_job(self.prompt, NEUTRAL_LINE, choices[best])
        return segments, SamplingParams(choices=params.choices)

    def take(self, scores: Sequence[float]) -> None:
        """Each choice's score from the reading of :meth:`job`."""
        if self._result is not None:
            raise BackendError("the calibration is already measured")
        if self._emotions is None:
            self._emotions = tuple(scores)
        else:
            self._result = self.structure.calibrated(self._emotions, tuple(scores))


def calibrate(
    scorer: ChoiceScorer,
    structure: ReplyStructure,
    *,
    player_name: str = "Player",
    prefix: str | None = None,
) -> ReplyStructure:
    """``structure`` calibrated for its persona: measured once per NPC, then shared.

    A small model prefers some words whatever was said (Brakka always feels
    "tired"). Each choice's score after a content-free exchange (the player
    says "...", the NPC answers "...") is subtracted from its score in play,
    so the choice follows what changed: contextual calibration (Zhao et al.,
    2021, "Calibrate Before Use"). Costs two model readings, once. ``prefix``
    is the persona's part of the NPC's prompts, if not the default one.
    """
    steps = CalibrationSteps(structure, structure.neutral_prompt(player_name, prefix))
    while not steps.done:
        segments, params = steps.job()
        steps.take(scorer.choice_scores(segments, params.choices))
    return steps.result


def persona_hint(persona: Persona) -> str:
    """Header lines that list what ``persona`` may feel and do (empty if nothing
    is declared), for a prompt builder to put into the persona's header."""
    if not persona.emotions and not persona.actions:
        return ""
    structure = ReplyStructure(persona)
    name = persona.name
    lines = [f"{name} can feel {_listing(structure.emotions)}."]
    lines.append(f"{name} can {_listing(structure.action_phrases())}.")
    return "\n".join(lines) + "\n"


def _not_allowed(chosen: str, allowed: Iterable[str], name: str) -> BackendError:
    listed = ", ".join(map(repr, allowed))
    return BackendError(
        f"the backend chose {chosen!r}, which is not one of {name}'s allowed choices ({listed})",
        choice=chosen,
    )


_STOP_TEXT = "a an the to of and or my your i you it is are be in on at for me"
_STOP = frozenset(_STOP_TEXT.split())


def _terms(text: str) -> list[str]:
    """Words to compare for a vote: case-folded, common words out, a plural's s off."""
    words = re.findall(r"[a-z]+", text.casefold())
    return [
        w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w
        for w in words
        if w not in _STOP
    ]


def _with_votes(params: SamplingParams, votes: Sequence[int], weight: float) -> SamplingParams:
    """``params`` with ``weight`` times each choice's votes added to its bias."""
    if not any(votes):
        return params
    base = params.choice_bias or (0.0,) * len(votes)
    return replace(
        params, choice_bias=tuple(b + weight * v for b, v in zip(base, votes, strict=True))
    )


def _listing(items: Sequence[str]) -> str:
    return ", ".join(items[:-1]) + f" or {items[-1]}" if len(items) > 1 else items[0]


def _names(action: Action) -> list[str]:
    return [arg.name for arg in action.args]


def _value_rows(columns: Iterable[Sequence[str]]) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = [()]
    for values in columns:
        rows = [(*row, value) for row in rows for value in values]
    return rows
