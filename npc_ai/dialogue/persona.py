"""Persona files: who an NPC is, loaded from TOML and checked strictly.

A persona describes one NPC to the dialogue code: a name and role, a short
description, traits, a speaking style, facts it knows, facts it must keep
secret, goals, a greeting and a few example exchanges. The format is
documented in ``docs/PERSONA.md``.

Everything that becomes a line of the model's screenplay prompt (the name, the
role, the greeting, list items, example lines) must be a single line of text:
a line break there would let a persona author, or a bridge client, forge an
extra speaker turn. Every failure raises :class:`~npc_ai.errors.PersonaError`
naming the source, the field and what would have been accepted.

Example::

    persona = load_persona("sample_game/personas/blacksmith.toml")
    persona.name       # 'Brakka Ironhand'
    parse_persona(persona.to_dict(), source=persona.source) == persona  # True
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields

from npc_ai.dialogue import persona_check as check
from npc_ai.dialogue.persona_parts import (
    MAX_ACTION_ARGS,
    MAX_ACTION_CHOICES,
    MAX_ACTION_VALUES,
    MAX_ACTIONS,
    MAX_DESCRIPTION_CHARS,
    MAX_EMOTIONS,
    MAX_EXAMPLE_LINE_CHARS,
    MAX_EXAMPLES,
    MAX_FILE_BYTES,
    MAX_GREETING_CHARS,
    MAX_ITEM_CHARS,
    MAX_LIST_ITEMS,
    MAX_NAME_CHARS,
    MAX_ROLE_CHARS,
    MAX_SPEAKING_STYLE_CHARS,
    MAX_WORDS_CHARS,
    NO_ACTION,
    Action,
    ActionArg,
    Example,
)
from npc_ai.errors import PersonaError

__all__ = [
    "MAX_ACTIONS",
    "MAX_ACTION_ARGS",
    "MAX_ACTION_CHOICES",
    "MAX_ACTION_VALUES",
    "MAX_DESCRIPTION_CHARS",
    "MAX_EMOTIONS",
    "MAX_EXAMPLES",
    "MAX_EXAMPLE_LINE_CHARS",
    "MAX_FILE_BYTES",
    "MAX_GREETING_CHARS",
    "MAX_ITEM_CHARS",
    "MAX_LIST_ITEMS",
    "MAX_NAME_CHARS",
    "MAX_ROLE_CHARS",
    "MAX_SPEAKING_STYLE_CHARS",
    "MAX_WORDS_CHARS",
    "NO_ACTION",
    "Action",
    "ActionArg",
    "Example",
    "Persona",
    "load_persona",
    "parse_persona",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class Persona:
    """Who an NPC is. Build it with :func:`parse_persona` or :func:`load_persona`.

    Constructing it directly skips validation; ``parse_persona(p.to_dict())``
    checks a hand-built one. ``secrets`` are for reply checking only and must
    never be put into a prompt. ``source`` names where it was loaded from.
    """

    name: str
    role: str
    description: str = ""
    traits: tuple[str, ...] = ()
    speaking_style: str = ""
    knowledge: tuple[str, ...] = ()
    secrets: tuple[str, ...] = ()
    goals: tuple[str, ...] = ()
    greeting: str = ""
    examples: tuple[Example, ...] = ()
    language: str = "en"
    #: What the NPC may feel in a structured reply (empty: a default set).
    emotions: tuple[str, ...] = ()
    #: What the NPC may do in a structured reply, besides nothing (``"none"``).
    actions: tuple[Action, ...] = ()
    source: str = "<string>"

    @property
    def short_name(self) -> str:
        """The name the NPC goes by: the first word of :attr:`name` that is not a title.

        "Brakka Ironhand" -> "Brakka", "Captain Aldric Venn" -> "Aldric"; a name that is
        all titles ("The Old Captain") keeps its last word.
        """
        words = self.name.split()
        for word in words:
            if word.casefold().rstrip(".") not in _TITLES:
                return word
        return words[-1]

    def to_dict(self) -> dict[str, object]:
        """A plain TOML-shaped map with every key (``source`` left out).

        ``parse_persona(p.to_dict(), source=p.source) == p``.
        """
        return {
            "name": self.name,
            "role": self.role,
            "language": self.language,
            "description": self.description,
            "traits": list(self.traits),
            "speaking_style": self.speaking_style,
            "greeting": self.greeting,
            "knowledge": list(self.knowledge),
            "secrets": list(self.secrets),
            "goals": list(self.goals),
            "examples": [{"player": e.player, "npc": e.npc} for e in self.examples],
            "emotions": list(self.emotions),
            "actions": [
                {
                    "name": a.name,
                    "description": a.description,
                    "args": {arg.name: list(arg.values) for arg in a.args},
                }
                for a in self.actions
            ],
        }


# Words before a name that are not the name (English and the other kept languages' commonest).
_TITLE_TEXT = (
    "the old young captain sergeant lieutenant commander general sir lady lord dame master "
    "mistress mister mr mrs ms miss madam father mother brother sister uncle aunt granny "
    "grandpa grandma doctor dr professor elder chief king queen prince princess duke "
    "duchess baron baroness count countess saint st don doña señor señora monsieur madame "
    "herr frau capitán capitaine hauptmann"
)
_TITLES = frozenset(_TITLE_TEXT.split())

_KEYS = tuple(f.name for f in fields(Persona) if f.name != "source")


def load_persona(path: str | os.PathLike[str]) -> Persona:
    """Read and check the persona TOML file at ``path``.

    The result's ``source`` is the path. A missing, unreadable, oversized or
    non-UTF-8 file raises :class:`PersonaError`, like a malformed one.
    """
    source = os.fspath(path)
    try:
        with open(source, "rb") as file:
            raw = file.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise PersonaError(
            "file not found", source=source, expected="the path of an existing .toml file"
        ) from None
    except OSError as exc:
        raise PersonaError(
            f"cannot read the file: {exc.strerror or exc}",
            source=source,
            expected="a readable .toml file",
        ) from None
    if len(raw) > MAX_FILE_BYTES:
        raise PersonaError(
            "file is too large", source=source, expected=f"at most {MAX_FILE_BYTES} bytes"
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise PersonaError(
            f"file is not UTF-8: byte 0x{raw[exc.start]:02x} at line {line} cannot be decoded",
            source=source,
            expected="a file saved as UTF-8",
            line=line,
        ) from None
    # Windows editors often save a byte-order mark, which tomllib rejects.
    return parse_persona(text.removeprefix("\ufeff"), source=source)


def parse_persona(data: Mapping[str, object] | str, *, source: str = "<string>") -> Persona:
    """Check a persona given as TOML text or as an already decoded map.

    The bridge sends personas as maps with the same keys as the TOML file.
    ``source`` is used in error messages and kept on the result.
    """
    if isinstance(data, str):
        data = check.read_toml(data, source)
    elif not isinstance(data, Mapping):
        raise PersonaError(
            f"got {check.describe(data)}", source=source, expected="TOML text or a map of keys"
        )
    check.check_keys(data, _KEYS, "", source)

    name = check.single_line(data, "name", MAX_NAME_CHARS, source, required=True)
    if ":" in name:
        raise PersonaError(
            f"{name!r} contains ':', which would break the 'Name:' speaker marker",
            source=source,
            field="name",
            expected="a name without ':'",
        )
    persona = Persona(
        name=name,
        role=check.single_line(data, "role", MAX_ROLE_CHARS, source, required=True),
        description=check.paragraph(data, "description", MAX_DESCRIPTION_CHARS, source),
        traits=check.string_list(data, "traits", source),
        speaking_style=check.paragraph(data, "speaking_style", MAX_SPEAKING_STYLE_CHARS, source),
        knowledge=check.string_list(data, "knowledge", source),
        secrets=check.string_list(data, "secrets", source),
        goals=check.string_list(data, "goals", source),
        greeting=check.single_line(data, "greeting", MAX_GREETING_CHARS, source),
        examples=check.examples(data, source),
        language=check.language(data, source),
        emotions=check.emotions(data, source),
        actions=check.actions(data, source),
        source=source,
    )
    # A fact that is both knowledge (shown to the model) and secret (kept from
    # it) is a contradiction the reply checker would trip on every time.
    known = {fact.casefold(): i for i, fact in enumerate(persona.knowledge)}
    for i, secret in enumerate(persona.secrets):
        if secret.casefold() in known:
            raise PersonaError(
                f"this secret is also knowledge[{known[secret.casefold()]}], "
                "and knowledge is shown to the model",
                source=source,
                field=f"secrets[{i}]",
                expected="each fact in either secrets or knowledge, not both",
            )
    return persona
