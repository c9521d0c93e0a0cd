# ruff: noqa: E501  (the held-out cases: one case to a few rows reads better than wrapped strings)
"""Hand-labelled lines for judging structured-reply choices (tools/bench_structured.py).

``CASES`` is the development half (what the choice methods were built and tuned on);
``HELD_OUT`` was written afterwards, before any new method was measured, and is only
measured.

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

# The held-out half: other player lines and replies, same personas and labels' kind.
HELD_OUT: list[tuple[str, str, str, set[str], set[str]]] = [
    ("blacksmith", "The blade of my axe is chipped.",
     "Chipped again? Leave it. I'll grind the edge by tonight.", {"annoyed", "calm"}, {"repair axe"}),
    ("blacksmith", "Do you have a sword for sale?",
     "That one on the wall. Good steel. Twelve silver.", {"calm", "proud"}, {"sell sword"}),
    ("blacksmith", "How do I get to the Greyspur mine?",
     "North road, up past the mill. Mine's shut, mind.", {"calm"}, {"point to the mine"}),
    ("blacksmith", "My horse threw a shoe.",
     "Bring the beast round. New horseshoe, quick work.", {"calm"}, {"repair horseshoe"}),
    ("blacksmith", "Ha! Your hammer is smaller than mine.",
     "Ha! Small hammer, big dent. Want to see?", {"amused"}, {"none"}),
    ("blacksmith", "I bet your father forged better blades.",
     "Watch your tongue. Out. Now.", {"annoyed"}, {"turn away"}),
    ("blacksmith", "You look worn out.",
     "Forge since dawn. Arms like lead. Still working.", {"tired"}, {"none"}),
    ("blacksmith", "Someone was asking about your old spears.",
     "Who? What did they want? Tell me.", {"suspicious"}, {"none"}),
    ("guard", "Halt! I mean, hello, Captain.",
     "Ha. Move along, citizen, and mind the gate.", {"calm", "satisfied"}, {"none", "let pass"}),
    ("guard", "A wolf is in the village square!",
     "Stand back! The Watch will deal with the beast.", {"alarmed"}, {"draw sword"}),
    ("guard", "Which way to the smithy?",
     "The forge is by the mill, citizen. Follow the hammering.", {"calm"}, {"point to the forge"}),
    ("guard", "Here are my papers.",
     "All in order. Welcome to Thornvale. Pass.", {"satisfied", "calm"}, {"let pass"}),
    ("guard", "I won't tell you my name.",
     "Then you go no further. The gate stays shut to you.", {"stern", "suspicious"}, {"block path"}),
    ("guard", "Did a man in a red cloak pass through?",
     "I shall look in the ledger. Every name is written there.", {"calm", "stern", "suspicious"},
     {"check ledger"}),
    ("guard", "Where can I find a bed for the night?",
     "The Crooked Kettle, on the square. Marta keeps clean rooms.", {"calm"}, {"point to the inn"}),
    ("guard", "You guards are useless.",
     "Mind your tongue, citizen, or spend the night in a cell.", {"annoyed", "stern"}, {"none", "block path"}),
    ("innkeeper", "Could I have some bread?",
     "Fresh this morning, love! Here's a warm loaf for you.", {"cheerful"}, {"serve bread"}),
    ("innkeeper", "I need a bed, I'm exhausted.",
     "Oh, you poor thing! Room three, dear, here's the key.", {"cheerful", "worried"}, {"rent room"}),
    ("innkeeper", "Where's the guardhouse?",
     "By the north gate, love. You can't miss the captain's scowl!", {"amused", "cheerful"},
     {"point to the guardhouse"}),
    ("innkeeper", "My horse ran off in the storm.",
     "Oh no, dear! I hope the poor beast is safe. Sit, warm yourself.", {"worried", "sad"}, {"none"}),
    ("innkeeper", "I'll have a bowl of whatever's hot.",
     "Mutton stew it is, love, straight from the pot!", {"cheerful"}, {"serve stew"}),
    ("innkeeper", "Did you hear about the baker's wedding?",
     "No! Tell me everything, dear. Who's the lucky girl?", {"curious", "cheerful"}, {"none"}),
    ("innkeeper", "My sister never came back from the marsh road.",
     "Oh, love. That road takes too many. I'm so sorry.", {"sad", "worried"}, {"none"}),
    ("innkeeper", "Something to drink, please, I'm parched.",
     "A cool mug of ale coming right up, dear!", {"cheerful"}, {"serve ale"}),
]  # fmt: skip
