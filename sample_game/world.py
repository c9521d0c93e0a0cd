"""The village's state: the map, the player, the NPCs, the inventory and the arrow.

No drawing and no dialogue here: the game feeds in the player's direction and the
outcome of NPC actions, and reads back who is near whom. :meth:`World.snapshot` and
:meth:`World.restore` are what a save slot keeps of it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sample_game.actions import Inventory, Outcome, Pointer
from sample_game.entities import Person, Villager, move
from sample_game.tilemap import START, TileMap, tile_center

__all__ = ["EARSHOT", "NEARBY", "TALK_RANGE", "SavedWorld", "World", "WorldError"]

#: Tiles within which the player can speak to an NPC (press E).
TALK_RANGE = 1.8
#: Tiles within which an NPC hears what is said near the player, and NPCs chat.
EARSHOT = 6.0
#: Tiles within which an NPC's persona is read into the cache, ready for a first reply.
NEARBY = 7.0
#: An NPC stands still while the player is this close (tiles).
STAND_STILL = 2.5


class WorldError(ValueError):
    """A saved world that does not fit this village (a missing field, a wrong type)."""


@dataclass(slots=True)
class World:
    """Everything in the village that moves or changes."""

    tilemap: TileMap
    player: Person
    villagers: dict[str, Villager]
    inventory: Inventory
    pointer: Pointer | None = None
    clock: float = 0.0

    @classmethod
    def new(cls, villagers: Iterable[Villager], tilemap: TileMap | None = None) -> World:
        x, y = tile_center(START)
        return cls(
            tilemap or TileMap(),
            Person(x, y),
            {v.npc_id: v for v in villagers},
            Inventory.starting(),
        )

    # -- a frame ----------------------------------------------------------------------------

    def update(self, dt: float, direction: tuple[float, float], talking_to: str | None) -> None:
        """Move the player along ``direction`` and the NPCs on their idle walks."""
        self.clock += dt
        people = [v.person for v in self.villagers.values()]
        move(self.player, direction, dt, self.tilemap, people)
        for villager in self.villagers.values():
            villager.paused = (
                villager.npc_id == talking_to or villager.person.distance(self.player) < STAND_STILL
            )
            others = [self.player, *(p for p in people if p is not villager.person)]
            villager.update(dt, self.tilemap, others)
        if self.pointer is not None:
            left = self.pointer.seconds - dt
            self.pointer = (
                None
                if left <= 0
                else Pointer(self.pointer.npc, self.pointer.place, self.pointer.tile, left)
            )

    def apply(self, outcome: Outcome | None) -> None:
        """Show what an NPC's action did (the inventory is already changed)."""
        if outcome is not None and outcome.pointer is not None:
            self.pointer = outcome.pointer

    # -- who is where -----------------------------------------------------------------------

    def distance(self, npc_id: str) -> float:
        """Tiles between the player and an NPC."""
        return self.villagers[npc_id].person.distance(self.player)

    def nearest(self, within: float = TALK_RANGE) -> str | None:
        """The NPC closest to the player within ``within`` tiles, if any."""
        near = [(self.distance(n), n) for n in self.villagers]
        near = [(d, n) for d, n in near if d <= within]
        return min(near)[1] if near else None

    def within(self, radius: float, *, besides: str | None = None) -> list[str]:
        """NPCs within ``radius`` tiles of the player, nearest first."""
        found = sorted((self.distance(n), n) for n in self.villagers if n != besides)
        return [n for d, n in found if d <= radius]

    # -- saving -----------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The world as plain data (JSON-ready)."""
        return {
            "player": [self.player.x, self.player.y],
            "inventory": dict(sorted(self.inventory.items.items())),
            "coins": self.inventory.coins,
            "npcs": {n: [v.person.x, v.person.y] for n, v in self.villagers.items()},
            "clock": round(self.clock, 2),
        }

    def check_saved(self, data: Mapping[str, Any]) -> SavedWorld:
        """Read ``data`` (from :meth:`snapshot`) without changing anything; a bad field is a
        :class:`WorldError`. NPCs the save does not know are left where they are."""
        player = _point(data.get("player"), "player")
        items = data.get("inventory")
        if not isinstance(items, dict) or not all(
            isinstance(k, str) and isinstance(c, int) and not isinstance(c, bool) and c > 0
            for k, c in items.items()
        ):
            raise WorldError("'inventory' must map item names to counts above 0")
        coins = data.get("coins")
        if not isinstance(coins, int) or isinstance(coins, bool) or coins < 0:
            raise WorldError("'coins' must be a whole number, 0 or more")
        npcs = data.get("npcs", {})
        if not isinstance(npcs, dict):
            raise WorldError("'npcs' must map NPC ids to positions")
        places = {n: _point(p, f"npcs.{n}") for n, p in npcs.items() if n in self.villagers}
        clock = data.get("clock", 0.0)
        if not isinstance(clock, (int, float)) or isinstance(clock, bool):
            raise WorldError("'clock' must be a number")
        for where in (player, *places.values()):
            if self.tilemap.blocked_near(*self.player.box(*where)):
                raise WorldError(f"a saved position {where} is inside a wall of this village")
        return SavedWorld(player, Inventory(dict(items), coins), places, float(clock))

    def restore(self, saved: SavedWorld) -> None:
        """Put the world back as it was saved (checked by :meth:`check_saved`)."""
        self.player.x, self.player.y = saved.player
        self.inventory = Inventory(dict(saved.inventory.items), saved.inventory.coins)
        for npc, (x, y) in saved.npcs.items():
            villager = self.villagers[npc]
            villager.person.x, villager.person.y = x, y
            villager.target = None
        self.pointer = None
        self.clock = saved.clock


@dataclass(frozen=True, slots=True)
class SavedWorld:
    """A save's world, checked and ready to restore."""

    player: tuple[float, float]
    inventory: Inventory
    npcs: dict[str, tuple[float, float]]
    clock: float


def _point(value: object, field: str) -> tuple[float, float]:
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    ):
        raise WorldError(f"'{field}' must be a position [x, y]")
    return float(value[0]), float(value[1])
