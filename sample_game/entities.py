"""People in the village: the player and the NPCs, and how they move.

Positions are pixels (floats) of the point between a person's feet; each person
collides as a small box around it. Movement is tried along x, then along y, so a
person slides along a wall instead of sticking to it.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from sample_game.tilemap import TILE, TileMap, tile_center

__all__ = ["FOOT_H", "FOOT_W", "Person", "Villager", "move"]

#: The box a person collides with, around the point between their feet (pixels).
FOOT_W, FOOT_H = 18.0, 12.0


@dataclass(slots=True)
class Person:
    """Someone standing somewhere: position in pixels, speed in pixels a second."""

    x: float
    y: float
    speed: float = 4.0 * TILE
    facing: tuple[int, int] = (0, 1)
    moving: bool = False

    @property
    def tile(self) -> tuple[int, int]:
        return int(self.x // TILE), int(self.y // TILE)

    def box(self, x: float | None = None, y: float | None = None) -> tuple[float, ...]:
        """(left, top, right, bottom) of the feet box, at (x, y) if given."""
        x = self.x if x is None else x
        y = self.y if y is None else y
        return (x - FOOT_W / 2, y - FOOT_H / 2, x + FOOT_W / 2, y + FOOT_H / 2)

    def distance(self, other: Person) -> float:
        """Distance in tiles."""
        return math.hypot(self.x - other.x, self.y - other.y) / TILE


def _overlaps(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def move(
    person: Person,
    direction: tuple[float, float],
    dt: float,
    tilemap: TileMap,
    others: list[Person] | tuple[Person, ...] = (),
) -> bool:
    """Walk ``person`` along ``direction`` for ``dt`` seconds; return whether it moved.

    A direction of length 1 or more is full speed (a diagonal is as fast as a straight
    walk); a shorter one is that share of it, as a gamepad's stick. Blocked tiles and the
    other people stop it.
    """
    dx, dy = direction
    length = math.hypot(dx, dy)
    person.moving = False
    if length == 0 or dt <= 0:
        return False
    # A long hitch must not carry anyone through a wall.
    step = person.speed * min(dt, 0.1) * min(length, 1.0)
    dx, dy = dx / length * step, dy / length * step
    if abs(dx) >= abs(dy):
        person.facing = (1 if dx > 0 else -1, 0)
    else:
        person.facing = (0, 1 if dy > 0 else -1)
    moved = False
    for ax, ay in ((dx, 0.0), (0.0, dy)):
        if not ax and not ay:
            continue
        nx, ny = person.x + ax, person.y + ay
        box = person.box(nx, ny)
        if tilemap.blocked_near(*box):
            continue
        here = person.box()
        # Someone already overlapping may walk away, never further in.
        if any(_overlaps(box, o.box()) and not _overlaps(here, o.box()) for o in others):
            continue
        person.x, person.y = nx, ny
        moved = True
    person.moving = moved
    return moved


@dataclass(slots=True)
class Villager:
    """An NPC in the world: its id in the runtime, its home spot and its idle walk.

    Every few seconds it picks a walkable spot within ``wander`` tiles of home and
    strolls there; it stands still while ``paused`` (talking, or the player close by).
    """

    npc_id: str
    name: str
    person: Person
    home: tuple[int, int]
    color: tuple[int, int, int]
    wander: float = 1.5
    paused: bool = False
    target: tuple[float, float] | None = None
    rest: float = 0.0
    rng: random.Random = field(default_factory=random.Random)

    @classmethod
    def at_home(
        cls, npc_id: str, name: str, home: tuple[int, int], color: tuple[int, int, int], seed: int
    ) -> Villager:
        x, y = tile_center(home)
        rng = random.Random(seed)
        return cls(
            npc_id,
            name,
            Person(x, y, speed=1.6 * TILE),
            home,
            color,
            rng=rng,
            rest=rng.random() * 3,
        )

    def update(self, dt: float, tilemap: TileMap, others: list[Person]) -> None:
        """One frame of idle walking."""
        if self.paused:
            self.person.moving = False
            return
        if self.target is None:
            self.rest -= dt
            if self.rest <= 0:
                self.target = self._pick(tilemap)
                self.rest = 2.0 + self.rng.random() * 4.0
            return
        tx, ty = self.target
        dx, dy = tx - self.person.x, ty - self.person.y
        if math.hypot(dx, dy) < 2.0 or not move(self.person, (dx, dy), dt, tilemap, others):
            self.target = None  # there, or stuck behind someone: rest and pick again
            self.person.moving = False

    def _pick(self, tilemap: TileMap) -> tuple[float, float] | None:
        hx, hy = tile_center(self.home)
        for _ in range(8):
            angle = self.rng.random() * math.tau
            reach = self.rng.random() * self.wander * TILE
            x, y = hx + math.cos(angle) * reach, hy + math.sin(angle) * reach
            if not tilemap.blocked_near(*self.person.box(x, y)):
                return x, y
        return None
