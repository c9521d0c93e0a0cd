"""The public face: ``import npc_ai`` is cheap, and gives the names a game needs."""

from __future__ import annotations

import json
import subprocess
import sys

import npc_ai

PUBLIC = [
    "AudioDeviceError",
    "AudioError",
    "BackendError",
    "Caption",
    "CaptionTranslation",
    "DEFAULT_MODEL",
    "DialogueOptions",
    "Event",
    "FileSource",
    "GuardOptions",
    "InputError",
    "Interpreter",
    "LiveSubtitles",
    "LlamaCppGenerator",
    "MemoryFormatError",
    "MemoryOptions",
    "MemoryStore",
    "MemoryStoreError",
    "MicSource",
    "MissingLanguagePairError",
    "ModelError",
    "Npc",
    "NpcAiError",
    "NpcMemory",
    "Persona",
    "PersonaError",
    "Priority",
    "PushSource",
    "Reply",
    "ReplyDelta",
    "ReplyDone",
    "ReplyError",
    "ReplyHandle",
    "Runtime",
    "RuntimeOptions",
    "ScriptedGenerator",
    "StructuredReply",
    "SubtitleOptions",
    "TranslationError",
    "Translator",
    "__version__",
    "load_persona",
    "open_translator",
    "parse_persona",
    "resolve_model",
]


def test_all_is_pinned() -> None:
    assert sorted(npc_ai.__all__) == sorted(PUBLIC)


def test_every_public_name_resolves() -> None:
    for name in npc_ai.__all__:
        assert getattr(npc_ai, name) is not None, name
    assert set(npc_ai.__all__) <= set(dir(npc_ai))


def test_an_unknown_name_is_an_attribute_error() -> None:
    try:
        npc_ai.Nope  # type: ignore[attr-defined]  # noqa: B018
    except AttributeError as exc:
        assert "Nope" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("npc_ai.Nope resolved")


def test_import_is_cheap() -> None:
    """``import npc_ai`` loads none of the heavy libraries, nor any npc_ai submodule."""
    code = (
        "import json, sys; import npc_ai; "
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('npc_ai', 'llama_cpp', 'numpy', 'pygame', 'faster_whisper', 'ctranslate2', "
        "'av', 'msgpack', 'sqlite3', 'socket', 'asyncio'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == ["npc_ai", "npc_ai._lazy"]


def test_a_game_gets_what_it_needs_without_loading_subtitles() -> None:
    code = (
        "import json, sys, npc_ai; npc_ai.Runtime; npc_ai.load_persona; npc_ai.ReplyDelta; "
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('llama_cpp', 'numpy', 'pygame', 'faster_whisper', 'ctranslate2', 'av'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []
