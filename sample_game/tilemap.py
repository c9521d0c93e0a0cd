"""The village of Thornvale as a grid of tiles, written in code (no image files).

Each character of :data:`LAYOUT` is one tile; :data:`TILES` says what each one is and
whether it can be walked on. Places the NPCs can point to and the NPCs' home spots are
tile coordinates. :meth:`TileMap.path` finds a walk between two tiles (the script runner
walks the player with it).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

__all__ = ["HOMES", "LAYOUT", "PLACES", "SPARE_HOMES", "TILE", "TILES", "TileKind", "TileMap"]

#: Pixels per tile side.
TILE = 32

# T tree, w town wall, G gate, = road, . grass, # building, D door, ~ river, F fence,
# * garden bed, W well. 30 x 20 tiles.
LAYOUT = (
    "TTTTTTTTTTTTTT==TTTTTTTTTTTTTT",
    "TwwwwwwwwwwwwwGGwwwwwwwwwwwwwT",
    "Tw............==.####......~~T",
    "Tw..TT........==.####......~~T",
    "Tw............==.##D#......~~T",
    "Tw............==...=.......~~T",
    "Tw.....T......=====........~~T",
    "Tw.......#####==...........~~T",
    "Tw.......#####==.......####~~T",
    "Tw.......##D##==.......####~~T",
    "Tw......==========.....#D##~~T",
    "Tw......====================~T",
    "Tw.FFFFF==========.......T.~~T",
    "Tw.F***......==............~~T",
    "Tw.F*W*......==..T.........~~T",
    "Tw.F***F.....==.......T....~~T",
    "Tw.FFFFF.....==............~~T",
    "Tw.......T...==......T.....~~T",
    "Twwwwwwwwwwwwwwwwwwwwwwwwwww~T",
    "TTTTTTTTTTTTTTTTTTTTTTTTTTTT~T",
)


@dataclass(frozen=True, slots=True)
class TileKind:
    """What a tile is: its name and whether people can walk on it."""

    name: str
    walkable: bool


TILES: dict[str, TileKind] = {
    "T": TileKind("tree", False),
    "w": TileKind("wall", False),
    "G": TileKind("gate", True),
    "=": TileKind("road", True),
    ".": TileKind("grass", True),
    "#": TileKind("building", False),
    "D": TileKind("door", False),
    "~": TileKind("water", False),
    "F": TileKind("fence", False),
    "*": TileKind("garden", True),
    "W": TileKind("well", False),
}

#: Places the NPCs' ``point_to`` action names, as tiles.
PLACES: dict[str, tuple[int, int]] = {
    "the inn": (11, 10),
    "the forge": (24, 11),
    "the guardhouse": (19, 5),
    "the square": (12, 11),
    "the main road": (15, 8),
    "the mine": (14, 0),
    "the gate": (14, 1),
    "the garden": (7, 13),
}

#: Where each NPC of the sample cast stands (by persona file stem).
HOMES: dict[str, tuple[int, int]] = {
    "blacksmith": (24, 12),
    "innkeeper": (11, 10),
    "guard": (17, 5),
    "herbalist": (6, 13),
}

#: Home spots for NPCs from persona files the village does not know.
SPARE_HOMES: tuple[tuple[int, int], ...] = ((20, 14), (9, 16), (24, 16), (4, 5), (22, 3))

#: Where the player starts.
START = (12, 14)


class TileMap:
    """The tile grid: what is at a tile, what blocks, and walks between tiles."""

    def __init__(self, layout: Iterable[str] = LAYOUT) -> None:
        self.rows = tuple(layout)
        if not self.rows or len({len(row) for row in self.rows}) != 1:
            raise ValueError("a tile layout needs rows of one length")
        unknown = {c for row in self.rows for c in row} - set(TILES)
        if unknown:
            raise ValueError(f"unknown tile characters: {''.join(sorted(unknown))}")
        self.width = len(self.rows[0])
        self.height = len(self.rows)

    @property
    def pixel_size(self) -> tuple[int, int]:
        return self.width * TILE, self.height * TILE

    def kind(self, tx: int, ty: int) -> TileKind:
        """The tile at (tx, ty); outside the map is a wall."""
        if not (0 <= tx < self.width and 0 <= ty < self.height):
            return TILES["w"]
        return TILES[self.rows[ty][tx]]

    def walkable(self, tx: int, ty: int) -> bool:
        return self.kind(tx, ty).walkable

    def tiles(self) -> Iterator[tuple[int, int, str]]:
        """Every tile as (tx, ty, character)."""
        for ty, row in enumerate(self.rows):
            for tx, char in enumerate(row):
                yield tx, ty, char

    def blocked_near(self, left: float, top: float, right: float, bottom: float) -> bool:
        """Whether a box (in pixels) overlaps a tile that cannot be walked on."""
        for ty in range(int(top // TILE), int((bottom - 0.001) // TILE) + 1):
            for tx in range(int(left // TILE), int((right - 0.001) // TILE) + 1):
                if not self.walkable(tx, ty):
                    return True
        return False

    def path(
        self,
        start: tuple[int, int],
        goal: tuple[int, int],
        *,
        blocked: Iterable[tuple[int, int]] = (),
        near: float = 0.0,
    ) -> list[tuple[int, int]] | None:
        """The shortest walk of tiles from ``start`` to a tile within ``near`` tiles of
        ``goal`` (4-way moves; ``blocked`` tiles avoided); None when there is none.
        The start tile is not in the list."""
        avoid = set(blocked) - {start}
        came: dict[tuple[int, int], tuple[int, int] | None] = {start: None}
        queue = deque([start])
        while queue:
            here = queue.popleft()
            if (here[0] - goal[0]) ** 2 + (here[1] - goal[1]) ** 2 <= near**2 or here == goal:
                walk = []
                step: tuple[int, int] | None = here
                while step is not None and step != start:
                    walk.append(step)
                    step = came[step]
                return walk[::-1]
            x, y = here
            for nxt in ((x + 1, y), (x - 1, y), (x, y + 1), (x, y - 1)):
                if nxt not in came and self.walkable(*nxt) and nxt not in avoid:
                    came[nxt] = here
                    queue.append(nxt)
        return None


def tile_center(tile: tuple[int, int]) -> tuple[float, float]:
    """The pixel at the middle of a tile."""
    return tile[0] * TILE + TILE / 2, tile[1] * TILE + TILE / 2
