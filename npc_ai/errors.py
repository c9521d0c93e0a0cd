"""The exception tree of npc-ai.

Every error the package raises on purpose derives from :class:`NpcAiError`.
Each class carries a stable numeric ``code`` (the bridge sends it to engine
clients) and a ``fault``: ``"local"`` when the host program or its files are
wrong, ``"remote"`` when a client of the bridge sent something wrong. Callers
match on the class or the code, never on message text.

Messages say what was wrong, where, and what to do about it.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "AudioDecodeError",
    "AudioDeviceError",
    "AudioError",
    "AudioFormatError",
    "AudioOverrunError",
    "BackendError",
    "CaptionError",
    "InputError",
    "MemoryFormatError",
    "MemoryStoreError",
    "MissingLanguagePairError",
    "ModelChecksumError",
    "ModelError",
    "ModelLoadError",
    "ModelNotFoundError",
    "NpcAiError",
    "OverlayError",
    "PersonaError",
    "TranslationError",
    "TranslationFailedError",
    "TranslationPackError",
    "TranslatorUnavailableError",
]


class NpcAiError(Exception):
    """Root of every error npc-ai raises on purpose."""

    code: ClassVar[int] = 1000
    fault: ClassVar[str] = "local"

    def __init__(self, message: str, **data: Any) -> None:
        super().__init__(message)
        self.message = message
        self.data: dict[str, Any] = data

    def to_dict(self) -> dict[str, Any]:
        """A plain map of this error, the shape the bridge sends."""
        return {
            "code": self.code,
            "name": type(self).__name__,
            "message": self.message,
            "data": self.data,
        }


class ModelError(NpcAiError):
    """A model could not be found, verified or loaded."""

    code = 1100


class ModelNotFoundError(ModelError, FileNotFoundError):
    """No copy of a model was found anywhere the resolver looks."""

    code = 1101


class ModelChecksumError(ModelError):
    """A model file is there but its sha256 is not the one the manifest records."""

    code = 1102


class ModelLoadError(ModelError):
    """A model file passed its checks but the inference library refused it."""

    code = 1103


class PersonaError(NpcAiError, ValueError):
    """A persona file or map is malformed.

    ``source`` names the file (or ``"<string>"``), ``field`` the dotted field
    path, ``expected`` what would have been accepted.
    """

    code = 1200

    def __init__(
        self,
        message: str,
        *,
        source: str,
        field: str | None = None,
        expected: str | None = None,
        **data: Any,
    ) -> None:
        location = source if field is None else f"{source}: field '{field}'"
        full = f"{location}: {message}"
        if expected:
            full += f" (expected {expected})"
        super().__init__(full, source=source, field=field, expected=expected, **data)
        self.source = source
        self.field = field
        self.expected = expected


class InputError(NpcAiError, ValueError):
    """Text or arguments given to the dialogue API are unusable."""

    code = 1300
    fault = "remote"


class BackendError(NpcAiError):
    """The generation backend failed while producing a reply."""

    code = 1400


class MemoryStoreError(NpcAiError):
    """The NPC memory database cannot be used: not an SQLite file, damaged, newer, locked or closed.

    ``path`` names the database file.
    """

    code = 1500


class MemoryFormatError(MemoryStoreError, ValueError):
    """A memory save blob is not one this version can load: truncated, corrupt or newer.

    The blob is data handed in by the game (or a bridge client), hence a remote fault.
    """

    code = 1501
    fault = "remote"


class AudioError(NpcAiError):
    """Audio for live subtitles could not be read, decoded or kept up with."""

    code = 1600


class AudioDeviceError(AudioError):
    """No microphone: the optional ``sounddevice`` package or an input device is missing."""

    code = 1601


class AudioDecodeError(AudioError, ValueError):
    """An audio file could not be opened or decoded."""

    code = 1602


class AudioFormatError(AudioError, ValueError):
    """Pushed PCM audio is malformed (odd byte count, wrong type, wrong shape)."""

    code = 1603
    fault = "remote"


class AudioOverrunError(AudioError):
    """Audio arrived faster than it could be transcribed; the oldest audio was dropped."""

    code = 1604


class TranslationError(NpcAiError):
    """Translation could not be set up or done."""

    code = 1700


class MissingLanguagePairError(TranslationError, LookupError):
    """No installed translator translates ``source`` into ``target``.

    ``installed`` lists the pairs that are installed, as ``"en->es"`` strings.
    """

    code = 1701

    def __init__(
        self, message: str, *, source: str, target: str, installed: list[str], **data: Any
    ) -> None:
        super().__init__(message, source=source, target=target, installed=installed, **data)
        self.source = source
        self.target = target
        self.installed = installed


class TranslatorUnavailableError(TranslationError):
    """A translation backend is not installed (no ``apertium`` program, no argostranslate)."""

    code = 1702


class TranslationPackError(TranslationError, ValueError):
    """A translation pack file (``.argosmodel``) is unreadable or incomplete."""

    code = 1703


class TranslationFailedError(TranslationError):
    """A translation backend failed while translating (its process died or timed out)."""

    code = 1704


class CaptionError(NpcAiError, ValueError):
    """Caption text or times are unusable (times going backwards, negative or not finite)."""

    code = 1750


class OverlayError(NpcAiError):
    """A caption overlay could not start: no display for the window, or the port is taken."""

    code = 1800
