"""npc_ai.dialogue.persona: the sample personas, the round trip and every validation rule."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from npc_ai.dialogue import persona as persona_module
from npc_ai.dialogue.persona import (
    MAX_DESCRIPTION_CHARS,
    MAX_EXAMPLE_LINE_CHARS,
    MAX_EXAMPLES,
    MAX_FILE_BYTES,
    MAX_GREETING_CHARS,
    MAX_ITEM_CHARS,
    MAX_LIST_ITEMS,
    MAX_NAME_CHARS,
    MAX_ROLE_CHARS,
    MAX_SPEAKING_STYLE_CHARS,
    Example,
    Persona,
    load_persona,
    parse_persona,
)
from npc_ai.errors import PersonaError

PERSONAS = Path(__file__).resolve().parent.parent / "sample_game" / "personas"
SAMPLES = ("blacksmith", "innkeeper", "guard")
MINIMAL = 'name = "Bo"\nrole = "smith"\n'


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "npc.toml"
    path.write_text(text, encoding="utf-8")
    return path


def failure(tmp_path: Path, text: str, field: str | None, expected: str) -> PersonaError:
    """Load ``text`` from a file, expect a PersonaError naming the file, field and expectation."""
    path = write(tmp_path, text)
    with pytest.raises(PersonaError) as info:
        load_persona(path)
    err = info.value
    assert err.source == str(path)
    assert str(err).startswith(f"{path}: ")
    assert err.field == field
    if field is not None:
        assert f"field '{field}'" in str(err)
    assert err.expected is not None
    assert expected in err.expected
    assert f"(expected {err.expected})" in str(err)
    return err


def test_all_is_pinned() -> None:
    assert sorted(persona_module.__all__) == sorted(
        [
            "Action",
            "ActionArg",
            "Example",
            "Persona",
            "load_persona",
            "parse_persona",
            "MAX_ACTIONS",
            "MAX_ACTION_ARGS",
            "MAX_ACTION_CHOICES",
            "MAX_ACTION_VALUES",
            "MAX_EMOTIONS",
            "MAX_WORDS_CHARS",
            "NO_ACTION",
            "MAX_DESCRIPTION_CHARS",
            "MAX_EXAMPLES",
            "MAX_EXAMPLE_LINE_CHARS",
            "MAX_FILE_BYTES",
            "MAX_GREETING_CHARS",
            "MAX_ITEM_CHARS",
            "MAX_LIST_ITEMS",
            "MAX_NAME_CHARS",
            "MAX_ROLE_CHARS",
            "MAX_SPEAKING_STYLE_CHARS",
        ]
    )


# --- the sample village -------------------------------------------------------------------


@pytest.fixture(scope="module")
def samples() -> dict[str, Persona]:
    return {name: load_persona(PERSONAS / f"{name}.toml") for name in SAMPLES}


def test_samples_load_with_their_path_as_source(samples: dict[str, Persona]) -> None:
    for name, persona in samples.items():
        assert persona.source == str(PERSONAS / f"{name}.toml")
        assert persona.language == "en"


def test_samples_are_distinct(samples: dict[str, Persona]) -> None:
    people = list(samples.values())
    for field in ("name", "role", "description", "speaking_style", "greeting"):
        values = [getattr(p, field) for p in people]
        assert len(set(values)) == len(values), field
    for i, a in enumerate(people):
        for b in people[i + 1 :]:
            assert not set(a.traits) & set(b.traits), (a.name, b.name)
            assert not {e.npc for e in a.examples} & {e.npc for e in b.examples}


def test_samples_are_rich_enough_for_a_small_model(samples: dict[str, Persona]) -> None:
    for persona in samples.values():
        assert 4 <= len(persona.traits) <= 6
        assert 3 <= len(persona.knowledge) <= 5
        assert 1 <= len(persona.secrets) <= 2
        assert 1 <= len(persona.goals) <= 3
        assert persona.greeting and persona.description and persona.speaking_style
        assert 4 <= len(persona.examples) <= 6
        for example in persona.examples:
            assert "\n" not in example.npc
            assert 5 <= len(example.npc.split()) <= 25, example.npc


def test_samples_share_one_village(samples: dict[str, Persona]) -> None:
    surnames = {name: p.name.split()[-1] for name, p in samples.items()}
    for name, persona in samples.items():
        text = " ".join(str(v) for v in persona.to_dict().values())
        assert "Thornvale" in text
        others = [s for other, s in surnames.items() if other != name]
        assert any(s in text for s in others), name


def test_samples_keep_secrets_out_of_knowledge(samples: dict[str, Persona]) -> None:
    for persona in samples.values():
        shown = " ".join(
            [persona.description, persona.greeting, *persona.knowledge]
            + [e.npc for e in persona.examples]
        )
        for secret in persona.secrets:
            assert secret not in shown


# --- round trip and inputs ----------------------------------------------------------------


@pytest.mark.parametrize("name", SAMPLES)
def test_round_trip_through_to_dict(samples: dict[str, Persona], name: str) -> None:
    persona = samples[name]
    data = persona.to_dict()
    assert "source" not in data
    assert parse_persona(data, source=persona.source) == persona


def test_to_dict_is_plain_toml_shape() -> None:
    persona = parse_persona(MINIMAL + '[[examples]]\nplayer = "Hi"\nnpc = "Hmph."\n')
    data = persona.to_dict()
    assert data["examples"] == [{"player": "Hi", "npc": "Hmph."}]
    assert data["traits"] == []
    assert set(data) == {f.name for f in dataclasses.fields(Persona)} - {"source"}


def test_defaults_of_a_minimal_persona() -> None:
    persona = parse_persona(MINIMAL)
    assert persona == Persona(name="Bo", role="smith")
    assert persona.language == "en"
    assert persona.source == "<string>"


def test_mapping_input_like_the_bridge_sends() -> None:
    data = {
        "name": "Bo",
        "role": "smith",
        "traits": ("gruff",),
        "examples": [{"player": "Hi", "npc": "Hmph. Busy."}],
        "language": "pt-BR",
    }
    persona = parse_persona(data, source="bridge:client-1")
    assert persona.traits == ("gruff",)
    assert persona.examples == (Example(player="Hi", npc="Hmph. Busy."),)
    assert persona.language == "pt-BR"
    assert persona.source == "bridge:client-1"


def test_mapping_errors_name_the_given_source() -> None:
    with pytest.raises(PersonaError) as info:
        parse_persona({"name": "Bo", "role": 7}, source="bridge:client-1")
    assert info.value.source == "bridge:client-1"
    assert info.value.field == "role"
    assert str(info.value).startswith("bridge:client-1: field 'role': got integer 7")


def test_input_that_is_neither_text_nor_map() -> None:
    with pytest.raises(PersonaError) as info:
        parse_persona(b"name = 'Bo'")  # type: ignore[arg-type]
    assert info.value.expected == "TOML text or a map of keys"


def test_non_string_map_key() -> None:
    with pytest.raises(PersonaError, match="key 3 is integer 3"):
        parse_persona({"name": "Bo", "role": "smith", 3: "x"})  # type: ignore[dict-item]


def test_strings_are_stripped_and_paragraphs_normalised() -> None:
    persona = parse_persona(
        'name = "  Bo  "\nrole = " smith "\ntraits = [" gruff "]\n'
        'description = """\nBig.\n\n   Loud.\t Tired.\n"""\n'
        "speaking_style = '''Short.\r\nBlunt.'''\n"
    )
    assert persona.name == "Bo"
    assert persona.role == "smith"
    assert persona.traits == ("gruff",)
    assert persona.description == "Big. Loud. Tired."
    assert persona.speaking_style == "Short. Blunt."


def test_persona_is_frozen() -> None:
    persona = parse_persona(MINIMAL)
    with pytest.raises(dataclasses.FrozenInstanceError):
        persona.name = "Other"  # type: ignore[misc]


def test_error_is_a_value_error_with_bridge_data(tmp_path: Path) -> None:
    err = failure(tmp_path, MINIMAL + "traits = 3\n", "traits", "a list of strings")
    assert isinstance(err, ValueError)
    assert err.code == 1200
    assert err.to_dict()["data"]["field"] == "traits"


# --- files --------------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nobody.toml"
    with pytest.raises(PersonaError) as info:
        load_persona(path)
    assert not isinstance(info.value, FileNotFoundError)
    assert info.value.source == str(path)
    assert str(info.value).startswith(f"{path}: file not found")
    assert info.value.expected is not None


def test_directory_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(PersonaError, match="cannot read the file") as info:
        load_persona(tmp_path)
    assert info.value.source == str(tmp_path)


def test_non_utf8_file(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(b'name = "Bo"\nrole = "forgeron \xe0 Thornvale"\n')
    with pytest.raises(PersonaError) as info:
        load_persona(path)
    assert info.value.source == str(path)
    assert "not UTF-8" in str(info.value)
    assert "line 2" in str(info.value)
    assert info.value.expected == "a file saved as UTF-8"


def test_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf" + MINIMAL.encode())
    assert load_persona(path).name == "Bo"


def test_oversized_file(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "# " + "x" * MAX_FILE_BYTES + "\n")
    with pytest.raises(PersonaError, match="too large") as info:
        load_persona(path)
    assert info.value.expected == f"at most {MAX_FILE_BYTES} bytes"


def test_oversized_string() -> None:
    with pytest.raises(PersonaError, match="too long"):
        parse_persona(MINIMAL + "#" * MAX_FILE_BYTES)


def test_toml_syntax_error_gives_line_and_column(tmp_path: Path) -> None:
    err = failure(tmp_path, MINIMAL + 'traits = ["gruff"\ngoals = []\n', None, "valid TOML")
    assert "TOML syntax error at line 4, column 1" in str(err)
    assert (err.data["line"], err.data["column"]) == (4, 1)


def test_toml_syntax_error_at_end_of_file(tmp_path: Path) -> None:
    err = failure(tmp_path, MINIMAL + "greeting = ", None, "valid TOML")
    assert "at the end of the file" in str(err)


# --- keys ---------------------------------------------------------------------------------


def test_unknown_key_suggests_the_closest(tmp_path: Path) -> None:
    err = failure(tmp_path, MINIMAL + 'trait = ["gruff"]\n', "trait", "one of name, role")
    assert "unknown key 'trait'; did you mean 'traits'?" in str(err)


def test_unknown_key_in_an_example_suggests_the_closest(tmp_path: Path) -> None:
    text = MINIMAL + '[[examples]]\nplayer = "Hi"\nnpc = "Yo there."\n'
    text += '[[examples]]\nplyer = "Hi"\nnpc = "Yo there."\n'
    err = failure(tmp_path, text, "examples[1].plyer", "one of player, npc")
    assert "did you mean 'player'?" in str(err)


def test_unknown_key_without_a_close_match_lists_the_keys(tmp_path: Path) -> None:
    err = failure(tmp_path, MINIMAL + "zzz = 1\n", "zzz", "one of name, role")
    assert "did you mean" not in str(err)
    for key in ("traits", "knowledge", "secrets", "examples", "language"):
        assert key in str(err)


@pytest.mark.parametrize("key", ["name", "role"])
def test_required_key_missing(tmp_path: Path, key: str) -> None:
    text = "".join(line + "\n" for line in MINIMAL.splitlines() if not line.startswith(key))
    err = failure(tmp_path, text, key, "a non-empty string")
    assert "is missing" in str(err)


@pytest.mark.parametrize("key", ["name", "role"])
def test_required_key_blank(tmp_path: Path, key: str) -> None:
    text = MINIMAL.replace('"Bo"' if key == "name" else '"smith"', '"   "')
    err = failure(tmp_path, text, key, "a non-empty string")
    assert "is blank" in str(err)


@pytest.mark.parametrize(
    ("line", "field", "expected", "got"),
    [
        ('name = 3\nrole = "smith"', "name", "a string", "got integer 3"),
        ('name = "Bo"\nrole = ["smith"]', "role", "a string", "got array"),
        ("description = true", "description", "a string", "got boolean True"),
        ("speaking_style = 1.5", "speaking_style", "a string", "got float 1.5"),
        ("greeting = 1979-05-27", "greeting", "a string", "got date"),
        ('traits = "gruff"', "traits", "a list of strings", "wrap it in [ ]"),
        ("knowledge = 7", "knowledge", "a list of strings", "got integer 7"),
        ('secrets = ["a", 2]', "secrets[1]", "a string", "got integer 2"),
        ("goals = [[]]", "goals[0]", "a string", "got array"),
        ("language = 1", "language", "a language code such as 'en'", "got integer"),
        ('examples = ["hi"]', "examples[0]", "a table with player and npc", "got string"),
        ('examples = { player = "a", npc = "b" }', "examples", "a list of tables", "[[examples]]"),
        ('examples = [{ player = "a", npc = 5 }]', "examples[0].npc", "a string", "integer 5"),
    ],
)
def test_wrong_types(tmp_path: Path, line: str, field: str, expected: str, got: str) -> None:
    text = line + "\n" if line.startswith("name") else MINIMAL + line + "\n"
    err = failure(tmp_path, text, field, expected)
    assert got in str(err)


@pytest.mark.parametrize("key", ["traits", "knowledge", "secrets", "goals"])
def test_empty_string_in_a_list(tmp_path: Path, key: str) -> None:
    err = failure(
        tmp_path, MINIMAL + f'{key} = ["fine", "  "]\n', f"{key}[1]", "a non-empty string"
    )
    assert "empty string" in str(err)


@pytest.mark.parametrize("key", ["player", "npc"])
def test_example_line_missing_or_blank(tmp_path: Path, key: str) -> None:
    other = "npc" if key == "player" else "player"
    text = MINIMAL + f'[[examples]]\n{other} = "Hello there."\n'
    failure(tmp_path, text, f"examples[0].{key}", "a non-empty string")
    failure(tmp_path, text + f'{key} = ""\n', f"examples[0].{key}", "a non-empty string")


# --- limits -------------------------------------------------------------------------------


def _with(key: str, value: str) -> str:
    if key in ("name", "role"):
        return MINIMAL.replace('"Bo"' if key == "name" else '"smith"', f'"{value}"')
    if key.startswith("examples."):
        line = key.split(".")[1]
        other = "npc" if line == "player" else "player"
        return MINIMAL + f'[[examples]]\n{other} = "Fine."\n{line} = "{value}"\n'
    if key in ("traits", "knowledge", "secrets", "goals"):
        return MINIMAL + f'{key} = ["{value}"]\n'
    return MINIMAL + f'{key} = "{value}"\n'


@pytest.mark.parametrize(
    ("key", "field", "limit"),
    [
        ("name", "name", MAX_NAME_CHARS),
        ("role", "role", MAX_ROLE_CHARS),
        ("description", "description", MAX_DESCRIPTION_CHARS),
        ("speaking_style", "speaking_style", MAX_SPEAKING_STYLE_CHARS),
        ("greeting", "greeting", MAX_GREETING_CHARS),
        ("traits", "traits[0]", MAX_ITEM_CHARS),
        ("knowledge", "knowledge[0]", MAX_ITEM_CHARS),
        ("secrets", "secrets[0]", MAX_ITEM_CHARS),
        ("goals", "goals[0]", MAX_ITEM_CHARS),
        ("examples.player", "examples[0].player", MAX_EXAMPLE_LINE_CHARS),
        ("examples.npc", "examples[0].npc", MAX_EXAMPLE_LINE_CHARS),
    ],
)
def test_length_limits(tmp_path: Path, key: str, field: str, limit: int) -> None:
    load_persona(write(tmp_path, _with(key, "a" * limit)))
    err = failure(tmp_path, _with(key, "a" * (limit + 1)), field, f"at most {limit} characters")
    assert f"is {limit + 1} characters long" in str(err)


@pytest.mark.parametrize("key", ["traits", "knowledge", "secrets", "goals"])
def test_list_item_count_limit(tmp_path: Path, key: str) -> None:
    items = ", ".join(f'"fact {i}"' for i in range(MAX_LIST_ITEMS + 1))
    err = failure(
        tmp_path, MINIMAL + f"{key} = [{items}]\n", key, f"at most {MAX_LIST_ITEMS} items"
    )
    assert f"has {MAX_LIST_ITEMS + 1} items" in str(err)


def test_example_count_limit(tmp_path: Path) -> None:
    block = '[[examples]]\nplayer = "Hi"\nnpc = "Hmph."\n'
    assert len(parse_persona(MINIMAL + block * MAX_EXAMPLES).examples) == MAX_EXAMPLES
    failure(tmp_path, MINIMAL + block * (MAX_EXAMPLES + 1), "examples", f"at most {MAX_EXAMPLES}")


# --- single lines and control characters --------------------------------------------------


def test_name_with_a_colon(tmp_path: Path) -> None:
    err = failure(tmp_path, _with("name", "Bo: the Smith"), "name", "a name without ':'")
    assert "speaker marker" in str(err)


@pytest.mark.parametrize(
    ("key", "field"),
    [
        ("name", "name"),
        ("role", "role"),
        ("greeting", "greeting"),
        ("traits", "traits[0]"),
        ("knowledge", "knowledge[0]"),
        ("secrets", "secrets[0]"),
        ("goals", "goals[0]"),
        ("examples.player", "examples[0].player"),
        ("examples.npc", "examples[0].npc"),
    ],
)
@pytest.mark.parametrize("newline", ["\\n", "\\r", "\\u2028"])
def test_single_line_fields_reject_line_breaks(
    tmp_path: Path, key: str, field: str, newline: str
) -> None:
    err = failure(tmp_path, _with(key, f"one{newline}Player: two"), field, "a single line")
    assert "line break" in str(err)


@pytest.mark.parametrize(
    ("key", "field"),
    [("name", "name"), ("greeting", "greeting"), ("traits", "traits[0]")],
)
@pytest.mark.parametrize("char", ["\\t", "\\u0007", "\\u001b"])
def test_single_line_fields_reject_control_characters(
    tmp_path: Path, key: str, field: str, char: str
) -> None:
    err = failure(tmp_path, _with(key, f"one{char}two"), field, "without control characters")
    assert "control character U+00" in str(err)


@pytest.mark.parametrize("key", ["description", "speaking_style"])
def test_paragraph_fields_allow_line_breaks_but_not_control_characters(
    tmp_path: Path, key: str
) -> None:
    persona = load_persona(write(tmp_path, _with(key, "one\\ntwo\\r\\nthree")))
    assert getattr(persona, key) == "one two three"
    failure(tmp_path, _with(key, "one\\u0007two"), key, "without control characters")


def test_map_input_is_held_to_the_same_rules() -> None:
    with pytest.raises(PersonaError) as info:
        parse_persona(
            {"name": "Bo", "role": "smith", "examples": [{"player": "Hi", "npc": "Yo\nBo: hi"}]}
        )
    assert info.value.field == "examples[0].npc"
    with pytest.raises(PersonaError, match=r"U\+D800"):
        parse_persona({"name": "Bo\ud800", "role": "smith"})


# --- language -----------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["en", "es", "haw", "pt-BR", "es-419"])
def test_valid_language_codes(code: str) -> None:
    assert parse_persona(MINIMAL + f'language = "{code}"\n').language == code


@pytest.mark.parametrize(
    ("code", "hint"),
    [
        ("english", None),
        ("", None),
        ("pt_BR", None),
        ("EN", "did you mean 'en'?"),
        ("pt-br", "did you mean 'pt-BR'?"),
    ],
)
def test_invalid_language_codes(tmp_path: Path, code: str, hint: str | None) -> None:
    err = failure(tmp_path, MINIMAL + f'language = "{code}"\n', "language", "'pt-BR'")
    assert "not a language code" in str(err)
    if hint:
        assert hint in str(err)
    else:
        assert "did you mean" not in str(err)


# --- secrets ------------------------------------------------------------------------------


def test_a_secret_cannot_also_be_knowledge(tmp_path: Path) -> None:
    text = MINIMAL + 'knowledge = ["The mine is shut.", "Ore is scarce."]\n'
    text += 'secrets = ["ore is SCARCE."]\n'
    err = failure(tmp_path, text, "secrets[0]", "either secrets or knowledge")
    assert "knowledge[1]" in str(err)


@pytest.mark.parametrize(
    ("name", "short"),
    [
        ("Brakka Ironhand", "Brakka"),
        ("Captain Aldric Venn", "Aldric"),
        ("Old Mother Hubbard", "Hubbard"),
        ("Sir Dr. Grey", "Grey"),
        ("The Old Captain", "Captain"),
        ("Marta", "Marta"),
    ],
)
def test_short_name_skips_titles(name: str, short: str) -> None:
    assert parse_persona({"name": name, "role": "villager"}).short_name == short
