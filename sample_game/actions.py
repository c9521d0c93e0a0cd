"""What an NPC's action does to the world: the inventory, an arrow, a message.

A structured reply (``ReplyDone.structured``) names one of the persona's own actions
with its arguments. The village gives some of them effects (the smith mends the sword
the player carries, the innkeeper hands over a room key, anyone may point the way);
every other action is shown as what its persona file says it means ("Brakka goes back
to her hammering").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from npc_ai import Persona, StructuredReply
from sample_game.tilemap import PLACES

__all__ = ["Inventory", "Outcome", "Pointer", "apply_action"]

#: What the village's shops ask, in coins.
PRICES: dict[str, int] = {
    "sword": 12,
    "axe": 8,
    "spearhead": 3,
    "horseshoe": 1,
    "stew": 2,
    "ale": 1,
    "bread": 1,
    "water": 0,
}


@dataclass(slots=True)
class Inventory:
    """What the player carries: items by name (with how many) and coins."""

    items: dict[str, int] = field(default_factory=dict)
    coins: int = 20

    @classmethod
    def starting(cls) -> Inventory:
        return cls({"notched sword": 1, "bread": 1}, coins=20)

    def has(self, item: str) -> bool:
        return self.items.get(item, 0) > 0

    def add(self, item: str, count: int = 1) -> None:
        self.items[item] = self.items.get(item, 0) + count

    def take(self, item: str) -> bool:
        """Remove one ``item``; False when there is none."""
        if not self.has(item):
            return False
        self.items[item] -= 1
        if not self.items[item]:
            del self.items[item]
        return True

    def describe(self) -> str:
        things = [f"{n} x{c}" if c > 1 else n for n, c in sorted(self.items.items())]
        return ", ".join([*things, f"{self.coins} coins"])


@dataclass(frozen=True, slots=True)
class Pointer:
    """An arrow in the world: ``npc`` points the way to ``place`` for ``seconds`` more."""

    npc: str
    place: str
    tile: tuple[int, int]
    seconds: float = 10.0


@dataclass(frozen=True, slots=True)
class Outcome:
    """What an action did: a line for the player, and the arrow it shows, if any."""

    message: str
    pointer: Pointer | None = None
    changed_inventory: bool = False


Effect = Callable[[str, str, dict[str, str], Inventory], Outcome | None]


def _repair(npc: str, name: str, args: dict[str, str], inventory: Inventory) -> Outcome | None:
    item = args.get("item", "sword")
    if inventory.take(f"notched {item}"):
        inventory.add(f"mended {item}")
        return Outcome(f"{name} mends your {item}. (notched {item} -> mended {item})", None, True)
    if inventory.has(f"mended {item}") or inventory.has(item):
        return Outcome(f"{name} looks your {item} over: nothing to mend.")
    return Outcome(f"{name} would mend a {item}, but you carry none.")


def _buy(verb: str) -> Effect:
    def effect(npc: str, name: str, args: dict[str, str], inventory: Inventory) -> Outcome | None:
        item = args.get("item")
        if item is None:
            return None
        price = PRICES.get(item, 0)
        if inventory.coins < price:
            return Outcome(f"{name} {verb} a {item}, but you cannot pay {price} coins.")
        inventory.coins -= price
        inventory.add(item)
        paid = f" for {price} coins" if price else ""
        return Outcome(f"{name} {verb} you a {item}{paid}.", None, True)

    return effect


def _give(npc: str, name: str, args: dict[str, str], inventory: Inventory) -> Outcome | None:
    item = args.get("item")
    if item is None:
        return None
    inventory.add(item)
    return Outcome(f"{name} gives you {item}.", None, True)


def _rent_room(npc: str, name: str, args: dict[str, str], inventory: Inventory) -> Outcome | None:
    if inventory.has("room key"):
        return Outcome(f"{name} reminds you that you already have a room.")
    inventory.add("room key")
    return Outcome(f"{name} hands you the key to a room upstairs.", None, True)


def _point_to(npc: str, name: str, args: dict[str, str], inventory: Inventory) -> Outcome | None:
    place = args.get("place")
    tile = PLACES.get(place or "")
    if place is None or tile is None:
        return None
    return Outcome(f"{name} points the way to {place}.", Pointer(npc, place, tile))


EFFECTS: dict[str, Effect] = {
    "repair": _repair,
    "sell": _buy("sells"),
    "serve": _buy("serves"),
    "give": _give,
    "rent_room": _rent_room,
    "point_to": _point_to,
}


def apply_action(
    npc: str, persona: Persona, reply: StructuredReply, inventory: Inventory
) -> Outcome | None:
    """Carry out the action of ``reply`` (by NPC ``npc`` of ``persona``); None for ``none``.

    Actions the village gives no effect are described from the persona file.
    """
    if reply.action == "none":
        return None
    name = persona.short_name
    effect = EFFECTS.get(reply.action)
    outcome = effect(npc, name, dict(reply.args), inventory) if effect else None
    if outcome is not None:
        return outcome
    action = next((a for a in persona.actions if a.name == reply.action), None)
    words = action.description if action and action.description else reply.action.replace("_", " ")
    values = " ".join(reply.args.values())
    return Outcome(f"{name} {words}{' (' + values + ')' if values else ''}.")
