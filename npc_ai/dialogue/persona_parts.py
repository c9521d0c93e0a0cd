"""The parts of a persona and the limits on them.

:class:`Example`, :class:`ActionArg` and :class:`Action` are the records a persona
is built from, and the ``MAX_*`` constants bound every field. They live below
:mod:`npc_ai.dialogue.persona` (which re-exports them, and is where to import
them from) so that :mod:`npc_ai.dialogue.persona_check` can build them without
importing the module that calls it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

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
