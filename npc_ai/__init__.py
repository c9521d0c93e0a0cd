"""npc-ai: local NPC dialogue, memory, live subtitles and translation for games.

The names a game needs are here, loaded on first use, so ``import npc_ai``
costs next to nothing (no model library, no pygame, no numpy)::

    import time

    import npc_ai

    with npc_ai.Runtime.from_default() as npcs:      # one model, many NPCs
        smith = npcs.add_npc(npc_ai.load_persona("sample_game/personas/blacksmith.toml"))
        reply = npcs.say(smith, "Can you mend my sword?")
        while not reply.done:                        # the game's frame loop
            for event in npcs.update():              # within its budget, never waiting
                if isinstance(event, npc_ai.ReplyDelta):
                    print(event.text, end="", flush=True)
            time.sleep(1 / 60)                       # the rest of the frame

The packages behind them: :mod:`npc_ai.dialogue` (personas, the reply turn,
structured replies, the guard), :mod:`npc_ai.runtime` (the game loop),
:mod:`npc_ai.memory`, :mod:`npc_ai.subtitles`, :mod:`npc_ai.translation`,
:mod:`npc_ai.models`, :mod:`npc_ai.backends` (llama.cpp, faster-whisper,
translators, fakes) and :mod:`npc_ai.pygame` (the optional pygame kit).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from npc_ai._lazy import lazy_exports

__version__ = "0.1.0"

# Public name -> the module that defines it.
_EXPORTS: dict[str, str] = {
    # dialogue
    "DialogueOptions": "npc_ai.dialogue.npc",
    "Npc": "npc_ai.dialogue.npc",
    "Reply": "npc_ai.dialogue.npc",
    "Persona": "npc_ai.dialogue.persona",
    "load_persona": "npc_ai.dialogue.persona",
    "parse_persona": "npc_ai.dialogue.persona",
    "GuardOptions": "npc_ai.dialogue.guard",
    "StructuredReply": "npc_ai.dialogue.structured",
    "Interpreter": "npc_ai.dialogue.interpret",
    # the game loop
    "Runtime": "npc_ai.runtime.runtime",
    "RuntimeOptions": "npc_ai.runtime.runtime",
    "Priority": "npc_ai.engine",
    "Event": "npc_ai.runtime.events",
    "ReplyDelta": "npc_ai.runtime.events",
    "ReplyDone": "npc_ai.runtime.events",
    "ReplyError": "npc_ai.runtime.events",
    "ReplyHandle": "npc_ai.runtime.events",
    # memory
    "MemoryOptions": "npc_ai.memory.npc_memory",
    "MemoryStore": "npc_ai.memory.store",
    "NpcMemory": "npc_ai.memory.npc_memory",
    # live subtitles and translation
    "LiveSubtitles": "npc_ai.subtitles.live",
    "SubtitleOptions": "npc_ai.subtitles.live",
    "Caption": "npc_ai.subtitles.speech.events",
    "CaptionTranslation": "npc_ai.subtitles.speech.events",
    "FileSource": "npc_ai.backends.pyav",
    "MicSource": "npc_ai.backends.mic",
    "PushSource": "npc_ai.subtitles.speech.audio",
    "Translator": "npc_ai.translation.contract",
    "open_translator": "npc_ai.translation.factory",
    # models and backends
    "DEFAULT_MODEL": "npc_ai.models.manifest",
    "resolve_model": "npc_ai.models.cache",
    "LlamaCppGenerator": "npc_ai.backends.llama_cpp",
    "ScriptedGenerator": "npc_ai.backends.fake",
    # errors
    "AudioDeviceError": "npc_ai.errors",
    "AudioError": "npc_ai.errors",
    "BackendError": "npc_ai.errors",
    "InputError": "npc_ai.errors",
    "MemoryFormatError": "npc_ai.errors",
    "MemoryStoreError": "npc_ai.errors",
    "MissingLanguagePairError": "npc_ai.errors",
    "ModelError": "npc_ai.errors",
    "NpcAiError": "npc_ai.errors",
    "PersonaError": "npc_ai.errors",
    "TranslationError": "npc_ai.errors",
}

__all__ = [
    "DEFAULT_MODEL",
    "AudioDeviceError",
    "AudioError",
    "BackendError",
    "Caption",
    "CaptionTranslation",
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


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)


if TYPE_CHECKING:
    from npc_ai.backends.fake import ScriptedGenerator
    from npc_ai.backends.llama_cpp import LlamaCppGenerator
    from npc_ai.backends.mic import MicSource
    from npc_ai.backends.pyav import FileSource
    from npc_ai.dialogue.guard import GuardOptions
    from npc_ai.dialogue.interpret import Interpreter
    from npc_ai.dialogue.npc import DialogueOptions, Npc, Reply
    from npc_ai.dialogue.persona import Persona, load_persona, parse_persona
    from npc_ai.dialogue.structured import StructuredReply
    from npc_ai.engine import Priority
    from npc_ai.errors import (
        AudioDeviceError,
        AudioError,
        BackendError,
        InputError,
        MemoryFormatError,
        MemoryStoreError,
        MissingLanguagePairError,
        ModelError,
        NpcAiError,
        PersonaError,
        TranslationError,
    )
    from npc_ai.memory.npc_memory import MemoryOptions, NpcMemory
    from npc_ai.memory.store import MemoryStore
    from npc_ai.models.cache import resolve_model
    from npc_ai.models.manifest import DEFAULT_MODEL
    from npc_ai.runtime.events import Event, ReplyDelta, ReplyDone, ReplyError, ReplyHandle
    from npc_ai.runtime.runtime import Runtime, RuntimeOptions
    from npc_ai.subtitles.live import LiveSubtitles, SubtitleOptions
    from npc_ai.subtitles.speech.audio import PushSource
    from npc_ai.subtitles.speech.events import Caption, CaptionTranslation
    from npc_ai.translation.contract import Translator
    from npc_ai.translation.factory import open_translator
