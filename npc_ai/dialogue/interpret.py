"""NPC dialogue in the player's language: translate the line in, the reply out.

An NPC thinks in its persona's ``language`` (the language its persona, examples
and memories are written in). With an :class:`Interpreter`, the player talks in
their own language: their line is translated into the persona's language
before the NPC hears it, and the reply is translated back sentence by sentence
as it streams, so the first translated sentence shows as soon as the model has
finished it. The NPC's transcript and memory keep the persona-language text.

::

    from npc_ai.translation import open_translator

    interpreter = Interpreter(open_translator("auto"), player="es", npc=persona.language)
    npc = Npc(persona, model, interpreter=interpreter)
    npc.reply("¿Puedes arreglar mi espada?")  # heard in English, answered in Spanish

Any :class:`~npc_ai.translation.Translator` works (Argos packs, apertium); a
missing pair fails when the interpreter is made, with the installed pairs in
the message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from npc_ai.errors import InputError
from npc_ai.translation.contract import Translator, check_pair, normalize_language

__all__ = ["Interpreter", "SentenceTranslator"]

# A sentence is complete at . ! ? … (with closing quotes) followed by a space.
_SENTENCE_END = re.compile(r"[.!?…]+[\"'”’)\]]*\s+")


@dataclass(frozen=True, slots=True)
class Interpreter:
    """Translates between the player's language and the NPC's, through ``translator``."""

    translator: Translator
    player: str
    npc: str

    def __post_init__(self) -> None:
        for name in ("player", "npc"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise InputError(f"Interpreter.{name} must be a language code such as 'es'")
        pairs = self.translator.pairs()
        if pairs:  # a translator that lists no pairs takes any (the identity fake)
            backend = type(self.translator).__name__
            check_pair(pairs, self.player, self.npc, backend=backend)
            check_pair(pairs, self.npc, self.player, backend=backend)

    @property
    def needed(self) -> bool:
        """False when both speak the same language (nothing to translate)."""
        return normalize_language(self.player) != normalize_language(self.npc)

    def to_npc(self, line: str) -> str:
        """The player's line in the NPC's language."""
        if not self.needed:
            return line
        return self.translator.translate(line, self.player, self.npc).strip() or line

    def to_player(self, text: str) -> str:
        """Text of the NPC's in the player's language."""
        if not self.needed or not text.strip():
            return text
        return self.translator.translate(text, self.npc, self.player).strip()

    def stream(self) -> SentenceTranslator:
        """A translator for one streamed reply."""
        return SentenceTranslator(self)


class SentenceTranslator:
    """Collects a streamed reply and releases it translated, one whole sentence at a time.

    What it releases adds up to :attr:`text`, the translated reply.
    """

    def __init__(self, interpreter: Interpreter) -> None:
        self._interpreter = interpreter
        self._pending = ""
        self.text = ""

    def feed(self, piece: str) -> str:
        """Add released reply text; return translated text for any sentence it completes."""
        self._pending += piece
        ends = list(_SENTENCE_END.finditer(self._pending))
        if not ends:
            return ""
        cut = ends[-1].end()
        done, self._pending = self._pending[:cut], self._pending[cut:]
        return self._emit(done)

    def finish(self) -> str:
        """The end of the reply: translate what is left."""
        rest, self._pending = self._pending, ""
        return self._emit(rest)

    def _emit(self, source: str) -> str:
        if not source.strip():
            return ""
        out = self._interpreter.to_player(source.strip())
        if self.text and out:
            out = " " + out
        self.text += out
        return out
