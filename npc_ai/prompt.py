"""Prompts for a base (not instruction-tuned) model: a screenplay transcript.

A base model continues text; it does not follow instructions. So the NPC is
set up the way such a model has seen characters on the web: a short header
that describes the character, a few example exchanges, then the scene so far,
ending with the NPC's role marker (``"Brakka Ironhand:"``) for the model to
continue. One line is one turn, so a line break or the next role marker ends
the reply.

The persona's secrets are never written into the prompt: a model cannot say
what it was never shown.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from npc_ai.persona import Persona

__all__ = [
    "MAX_PLAYER_CHARS",
    "PromptParts",
    "Turn",
    "build_prompt",
    "role_markers",
    "sanitize_line",
]

#: Player lines longer than this are cut (at a word boundary) before use.
MAX_PLAYER_CHARS = 500

# Things shaped like a speaker label: one to three capitalised words followed
# by a colon at the start of the text or of a sentence ("Brakka:", "System:",
# "Game Master:"). In player text they are how a line pretends to be someone
# else's turn or a header, so their colon is neutralised.
_LABEL = re.compile(
    r"(^|[.!?;]\s+|\s-\s|\(|\[)"
    r"((?:[^\W\d_][\w'\-]*)(?:\s+[^\W\d_][\w'\-]*){0,2})"
    r"\s*:"
)
# Markup a chat template might use: <start_of_turn>, [INST], <|system|>, ###.
_MARKUP = re.compile(r"<\|?/?[A-Za-z_][\w|]*\|?>|\[/?[A-Z]{2,}\]|#{2,}")
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class Turn:
    """One line of the conversation: who spoke (``"player"`` or ``"npc"``) and what."""

    speaker: str
    text: str


@dataclass(frozen=True, slots=True)
class PromptParts:
    """A prompt in parts: the fixed persona ``prefix``, the scene's ``lines``, the ``cue``.

    The prefix is the same for every reply of one NPC and each line stays
    the same once said, so a backend can keep what it computed for them and
    read only what is new (see :attr:`segments`).
    """

    prefix: str
    lines: tuple[str, ...]
    cue: str

    @property
    def segments(self) -> tuple[str, ...]:
        """The prompt as the pieces a backend caches: prefix, each line, cue."""
        return (self.prefix, *self.lines, self.cue)

    @property
    def scene(self) -> str:
        return "".join(self.lines) + self.cue

    @property
    def text(self) -> str:
        return self.prefix + self.scene


def sanitize_line(text: str, *, limit: int = MAX_PLAYER_CHARS, markers: Sequence[str] = ()) -> str:
    """Make untrusted text safe to place on one screenplay line.

    Line breaks and control characters become spaces, chat-template markup is
    removed, anything shaped like a speaker label loses its colon (and so
    does each of the scene's own ``markers``, such as ``"Brakka:"``,
    wherever it stands), and the result is cut to ``limit`` characters at a
    word boundary. The words themselves are kept: the NPC still hears what
    was said.
    """
    text = unicodedata.normalize("NFKC", text)
    text = "".join(
        " " if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") else ch for ch in text
    )
    text = _MARKUP.sub(" ", text)
    text = _SPACES.sub(" ", text).strip()
    # Repeat: removing one label can expose another ("A: B: hi").
    for _ in range(4):
        cleaned = _LABEL.sub(lambda m: f"{m.group(1)}{m.group(2)},", text)
        if cleaned == text:
            break
        text = cleaned
    for marker in markers:
        name = re.escape(marker.rstrip(":").strip())
        text = re.sub(rf"(?i)\b({name})\s*:", r"\1,", text)
    if len(text) > limit:
        cut = text[:limit]
        space = cut.rfind(" ")
        text = (cut[:space] if space > limit // 2 else cut).rstrip(" ,;:") + "…"
    return text


def role_markers(persona: Persona, player_name: str) -> tuple[str, ...]:
    """The speaker labels of this scene, as they appear at a line start."""
    names = {persona.name, player_name}
    first = persona.name.split()[0]
    names.add(first)
    return tuple(sorted(f"{n}:" for n in names))


def _sentence(items: Sequence[str]) -> str:
    parts = [item.rstrip(".") for item in items]
    return "; ".join(parts) + "."


def _header(persona: Persona, player_name: str) -> str:
    name = persona.name
    lines = [
        f"A scene from a role-playing game. {player_name} talks with {name}, the {persona.role}.",
        "",
    ]
    if persona.description:
        lines.append(f"About {name}: {persona.description}")
    if persona.traits:
        lines.append(f"Personality: {', '.join(persona.traits)}.")
    if persona.speaking_style:
        lines.append(f"How {name} speaks: {persona.speaking_style}")
    if persona.knowledge:
        lines.append(f"{name} knows: {_sentence(persona.knowledge)}")
    if persona.goals:
        lines.append(f"{name} wants: {_sentence(persona.goals)}")
    lines.append(f"{name} stays in character and answers in one or two short sentences.")
    lines.append("")
    return "\n".join(lines) + "\n"


def _examples(persona: Persona, player_name: str) -> str:
    if not persona.examples:
        return ""
    out = ["Earlier that week:"]
    for ex in persona.examples:
        out.append(f"{player_name}: {ex.player}")
        out.append(f"{persona.name}: {ex.npc}")
    out.append("")
    return "\n".join(out) + "\n"


def build_prompt(
    persona: Persona,
    history: Sequence[Turn],
    *,
    player_name: str = "Player",
    budget_tokens: int | None = None,
    count_tokens: Callable[[str], int] | None = None,
) -> PromptParts:
    """The transcript for the NPC's next line.

    ``history`` ends with the player's newest line. When ``budget_tokens``
    and ``count_tokens`` are given, the oldest turns are dropped until the
    prompt fits: the persona header, the examples and the newest turns stay.
    """
    prefix = _header(persona, player_name) + _examples(persona, player_name) + "Now:\n"
    opening = f"{persona.name}: {persona.greeting}\n" if persona.greeting else ""

    def line(turn: Turn) -> str:
        who = player_name if turn.speaker == "player" else persona.name
        return f"{who}: {turn.text}\n"

    lines = [line(t) for t in history]
    cue = f"{persona.name}:"
    if budget_tokens is not None and count_tokens is not None:
        fixed = count_tokens(prefix) + count_tokens(cue)
        room = budget_tokens - fixed
        kept: list[str] = []
        # Walk back from the newest turn and keep what fits; the newest
        # player line is always kept.
        for text in reversed(lines):
            cost = count_tokens(text)
            if kept and cost > room:
                break
            kept.append(text)
            room -= cost
        dropped = len(lines) - len(kept)
        lines = list(reversed(kept))
        if dropped == 0 and opening and count_tokens(opening) <= room:
            lines.insert(0, opening)
    elif opening:
        lines.insert(0, opening)
    return PromptParts(prefix=prefix, lines=tuple(lines), cue=cue)
