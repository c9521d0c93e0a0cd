"""The village's NPCs: one per persona file of a folder.

A persona file that does not load is left out, and the reason (which file, which field,
what was expected) is kept to show the player; the village starts with the others.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path

from npc_ai import Persona, PersonaError, load_persona
from sample_game.entities import Villager
from sample_game.tilemap import HOMES, SPARE_HOMES

__all__ = ["DEFAULT_PERSONAS", "CastMember", "load_cast"]

#: The sample personas shipped with the game.
DEFAULT_PERSONAS = Path(__file__).resolve().parent / "personas"

#: Clothes colours of the sample cast; others get one made from their id.
COLORS: dict[str, tuple[int, int, int]] = {
    "blacksmith": (150, 70, 40),
    "innkeeper": (190, 90, 140),
    "guard": (60, 80, 150),
    "herbalist": (70, 140, 70),
}


@dataclass(frozen=True, slots=True)
class CastMember:
    """An NPC of the village: its id (the persona file's stem), persona and home tile."""

    npc_id: str
    persona: Persona
    home: tuple[int, int]

    def villager(self, seed: int = 0) -> Villager:
        color = COLORS.get(self.npc_id)
        if color is None:
            h = zlib.crc32(self.npc_id.encode())
            color = (60 + h % 150, 60 + (h >> 8) % 150, 60 + (h >> 16) % 150)
        return Villager.at_home(
            self.npc_id, self.persona.short_name, self.home, color, seed=seed + len(self.npc_id)
        )


def load_cast(folder: Path = DEFAULT_PERSONAS) -> tuple[list[CastMember], list[str]]:
    """The NPCs of every ``*.toml`` persona in ``folder`` (sorted by file name), and a
    message for each file left out."""
    members: list[CastMember] = []
    problems: list[str] = []
    try:
        files = sorted(folder.glob("*.toml"))
    except OSError as exc:
        return [], [f"cannot read the persona folder {folder}: {exc.strerror or exc}"]
    if not files:
        problems.append(f"no persona files (*.toml) in {folder}")
    spare = iter(SPARE_HOMES)
    for path in files:
        try:
            persona = load_persona(path)
        except PersonaError as exc:
            problems.append(f"left out {path.name}: {exc}")
            continue
        home = HOMES.get(path.stem) or next(spare, None)
        if home is None:
            problems.append(f"left out {path.name}: the village has no more room for NPCs")
            continue
        members.append(CastMember(path.stem, persona, home))
    return members, problems
