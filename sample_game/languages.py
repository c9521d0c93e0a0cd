"""The player's language: which ones the installed translators offer, and text shown in it.

The NPCs think in their personas' languages. The runtime translates what the player
says to an NPC and its reply (an :class:`~npc_ai.Interpreter` per NPC); everything else
an NPC says (greetings, the NPCs' talk among themselves) is translated here, on a
worker thread, and handed back on the game thread by :meth:`Languages.poll`, so a
translation never holds up a frame.
"""

from __future__ import annotations

import concurrent.futures
import logging
from collections.abc import Callable

from npc_ai import Interpreter, NpcAiError, Persona, Translator

__all__ = ["LANGUAGE_NAMES", "Languages"]

log = logging.getLogger(__name__)

LANGUAGE_NAMES: dict[str, str] = {
    "en": "English",
    "es": "Español",
    "fr": "Français",
    "de": "Deutsch",
    "it": "Italiano",
    "pt": "Português",
    "ca": "Català",
}


#: What to do with a text once it is in the player's language.
Then = Callable[[str], object]


class Languages:
    """The languages the player may pick, the one picked, and translation for display.

    ``home`` is the language of the village (its personas); ``translator`` may be None
    (then the player reads and writes only ``home``).
    """

    def __init__(self, translator: Translator | None, *, home: str = "en") -> None:
        self.translator = translator
        self.home = home
        self.current = home
        pairs = translator.pairs() if translator is not None else frozenset()
        others = sorted({t for s, t in pairs if s == home and (t, home) in pairs})
        #: The languages L cycles through, the village's first.
        self.available: list[str] = [home, *others]
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._waiting: list[
            tuple[concurrent.futures.Future[str], Callable[[str], object], str]
        ] = []

    @property
    def name(self) -> str:
        return LANGUAGE_NAMES.get(self.current, self.current)

    def following(self) -> str:
        """The language after the current one (the L key picks it)."""
        at = self.available.index(self.current)
        return self.available[(at + 1) % len(self.available)]

    def set(self, language: str) -> None:
        if language not in self.available:
            raise ValueError(
                f"no translation between {self.home} and {language!r} is installed "
                f"(available: {', '.join(self.available)})"
            )
        self.current = language

    def interpreter(self, persona: Persona) -> Interpreter | None:
        """How the player talks to ``persona`` in the current language (None: no need)."""
        if self.translator is None or self.current == persona.language:
            return None
        return Interpreter(self.translator, player=self.current, npc=persona.language)

    def show(self, text: str, then: Then, *, source: str | None = None) -> None:
        """Hand ``text`` (in ``source``, default the village's language) to ``then`` in the
        player's language: at once when no translation is needed, else from :meth:`poll`
        once it is translated (the original, should translation fail)."""
        source = source or self.home
        target = self.current
        if self.translator is None or source == target or not text.strip():
            then(text)
            return
        if self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(1, "thornvale-translate")
        translator = self.translator
        future = self._pool.submit(translator.translate, text, source, target)
        self._waiting.append((future, then, text))

    def poll(self) -> None:
        """On the game thread, once a frame: hand over finished translations, in order."""
        while self._waiting and self._waiting[0][0].done():
            future, then, original = self._waiting.pop(0)
            try:
                text = future.result().strip() or original
            except (NpcAiError, OSError) as exc:
                log.warning("translation failed: %s", exc)
                text = original
            then(text)

    @property
    def busy(self) -> bool:
        return bool(self._waiting)

    def close(self) -> None:
        """Stop the translation thread (queued texts are dropped)."""
        self._waiting.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
