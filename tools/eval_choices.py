#!/usr/bin/env python3
"""How plausible structured replies' emotion and action choices are, per method and label half.

    .venv/bin/python tools/eval_choices.py            # both halves, every method, ~5 min alone

On the hand-labelled lines of tools/structured_labels.py (``CASES``, the development half,
and ``HELD_OUT``, written before any method here was measured): the share of lines whose
chosen emotion a reader accepts and whose action (with its argument) is right, for

- random: what a uniform pick scores (expected value);
- plain: the choice walk, uncalibrated;
- calibrated: contextual calibration at the first branching point (the default);
- calibrated + vote N: the line's own words vote (``StructureOptions(vote=N)``): each
  action gets N per word it shares with the player's line or the reply, each emotion N per
  cue word of it in the reply.

The vote's weight is chosen on the development half; the held-out half is the claim.
Writes out/eval_choices.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

from structured_labels import CASES, HELD_OUT  # noqa: E402

from npc_ai.backends.llama_cpp import LlamaCppGenerator  # noqa: E402
from npc_ai.dialogue.persona import Persona, load_persona  # noqa: E402
from npc_ai.dialogue.prompt import Turn, build_prompt  # noqa: E402
from npc_ai.dialogue.structured import (  # noqa: E402
    ReplyStructure,
    StructureOptions,
    calibrate,
    choose,
)

PERSONAS = ROOT / "sample_game" / "personas"
Case = tuple[str, str, str, set[str], set[str]]


def score(
    gen: LlamaCppGenerator, cases: list[Case], structures: dict[str, ReplyStructure]
) -> dict[str, float]:
    emotion = action = 0
    for stem, line, say, emotions, actions in cases:
        structure = structures[stem]
        parts = build_prompt(structure.persona, [Turn("player", line)])
        record = choose(gen, parts.segments, say, structure)
        phrase = " ".join([record.action.replace("_", " "), *record.args.values()])
        emotion += record.emotion in emotions
        action += phrase in actions
    return {"emotion": emotion / len(cases), "action": action / len(cases)}


def chance(cases: list[Case], personas: dict[str, Persona]) -> dict[str, float]:
    e = a = 0.0
    for stem, _line, _say, emotions, actions in cases:
        structure = ReplyStructure.for_persona(personas[stem])
        e += len(emotions) / len(structure.emotions)
        a += len(actions) / len(structure.action_params.choices)
    return {"emotion": e / len(cases), "action": a / len(cases)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--votes", default="1,2,4", help="vote weights to try")
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "eval_choices.json")
    args = parser.parse_args()
    stems = sorted({c[0] for c in CASES + HELD_OUT})
    personas = {s: load_persona(PERSONAS / f"{s}.toml") for s in stems}
    halves = {"dev": CASES, "held-out": HELD_OUT}
    started = time.perf_counter()
    result: dict[str, Any] = {h: {"random": chance(c, personas)} for h, c in halves.items()}
    with LlamaCppGenerator.from_default() as gen:
        methods: dict[str, tuple[StructureOptions, bool]] = {
            "plain": (StructureOptions(), False),
            "calibrated": (StructureOptions(), True),
        }
        for w in args.votes.split(","):
            methods[f"calibrated + vote {w}"] = (StructureOptions(vote=float(w)), True)
            methods[f"vote {w}"] = (StructureOptions(vote=float(w)), False)
        for name, (options, cal) in methods.items():
            structures = {}
            for stem, persona in personas.items():
                structure = ReplyStructure.for_persona(persona, options)
                if cal:
                    structure = calibrate(gen, structure, prefix=build_prompt(persona, []).prefix)
                structures[stem] = structure
            for half, cases in halves.items():
                result[half][name] = score(gen, cases, structures)
            print(f"  {name}: {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print("| method | dev emotion | dev action | held-out emotion | held-out action |")
    print("| --- | --- | --- | --- | --- |")
    for name in result["dev"]:
        d, h = result["dev"][name], result["held-out"][name]
        print(
            f"| {name} | {d['emotion']:.0%} | {d['action']:.0%} | "
            f"{h['emotion']:.0%} | {h['action']:.0%} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
