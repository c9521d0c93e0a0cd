"""Checking a persona map field by field, with errors that say how to fix it.

:func:`npc_ai.dialogue.persona.parse_persona` calls these: each reads one field
of a decoded TOML map, checks its type, length and characters, and either
returns the clean value or raises :class:`~npc_ai.errors.PersonaError` naming
the source, the field, what was wrong and what would have been accepted
(with a "did you mean" for a mistyped key or language code).
"""

from __future__ import annotations

import difflib
import re
import sys
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import fields

from npc_ai.dialogue.persona_parts import (
    MAX_ACTION_ARGS,
    MAX_ACTION_CHOICES,
    MAX_ACTION_VALUES,
    MAX_ACTIONS,
    MAX_EMOTIONS,
    MAX_EXAMPLE_LINE_CHARS,
    MAX_EXAMPLES,
    MAX_FILE_BYTES,
    MAX_ITEM_CHARS,
    MAX_LIST_ITEMS,
    MAX_WORDS_CHARS,
    NO_ACTION,
    Action,
    ActionArg,
    Example,
)
from npc_ai.errors import PersonaError

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

__all__ = [
    "actions",
    "check_keys",
    "describe",
    "emotions",
    "examples",
    "language",
    "paragraph",
    "read_toml",
    "single_line",
    "string_list",
]

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
_EXAMPLE_KEYS = tuple(f.name for f in fields(Example))
_ACTION_KEYS = tuple(f.name for f in fields(Action))


def read_toml(text: str, source: str) -> Mapping[str, object]:
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


def check_keys(data: Mapping[str, object], valid: Sequence[str], prefix: str, source: str) -> None:
    for key in data:
        if not isinstance(key, str):
            raise PersonaError(
                f"key {key!r} is {describe(key)}", source=source, expected="string keys"
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


def describe(value: object) -> str:
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
        raise PersonaError(f"got {describe(value)}", source=source, field=key, expected="a string")
    if required and not value.strip():
        raise PersonaError("is blank", source=source, field=key, expected="a non-empty string")
    return value


def single_line(
    data: Mapping[str, object], key: str, limit: int, source: str, *, required: bool = False
) -> str:
    return _clean_line(_string(data, key, source, required=required), key, limit, source)


def paragraph(data: Mapping[str, object], key: str, limit: int, source: str) -> str:
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
            f"got {describe(value)}{hint}", source=source, field=key, expected=expected
        )
    if len(value) > limit:
        raise PersonaError(
            f"has {len(value)} items", source=source, field=key, expected=f"at most {limit} items"
        )
    return value


def string_list(data: Mapping[str, object], key: str, source: str) -> tuple[str, ...]:
    items = _array(data.get(key, []), key, MAX_LIST_ITEMS, "a list of strings", source)
    result = []
    for i, item in enumerate(items):
        field = f"{key}[{i}]"
        if not isinstance(item, str):
            raise PersonaError(
                f"got {describe(item)}", source=source, field=field, expected="a string"
            )
        text = _clean_line(item, field, MAX_ITEM_CHARS, source)
        if not text:
            raise PersonaError(
                "is an empty string", source=source, field=field, expected="a non-empty string"
            )
        result.append(text)
    return tuple(result)


def examples(data: Mapping[str, object], source: str) -> tuple[Example, ...]:
    expected = "a list of tables with player and npc"
    items = _array(data.get("examples", []), "examples", MAX_EXAMPLES, expected, source)
    result = []
    for i, item in enumerate(items):
        prefix = f"examples[{i}]"
        if not isinstance(item, Mapping):
            raise PersonaError(
                f"got {describe(item)}",
                source=source,
                field=prefix,
                expected="a table with player and npc",
            )
        check_keys(item, _EXAMPLE_KEYS, prefix + ".", source)
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
                    f"got {describe(value)}", source=source, field=field, expected="a string"
                )
            text = _clean_line(value, field, MAX_EXAMPLE_LINE_CHARS, source)
            if not text:
                raise PersonaError(
                    "is blank", source=source, field=field, expected="a non-empty string"
                )
            lines[key] = text
        result.append(Example(**lines))
    return tuple(result)


def language(data: Mapping[str, object], source: str) -> str:
    value = data.get("language", "en")
    if not isinstance(value, str):
        raise PersonaError(
            f"got {describe(value)}", source=source, field="language", expected=_LANGUAGE_EXPECTED
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
            f"got {describe(value)}", source=source, field=field, expected="a string"
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


def emotions(data: Mapping[str, object], source: str) -> tuple[str, ...]:
    items = _array(data.get("emotions", []), "emotions", MAX_EMOTIONS, "a list of strings", source)
    result = tuple(_words(item, f"emotions[{i}]", source) for i, item in enumerate(items))
    _distinct(result, "emotions", source)
    return result


def actions(data: Mapping[str, object], source: str) -> tuple[Action, ...]:
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
                f"got {describe(item)}{hint}", source=source, field=prefix, expected=expected
            )
        check_keys(item, _ACTION_KEYS, prefix + ".", source)
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
                f"got {describe(description)}",
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
            f"got {describe(table)}",
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
