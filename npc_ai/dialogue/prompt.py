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

from npc_ai.dialogue.persona import Persona

__all__ = [
    "EXAMPLE_NAMES",
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
_SCENE_MARK = "Now:\n"

#: The names in the worked example of a memory note (a mule and a home town). They
#: appear nowhere else, so a reply that says one copied the example: the guard blocks
#: them unless the player said them (:meth:`npc_ai.dialogue.npc.Npc.reply_filter`).
EXAMPLE_NAMES = ("Clover", "Dunmere")


@dataclass(frozen=True, slots=True)
class Turn:
    """One line of the conversation: who spoke (``"player"`` or ``"npc"``) and what.

    A player's turn may carry a ``note``: what the NPC recalled when it heard
    the line (a stage direction from :mod:`npc_ai.memory`). It stands right
    after the line, before the NPC's answer, and stays there in later
    prompts, so a cached prompt never changes under the model.
    """

    speaker: str
    text: str
    note: str = ""


@dataclass(frozen=True, slots=True)
class PromptParts:
    """A prompt in cacheable parts: the persona ``prefix``, then the scene's ``chunks``.

    The prefix (header, examples, greeting) is the same for every reply of
    one NPC. The scene is cut right after each of the NPC's speaker labels,
    so each chunk is what one turn adds: the NPC's last reply, the player's
    new line and the label that cues the next reply. Earlier chunks never
    change, so a backend keeps what it computed for them and reads only the
    last one (see :attr:`segments`).
    """

    prefix: str
    chunks: tuple[str, ...]

    @property
    def segments(self) -> tuple[str, ...]:
        """The prompt as the pieces a backend caches: prefix, then each chunk."""
        return (self.prefix, *self.chunks)

    @property
    def scene(self) -> str:
        return "".join(self.chunks)

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
    names.add(persona.name.split()[0])
    names.add(persona.short_name)
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


def _examples(persona: Persona, player_name: str, *, notes: bool = False) -> str:
    out = ["Earlier that week:"]
    # A small model answers "who are you?" with whatever name is nearest in
    # the prompt (often another character's from the knowledge); one
    # exchange where the NPC gives its own name and trade fixes most of that
    # (measured with tools/eval_dialogue.py).
    out.append(f"{player_name}: And who are you?")
    out.append(f"{persona.name}: {persona.name}, the {persona.role}.")
    for ex in persona.examples:
        out.append(f"{player_name}: {ex.player}")
        out.append(f"{persona.name}: {ex.npc}")
    if notes:
        # Show once how a memory note is used: the answer comes from it.
        first = persona.short_name
        mule, town = EXAMPLE_NAMES
        out.append(f"{player_name}: What is my mule called, again?")
        out.append(f"({first} remembers: {player_name}'s mule is called {mule}.)")
        out.append(f"{persona.name}: {mule}. Your mule is {mule}.")
        out.append(f"{player_name}: And where did I say I was born?")
        out.append(f"({first} remembers: {player_name} comes from {town}.)")
        out.append(f"{persona.name}: {town}, you said.")
    out.append("")
    return "\n".join(out) + "\n"


def build_prompt(
    persona: Persona,
    history: Sequence[Turn],
    *,
    player_name: str = "Player",
    budget_tokens: int | None = None,
    count_tokens: Callable[[str], int] | None = None,
    notes_in_reply: bool = False,
    memory_notes: bool = False,
    drop_step: int = 16,
) -> PromptParts:
    """The transcript for the NPC's next line.

    ``history`` ends with the player's newest line. When ``budget_tokens``
    and ``count_tokens`` are given, the oldest turns are dropped until the
    prompt fits: the persona header, the examples and the newest turns stay.
    Turns are dropped ``drop_step`` at a time (counted from the start of
    ``history``), so that the prompt's start stays the same over several replies.
    """
    prefix = (
        _header(persona, player_name)
        + _examples(persona, player_name, notes=memory_notes)
        + _SCENE_MARK
    )
    if persona.greeting:
        prefix += f"{persona.name}: {persona.greeting}\n"
    label = f"{persona.name}:"
    lines: list[tuple[str, str]] = []
    pending = ""  # with notes_in_reply: the note that opens the NPC's next line
    for t in history:
        if t.speaker == "player":
            note = f"{t.note}\n" if t.note and not notes_in_reply else ""
            lines.append((f"{player_name}: {t.text}\n{note}", ""))
            pending = t.note if notes_in_reply else ""
        else:
            lines.append((label + (f" {pending}" if pending else ""), f" {t.text}\n"))
            pending = ""
    if budget_tokens is not None and count_tokens is not None:
        room = budget_tokens - count_tokens(prefix) - count_tokens(label + f" {pending}")
        costs = [count_tokens(head + rest) for head, rest in lines]
        # The fewest oldest turns to leave out so that the rest fits; the newest
        # player line is always kept.
        drop, total = 0, sum(costs)
        while drop < len(lines) - 1 and total > room:
            total -= costs[drop]
            drop += 1
        if drop and drop_step > 1:
            # Leave out turns a block at a time: the scene then starts at the same turn
            # for several replies, and the backend's cached prompt stays valid. Dropping
            # one turn per reply changed the scene's start every time, and every reply
            # of a long conversation read the whole scene again (seconds, not ms).
            # A room too small for a block keeps dropping one turn at a time.
            block = -(-drop // drop_step) * drop_step
            if len(lines) - block >= drop_step:
                drop = block
        lines = lines[drop:]
    # Cut after each NPC label: a chunk ends where the model's turn begins.
    chunks: list[str] = []
    current = ""
    for head, rest in lines:
        current += head
        if rest:
            chunks.append(current)
            current = rest
    chunks.append(current + label + (f" {pending}" if pending else ""))
    return PromptParts(prefix=prefix, chunks=tuple(chunks))
