"""Hand-labelled lines for judging structured-reply choices (tools/bench_structured.py).

Each case: persona file stem, the player's line, an in-voice NPC line (written
by hand, so the label does not depend on what the model happens to say), the
emotions a reader would accept, and the actions a reader would accept
(``"none"`` or the action's phrase, such as ``"repair sword"``).
"""

from __future__ import annotations

CASES: list[tuple[str, str, str, set[str], set[str]]] = [
    # Brakka Ironhand, the blacksmith.
    (
        "blacksmith",
        "Can you fix my sword?",
        "Hmph. Notched edge. Leave it on the anvil, back by sundown.",
        {"calm", "annoyed"},
        {"repair sword"},
    ),
    (
        "blacksmith",
        "My shield is cracked.",
        "Cracked? Cheap iron. Give it here, I'll temper it.",
        {"annoyed", "calm"},
        {"repair shield"},
    ),
    (
        "blacksmith",
        "I need a new axe.",
        "Axe on the rack. Ten silver. Take it and go.",
        {"calm", "annoyed"},
        {"sell axe"},
    ),
    (
        "blacksmith",
        "Where can I find the inn?",
        "The Kettle. Across the square. Follow the smell of stew.",
        {"calm", "annoyed"},
        {"point to the inn"},
    ),
    (
        "blacksmith",
        "Your work is the finest in the valley!",
        "Hmph. Finest in the kingdom. My steel doesn't crack.",
        {"proud"},
        {"none"},
    ),
    (
        "blacksmith",
        "You smell like a pig.",
        "And you talk like slag. Out of my forge.",
        {"annoyed"},
        {"turn away"},
    ),
    (
        "blacksmith",
        "Who were those strangers from the marsh?",
        "Strangers? Didn't see any. Why do you ask?",
        {"suspicious"},
        {"none", "turn away"},
    ),
    (
        "blacksmith",
        "My plough broke in the field.",
        "Bring it in. I'll weld the share before planting.",
        {"calm"},
        {"repair plough"},
    ),
    (
        "blacksmith",
        "Tell me a joke.",
        "A joke? Ha. The mine's still shut. That's the joke.",
        {"amused"},
        {"none"},
    ),
    # Captain Aldric Venn, the guard.
    (
        "guard",
        "I'm a merchant going to the fair.",
        "Your name is in the ledger, citizen. You may pass.",
        {"satisfied", "calm"},
        {"let pass"},
    ),
    (
        "guard",
        "Let me through, now!",
        "Halt. No one passes this gate without stating their business.",
        {"stern", "annoyed"},
        {"block path"},
    ),
    (
        "guard",
        "Where can I get my sword sharpened?",
        "Ironhand's forge, by the mill. Keep it sheathed until then.",
        {"calm", "stern"},
        {"point to the forge"},
    ),
    (
        "guard",
        "Bandits are attacking the mill!",
        "To arms! Stand back, citizen, the Watch will handle this.",
        {"alarmed"},
        {"draw sword"},
    ),
    (
        "guard",
        "Have I been here before?",
        "Let me see. The ledger records every traveller, citizen.",
        {"suspicious", "calm", "stern"},
        {"check ledger"},
    ),
    (
        "guard",
        "I'd rather not say my name.",
        "Then you will not enter Thornvale, citizen. Ordinance Three.",
        {"suspicious", "stern"},
        {"block path"},
    ),
    (
        "guard",
        "I'm lost.",
        "Keep to the main road, citizen. It leads to the square.",
        {"calm"},
        {"point to the main road"},
    ),
    # Marta Bellweather, the innkeeper.
    (
        "innkeeper",
        "I'm starving.",
        "Sit down, love, I'll bring you a bowl of mutton stew.",
        {"cheerful"},
        {"serve stew"},
    ),
    (
        "innkeeper",
        "A mug of ale, please.",
        "One ale coming up, dear, from the good barrel too.",
        {"cheerful"},
        {"serve ale"},
    ),
    (
        "innkeeper",
        "Do you have a room for the night?",
        "Room two is free, love. Here's your key.",
        {"cheerful"},
        {"rent room"},
    ),
    (
        "innkeeper",
        "Where is the blacksmith?",
        "Brakka's forge, dear, out by the mill on the east side.",
        {"calm", "cheerful"},
        {"point to the forge"},
    ),
    (
        "innkeeper",
        "I saw lights in the old watchtower.",
        "Lights? Oh dear, that's the third time this month. I don't like it.",
        {"worried"},
        {"none"},
    ),
    (
        "innkeeper",
        "My father died last winter.",
        "Oh, love, I'm so sorry. Sit with me a while.",
        {"sad"},
        {"none"},
    ),
    (
        "innkeeper",
        "What's the latest gossip?",
        "Well, I shouldn't say, dear, but Captain Venn was seen smiling!",
        {"amused", "curious", "cheerful"},
        {"none", "wipe counter"},
    ),
    (
        "innkeeper",
        "Just water, thanks.",
        "Water it is, dear, fresh from the well.",
        {"cheerful", "calm"},
        {"serve water"},
    ),
]
