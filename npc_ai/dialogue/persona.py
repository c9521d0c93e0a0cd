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

import difflib
import os
import re
import sys
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields

from npc_ai.errors import PersonaError

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

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

MAX_NAME_CHARS = 40
"""Longest ``name``, in characters."""
MAX_ROLE_CHARS = 100
"""Longest ``role``, in characters."""
MAX_DESCRIPTION_CHARS = 2000
"""Longest ``description``, in characters, after whitespace is collapsed."""
MAX_SPEAKING_STYLE_CHARS = 500
"""Longest ``speaking_style``, in characters, after whitespace is collapsed."""
MAX_GREETING_CHARS = 300
"""Longest ``greeting``, in characters."""
MAX_ITEM_CHARS = 300
"""Longest item of ``traits``, ``knowledge``, ``secrets`` or ``goals``."""
MAX_LIST_ITEMS = 32
"""Most items in each of ``traits``, ``knowledge``, ``secrets`` and ``goals``."""
MAX_EXAMPLES = 16
"""Most ``examples``."""
MAX_EXAMPLE_LINE_CHARS = 300
"""Longest ``player`` or ``npc`` line of an example."""
MAX_FILE_BYTES = 1 << 20
"""Largest persona TOML: bytes for a file, characters for a string."""
MAX_EMOTIONS = 16
"""Most ``emotions``."""
MAX_WORDS_CHARS = 32
"""Longest emotion, action name, argument name or argument value, in characters."""
MAX_ACTIONS = 16
"""Most ``actions`` (``"none"`` is always allowed besides them)."""
MAX_ACTION_ARGS = 3
"""Most arguments of one action."""
MAX_ACTION_VALUES = 16
"""Most allowed values of one argument."""
MAX_ACTION_CHOICES = 256
"""Most ways to act, all actions and argument values combined."""
NO_ACTION = "none"
"""The action every NPC may take: doing nothing. Reserved as an action name."""

_LANGUAGE = re.compile(r"[a-z]{2,3}(?:-(?:[A-Z]{2}|[0-9]{3}))?")
_LANGUAGE_EXPECTED = "a language code such as 'en', 'es' or 'pt-BR'"
_LINE_BREAKS = frozenset("\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029")
# Cs (lone surrogates) can arrive in a Python map and would break encoding later.
_BAD_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})
# An emotion or argument value: one to three words of letters or digits.
_WORDS = re.compile(r"[^\W_]+(?:[ '\-][^\W_]+){0,2}")
_WORDS_EXPECTED = "one to three words of letters or digits, such as 'calm' or 'ill at ease'"
_IDENTIFIER = re.compile(r"[a-z][a-z0-9_]*")
_IDENTIFIER_EXPECTED = "lowercase letters, digits and '_', starting with a letter"
_TOML_POSITION = re.compile(r"\s*\(at (?:line (\d+), column (\d+)|end of document)\)$")


@dataclass(frozen=True, slots=True, kw_only=True)
class Example:
    """One example exchange, shown to the model as a few-shot sample."""

    player: str
    npc: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ActionArg:
    """One argument of an action and the values it may take."""

    name: str
    values: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Action:
    """Something the NPC may do in the game, as part of a structured reply.

    ``name`` is what the game receives; each argument takes one of its
    ``values``. The model sees :meth:`phrase`: ``repair`` with ``item =
    "sword"`` is "repair sword".
    """

    name: str
    description: str = ""
    args: tuple[ActionArg, ...] = ()

    def phrase(self, values: Sequence[str] = ()) -> str:
        """The action in words, with one value per argument: ``"repair sword"``."""
        return " ".join([self.name.replace("_", " "), *values])

    def combinations(self) -> int:
        """How many ways there are to take this action."""
        count = 1
        for arg in self.args:
            count *= len(arg.values)
        return count


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
_EXAMPLE_KEYS = tuple(f.name for f in fields(Example))
_ACTION_KEYS = tuple(f.name for f in fields(Action))


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
        data = _loads(data, source)
    elif not isinstance(data, Mapping):
        raise PersonaError(
            f"got {_describe(data)}", source=source, expected="TOML text or a map of keys"
        )
    _check_keys(data, _KEYS, "", source)

    name = _single_line(data, "name", MAX_NAME_CHARS, source, required=True)
    if ":" in name:
        raise PersonaError(
            f"{name!r} contains ':', which would break the 'Name:' speaker marker",
            source=source,
            field="name",
            expected="a name without ':'",
        )
    persona = Persona(
        name=name,
        role=_single_line(data, "role", MAX_ROLE_CHARS, source, required=True),
        description=_paragraph(data, "description", MAX_DESCRIPTION_CHARS, source),
        traits=_string_list(data, "traits", source),
        speaking_style=_paragraph(data, "speaking_style", MAX_SPEAKING_STYLE_CHARS, source),
        knowledge=_string_list(data, "knowledge", source),
        secrets=_string_list(data, "secrets", source),
        goals=_string_list(data, "goals", source),
        greeting=_single_line(data, "greeting", MAX_GREETING_CHARS, source),
        examples=_examples(data, source),
        language=_language(data, source),
        emotions=_emotions(data, source),
        actions=_actions(data, source),
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


def _loads(text: str, source: str) -> Mapping[str, object]:
    if len(text) > MAX_FILE_BYTES:
        raise PersonaError(
            "TOML text is too long", source=source, expected=f"at most {MAX_FILE_BYTES} characters"
        )
    try:
        data: Mapping[str, object] = tomllib.loads(text)
        return data
    except tomllib.TOMLDecodeError as exc:
        detail = str(exc)
        line = column = None
        where = ""
        match = _TOML_POSITION.search(detail)
        if match:
            detail = detail[: match.start()]
            if match.group(1):
                line, column = int(match.group(1)), int(match.group(2))
                where = f" at line {line}, column {column}"
            else:
                where = " at the end of the file"
        raise PersonaError(
            f"TOML syntax error{where}: {detail}",
            source=source,
            expected="valid TOML; see docs/PERSONA.md for the layout",
            line=line,
            column=column,
        ) from None


def _check_keys(data: Mapping[str, object], valid: Sequence[str], prefix: str, source: str) -> None:
    for key in data:
        if not isinstance(key, str):
            raise PersonaError(
                f"key {key!r} is {_describe(key)}", source=source, expected="string keys"
            )
        if key in valid:
            continue
        close = difflib.get_close_matches(key, valid, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise PersonaError(
            f"unknown key {key!r}{hint}",
            source=source,
            field=prefix + key,
            expected="one of " + ", ".join(valid),
        )


def _describe(value: object) -> str:
    """Name a value's type the way a TOML author thinks of it, with a short preview."""
    if value is None:
        return "nothing (null)"
    kinds: tuple[tuple[type, str], ...] = (
        (bool, "boolean"),  # before int: bool is a subclass of int
        (int, "integer"),
        (float, "float"),
        (str, "string"),
        (list, "array"),
        (tuple, "array"),
        (Mapping, "table"),
    )
    kind = next((name for cls, name in kinds if isinstance(value, cls)), type(value).__name__)
    preview = repr(value)
    if len(preview) > 40:
        preview = preview[:37] + "..."
    return f"{kind} {preview}"


def _clean_line(value: str, field: str, limit: int, source: str) -> str:
    text = value.strip()
    for char in text:
        if char in _LINE_BREAKS:
            raise PersonaError(
                "contains a line break; it becomes one line of the model's script",
                source=source,
                field=field,
                expected="a single line of text",
            )
        if unicodedata.category(char) in _BAD_CATEGORIES:
            raise PersonaError(
                f"contains the control character U+{ord(char):04X}",
                source=source,
                field=field,
                expected="printable text without control characters",
            )
    if len(text) > limit:
        raise PersonaError(
            f"is {len(text)} characters long",
            source=source,
            field=field,
            expected=f"at most {limit} characters",
        )
    return text


def _string(data: Mapping[str, object], key: str, source: str, *, required: bool) -> str:
    if required and key not in data:
        raise PersonaError(
            "is missing; it is required", source=source, field=key, expected="a non-empty string"
        )
    value = data.get(key, "")
    if not isinstance(value, str):
        raise PersonaError(f"got {_describe(value)}", source=source, field=key, expected="a string")
    if required and not value.strip():
        raise PersonaError("is blank", source=source, field=key, expected="a non-empty string")
    return value


def _single_line(
    data: Mapping[str, object], key: str, limit: int, source: str, *, required: bool = False
) -> str:
    return _clean_line(_string(data, key, source, required=required), key, limit, source)


def _paragraph(data: Mapping[str, object], key: str, limit: int, source: str) -> str:
    # Multi-line TOML strings are allowed here for the author's comfort; the
    # prompt wants one line, so every run of whitespace becomes one space.
    text = " ".join(_string(data, key, source, required=False).split())
    return _clean_line(text, key, limit, source)


def _array(value: object, key: str, limit: int, expected: str, source: str) -> Sequence[object]:
    if not isinstance(value, (list, tuple)):
        hint = ""
        if isinstance(value, str):
            hint = "; wrap it in [ ] for a one-item list"
        elif isinstance(value, Mapping) and key in ("examples", "actions"):
            hint = f"; write [[{key}]] with double brackets for each one"
        raise PersonaError(
            f"got {_describe(value)}{hint}", source=source, field=key, expected=expected
        )
    if len(value) > limit:
        raise PersonaError(
            f"has {len(value)} items", source=source, field=key, expected=f"at most {limit} items"
        )
    return value


def _string_list(data: Mapping[str, object], key: str, source: str) -> tuple[str, ...]:
    items = _array(data.get(key, []), key, MAX_LIST_ITEMS, "a list of strings", source)
    result = []
    for i, item in enumerate(items):
        field = f"{key}[{i}]"
        if not isinstance(item, str):
            raise PersonaError(
                f"got {_describe(item)}", source=source, field=field, expected="a string"
            )
        text = _clean_line(item, field, MAX_ITEM_CHARS, source)
        if not text:
            raise PersonaError(
                "is an empty string", source=source, field=field, expected="a non-empty string"
            )
        result.append(text)
    return tuple(result)


def _examples(data: Mapping[str, object], source: str) -> tuple[Example, ...]:
    expected = "a list of tables with player and npc"
    items = _array(data.get("examples", []), "examples", MAX_EXAMPLES, expected, source)
    result = []
    for i, item in enumerate(items):
        prefix = f"examples[{i}]"
        if not isinstance(item, Mapping):
            raise PersonaError(
                f"got {_describe(item)}",
                source=source,
                field=prefix,
                expected="a table with player and npc",
            )
        _check_keys(item, _EXAMPLE_KEYS, prefix + ".", source)
        lines = {}
        for key in _EXAMPLE_KEYS:
            field = f"{prefix}.{key}"
            if key not in item:
                raise PersonaError(
                    "is missing; it is required",
                    source=source,
                    field=field,
                    expected="a non-empty string",
                )
            value = item[key]
            if not isinstance(value, str):
                raise PersonaError(
                    f"got {_describe(value)}", source=source, field=field, expected="a string"
                )
            text = _clean_line(value, field, MAX_EXAMPLE_LINE_CHARS, source)
            if not text:
                raise PersonaError(
                    "is blank", source=source, field=field, expected="a non-empty string"
                )
            lines[key] = text
        result.append(Example(**lines))
    return tuple(result)


def _language(data: Mapping[str, object], source: str) -> str:
    value = data.get("language", "en")
    if not isinstance(value, str):
        raise PersonaError(
            f"got {_describe(value)}", source=source, field="language", expected=_LANGUAGE_EXPECTED
        )
    code = value.strip()
    if _LANGUAGE.fullmatch(code):
        return code
    base, _, region = code.partition("-")
    fixed = f"{base.lower()}-{region.upper()}" if region else base.lower()
    hint = f"; did you mean {fixed!r}?" if _LANGUAGE.fullmatch(fixed) else ""
    raise PersonaError(
        f"{code!r} is not a language code{hint}",
        source=source,
        field="language",
        expected=_LANGUAGE_EXPECTED,
    )


def _words(value: object, field: str, source: str, *, identifier: bool = False) -> str:
    if not isinstance(value, str):
        raise PersonaError(
            f"got {_describe(value)}", source=source, field=field, expected="a string"
        )
    text = _clean_line(value, field, MAX_WORDS_CHARS, source)
    pattern, expected = (
        (_IDENTIFIER, _IDENTIFIER_EXPECTED) if identifier else (_WORDS, _WORDS_EXPECTED)
    )
    if not pattern.fullmatch(text):
        raise PersonaError(
            f"{text!r} is not allowed", source=source, field=field, expected=expected
        )
    return text


def _distinct(items: Sequence[str], field: str, source: str) -> None:
    seen: dict[str, int] = {}
    for i, item in enumerate(items):
        if item.casefold() in seen:
            raise PersonaError(
                f"{item!r} is also item {seen[item.casefold()]}",
                source=source,
                field=f"{field}[{i}]",
                expected="each item once (ignoring case)",
            )
        seen[item.casefold()] = i


def _emotions(data: Mapping[str, object], source: str) -> tuple[str, ...]:
    items = _array(data.get("emotions", []), "emotions", MAX_EMOTIONS, "a list of strings", source)
    result = tuple(_words(item, f"emotions[{i}]", source) for i, item in enumerate(items))
    _distinct(result, "emotions", source)
    return result


def _actions(data: Mapping[str, object], source: str) -> tuple[Action, ...]:
    expected = "a list of tables with name, and optionally description and args"
    items = _array(data.get("actions", []), "actions", MAX_ACTIONS, expected, source)
    result: list[Action] = []
    phrases: dict[str, str] = {}
    total = 1  # doing nothing
    for i, item in enumerate(items):
        prefix = f"actions[{i}]"
        if not isinstance(item, Mapping):
            hint = "; write [[actions]] with double brackets for each action"
            raise PersonaError(
                f"got {_describe(item)}{hint}", source=source, field=prefix, expected=expected
            )
        _check_keys(item, _ACTION_KEYS, prefix + ".", source)
        if "name" not in item:
            raise PersonaError(
                "is missing; it is required",
                source=source,
                field=f"{prefix}.name",
                expected=_IDENTIFIER_EXPECTED,
            )
        name = _words(item["name"], f"{prefix}.name", source, identifier=True)
        if name == NO_ACTION:
            raise PersonaError(
                f"{NO_ACTION!r} is always allowed and cannot be declared",
                source=source,
                field=f"{prefix}.name",
                expected="another name",
            )
        description = item.get("description", "")
        if not isinstance(description, str):
            raise PersonaError(
                f"got {_describe(description)}",
                source=source,
                field=f"{prefix}.description",
                expected="a string",
            )
        description = _clean_line(description, f"{prefix}.description", MAX_ITEM_CHARS, source)
        action = Action(name=name, description=description, args=_args(item, prefix, source))
        total += action.combinations()
        if total > MAX_ACTION_CHOICES:
            raise PersonaError(
                f"the actions so far can be taken in {total} ways",
                source=source,
                field=prefix,
                expected=f"at most {MAX_ACTION_CHOICES} with every argument value combined",
            )
        # Two actions must not read the same to the model: "give_bread" and
        # "give" with "bread" would both be "give bread".
        for values in _value_rows(action) if action.args else [()]:
            phrase = action.phrase(values).casefold()
            if phrase in phrases or phrase == NO_ACTION:
                raise PersonaError(
                    f"reads {action.phrase(values)!r} to the model, as does "
                    f"{phrases.get(phrase, NO_ACTION)}",
                    source=source,
                    field=prefix,
                    expected="actions that read differently with every argument value",
                )
            phrases[phrase] = prefix
        result.append(action)
    return tuple(result)


def _args(item: Mapping[str, object], prefix: str, source: str) -> tuple[ActionArg, ...]:
    field = f"{prefix}.args"
    table = item.get("args", {})
    if not isinstance(table, Mapping):
        raise PersonaError(
            f"got {_describe(table)}",
            source=source,
            field=field,
            expected='a table of allowed values, such as { item = ["sword", "shield"] }',
        )
    if len(table) > MAX_ACTION_ARGS:
        raise PersonaError(
            f"has {len(table)} arguments",
            source=source,
            field=field,
            expected=f"at most {MAX_ACTION_ARGS} arguments",
        )
    args = []
    for key, raw in table.items():
        arg = _words(key, field, source, identifier=True)
        where = f"{field}.{arg}"
        values = _array(raw, where, MAX_ACTION_VALUES, "a list of allowed values", source)
        if not values:
            raise PersonaError(
                "is empty", source=source, field=where, expected="at least one allowed value"
            )
        clean = tuple(_words(v, f"{where}[{i}]", source) for i, v in enumerate(values))
        _distinct(clean, where, source)
        args.append(ActionArg(name=arg, values=clean))
    return tuple(args)


def _value_rows(action: Action) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = [()]
    for arg in action.args:
        rows = [(*row, value) for row in rows for value in arg.values]
    return rows
