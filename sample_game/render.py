"""Drawing the village: tiles, people, names and the arrow an NPC points with.

Everything is drawn with pygame's shapes; there are no image files. The tile map is
drawn once into a background surface, and names are rendered once, so a frame is a
few blits and shapes.
"""

from __future__ import annotations

import math
import random

import pygame

from npc_ai.pygame import load_font
from sample_game.entities import Person, Villager
from sample_game.tilemap import TILE, TileMap, tile_center
from sample_game.world import TALK_RANGE, World

__all__ = ["WorldRenderer"]

GROUND: dict[str, tuple[int, int, int]] = {
    "T": (52, 96, 52),
    "w": (110, 104, 96),
    "G": (150, 128, 92),
    "=": (168, 146, 104),
    ".": (88, 142, 72),
    "#": (128, 76, 56),
    "D": (92, 60, 36),
    "~": (58, 104, 168),
    "F": (88, 142, 72),
    "*": (104, 80, 52),
    "W": (88, 142, 72),
}

LABELS = {
    "Crooked Kettle": (11.5, 6.6),
    "Guardhouse": (19.0, 1.6),
    "Forge": (25.0, 7.6),
    "Herb garden": (5.0, 11.6),
    "North gate": (15.0, 2.0),
}


def draw_tiles(tilemap: TileMap, seed: int = 7) -> pygame.Surface:
    """The whole map as one surface (drawn once)."""
    rng = random.Random(seed)
    surface = pygame.Surface(tilemap.pixel_size)
    for tx, ty, char in tilemap.tiles():
        rect = pygame.Rect(tx * TILE, ty * TILE, TILE, TILE)
        surface.fill(GROUND[char], rect)
        if char in ".FW":
            for _ in range(3):  # tufts of grass
                x, y = rect.x + rng.randrange(TILE), rect.y + rng.randrange(TILE)
                pygame.draw.line(surface, (70, 120, 60), (x, y), (x + 1, y - 3))
        if char == "T":
            pygame.draw.circle(surface, (30, 70, 36), rect.center, TILE // 2 - 1)
            pygame.draw.circle(surface, (46, 94, 46), (rect.centerx - 4, rect.centery - 4), 8)
        elif char == "w":
            for row in range(0, TILE, 8):
                off = 8 if (row // 8) % 2 else 0
                for col in range(-off, TILE, 16):
                    pygame.draw.rect(surface, (80, 76, 70), (rect.x + col, rect.y + row, 16, 8), 1)
        elif char == "#":
            pygame.draw.rect(surface, (104, 58, 42), rect, 1)
            pygame.draw.line(surface, (150, 92, 66), rect.topleft, rect.topright, 2)
        elif char == "D":
            pygame.draw.rect(surface, (60, 38, 22), rect.inflate(-8, -4))
            pygame.draw.circle(surface, (220, 190, 90), (rect.right - 9, rect.centery), 2)
        elif char == "~":
            for row in (8, 20):
                y = rect.y + row
                pygame.draw.arc(surface, (120, 160, 210), (rect.x, y, 16, 6), 0, math.pi)
                pygame.draw.arc(surface, (120, 160, 210), (rect.x + 16, y, 16, 6), 0, math.pi)
        elif char == "F":
            pygame.draw.line(surface, (120, 84, 48), rect.midleft, rect.midright, 3)
            pygame.draw.line(surface, (120, 84, 48), rect.midtop, rect.midbottom, 3)
        elif char == "*":
            for _ in range(4):
                x, y = rect.x + 4 + rng.randrange(TILE - 8), rect.y + 4 + rng.randrange(TILE - 8)
                color = rng.choice([(200, 80, 120), (230, 210, 90), (150, 110, 210)])
                pygame.draw.circle(surface, (60, 130, 60), (x, y + 3), 3)
                pygame.draw.circle(surface, color, (x, y), 2)
        elif char == "W":
            pygame.draw.circle(surface, (120, 120, 125), rect.center, TILE // 2 - 2)
            pygame.draw.circle(surface, (30, 50, 90), rect.center, TILE // 2 - 7)
    font = load_font(None, 18)
    for text, (lx, ly) in LABELS.items():
        image = font.render(text, True, (250, 245, 230))
        surface.blit(image, image.get_rect(center=(int(lx * TILE), int(ly * TILE))))
    return surface


class WorldRenderer:
    """Draws a :class:`World` onto the screen."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.background = draw_tiles(world.tilemap)
        self._font = load_font(None, 18)
        self._names: dict[str, pygame.Surface] = {}

    def draw(self, surface: pygame.Surface, *, talking_to: str | None) -> None:
        surface.blit(self.background, (0, 0))
        world = self.world
        people: list[tuple[float, Person, Villager | None]] = [
            (v.person.y, v.person, v) for v in world.villagers.values()
        ]
        people.append((world.player.y, world.player, None))
        for _, person, villager in sorted(people, key=lambda p: p[0]):
            if villager is None:
                _draw_person(surface, person, (70, 110, 200), (230, 200, 160))
            else:
                _draw_person(surface, person, villager.color, (230, 190, 150))
                self._draw_name(surface, villager, talking_to)
        if world.pointer is not None:
            self._draw_pointer(surface)

    def _draw_name(
        self, surface: pygame.Surface, villager: Villager, talking_to: str | None
    ) -> None:
        near = villager.person.distance(self.world.player) <= TALK_RANGE
        label = villager.name
        if near and talking_to is None:
            label += " [E]"
        image = self._names.get(label)
        if image is None:
            image = self._font.render(label, True, (255, 250, 235))
            self._names[label] = image
        x, y = int(villager.person.x), int(villager.person.y)
        surface.blit(image, image.get_rect(midbottom=(x, y - 34)))

    def _draw_pointer(self, surface: pygame.Surface) -> None:
        pointer = self.world.pointer
        assert pointer is not None
        origin = self.world.villagers.get(pointer.npc)
        start = origin.person if origin else self.world.player
        sx, sy = start.x, start.y - 20
        tx, ty = tile_center(pointer.tile)
        angle = math.atan2(ty - sy, tx - sx)
        length = min(70.0, math.hypot(tx - sx, ty - sy))
        ex, ey = sx + math.cos(angle) * length, sy + math.sin(angle) * length
        color = (250, 210, 60)
        pygame.draw.line(surface, color, (sx, sy), (ex, ey), 5)
        head = [
            (ex + math.cos(angle) * 14, ey + math.sin(angle) * 14),
            (ex + math.cos(angle + 2.4) * 12, ey + math.sin(angle + 2.4) * 12),
            (ex + math.cos(angle - 2.4) * 12, ey + math.sin(angle - 2.4) * 12),
        ]
        pygame.draw.polygon(surface, color, head)
        pygame.draw.circle(surface, color, (int(tx), int(ty)), 10, 3)  # the place itself
        label = self._names.get(pointer.place)
        if label is None:
            label = self._font.render(pointer.place, True, color)
            self._names[pointer.place] = label
        surface.blit(label, label.get_rect(midtop=(int(tx), int(ty) + 12)))


def _draw_person(
    surface: pygame.Surface,
    person: Person,
    body: tuple[int, int, int],
    skin: tuple[int, int, int],
) -> None:
    x, y = int(person.x), int(person.y)
    bob = 1 if person.moving and int(person.x + person.y) // 6 % 2 else 0
    pygame.draw.ellipse(surface, (30, 40, 30), (x - 10, y - 4, 20, 8))  # shadow
    pygame.draw.rect(surface, body, (x - 8, y - 22 - bob, 16, 20), border_radius=4)
    pygame.draw.circle(surface, skin, (x, y - 27 - bob), 7)
    fx, fy = person.facing
    pygame.draw.circle(surface, (30, 30, 30), (x + 3 * fx - 2, y - 28 - bob + fy), 1)
    pygame.draw.circle(surface, (30, 30, 30), (x + 3 * fx + 2, y - 28 - bob + fy), 1)
