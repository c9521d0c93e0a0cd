#!/usr/bin/env python3
"""Translation latency per caption: apertium eng->spa and the Argos path, side by side.

    .venv/bin/python tools/bench_translate.py [--rounds 5] [--json out.json]

Translates 20 typical caption sentences, one call per caption, with:

1. ``apertium -u eng-spa`` started for every caption (``persistent=False``);
2. the persistent null-flush pipeline (:class:`ApertiumTranslator`): the first call (it
   starts the pipeline) and warm calls;
3. the same behind :class:`CachedTranslator`, for a caption seen before;
4. an Argos pack built by ``tests/argos_fixture.py`` (random weights, the default width 32,
   one layer; no real pack can be downloaded here): the first call (loads the model) and
   warm calls. Its figures show the overhead of the path (tokenizer, CTranslate2 call,
   decode), not the cost of a real 60-200 MB model.

Every caption is translated ``--rounds`` times per backend (the cache is not in front of 1,
2 and 4). Prints a Markdown table of p50/p95/max in milliseconds and the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from npc_ai.backends.apertium import ApertiumTranslator  # noqa: E402
from npc_ai.backends.argos import ArgosTranslator, install_pack  # noqa: E402
from npc_ai.translation import CachedTranslator  # noqa: E402
from tests.argos_fixture import make_pack  # noqa: E402

CAPTIONS = [
    "Welcome back to Thornvale, traveller.",
    "The blacksmith has been waiting for you since the storm.",
    "Where is the inn?",
    "I need a room for the night and a hot meal.",
    "The guards say the wolves came down from the hills again.",
    "Close the gate before it gets dark!",
    "Have you seen my brother? He went to the old mill this morning.",
    "That sword will cost you twelve silver coins.",
    "Thank you, that is very kind of you.",
    "We should leave before the rain starts.",
    "Nobody has crossed the bridge since the winter.",
    "Can you help me carry these barrels to the cellar?",
    "The king's soldiers will arrive tomorrow at noon.",
    "I heard a strange noise coming from the forest last night.",
    "Do not trust the merchant with the red hat.",
    "Follow the river north until you reach the tower.",
    "My daughter is sick and the healer is far away.",
    "Yes.",
    "Bring me three wolf pelts and I will reward you.",
    "The festival starts when the bells ring at sunset.",
]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def timed(call: Callable[[], object]) -> float:
    start = time.perf_counter()
    call()
    return (time.perf_counter() - start) * 1000


def run(rounds: int) -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, float]] = {}

    def record(name: str, samples: list[float], first: float | None = None) -> None:
        row = {
            "n": len(samples),
            "p50": statistics.median(samples),
            "p95": pct(samples, 0.95),
            "max": max(samples),
        }
        if first is not None:
            row["first"] = first
        results[name] = row
        print(f"{name}: {row}", file=sys.stderr)

    once = ApertiumTranslator(persistent=False)
    samples = [
        timed(lambda c=c: once.translate(c, "en", "es")) for _ in range(rounds) for c in CAPTIONS
    ]
    record("apertium, process per caption", samples)

    with ApertiumTranslator() as apertium:
        first = timed(lambda: apertium.translate(CAPTIONS[0], "en", "es"))
        samples = [
            timed(lambda c=c: apertium.translate(c, "en", "es"))
            for _ in range(rounds)
            for c in CAPTIONS
        ]
        record("apertium, persistent pipeline", samples, first)
        cached = CachedTranslator(apertium)
        for caption in CAPTIONS:
            cached.translate(caption, "en", "es")
        samples = [
            timed(lambda c=c: cached.translate(c, "en", "es"))
            for _ in range(rounds)
            for c in CAPTIONS
        ]
        record("apertium behind the cache (seen before)", samples)

    with tempfile.TemporaryDirectory() as tmp:
        pack = make_pack(Path(tmp) / "en_es.argosmodel", reply=None)
        install_pack(pack, Path(tmp) / "packages")
        with ArgosTranslator(Path(tmp) / "packages") as argos:
            first = timed(lambda: argos.translate(CAPTIONS[0], "en", "es"))
            samples = [
                timed(lambda c=c: argos.translate(c, "en", "es"))
                for _ in range(rounds)
                for c in CAPTIONS
            ]
            record("argos, fixture pack (random weights)", samples, first)
    return results


def table(results: dict[str, dict[str, float]]) -> str:
    lines = [
        "| path | first call ms | p50 ms | p95 ms | max ms | calls |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, row in results.items():
        first = f"{row['first']:.1f}" if "first" in row else "-"
        lines.append(
            f"| {name} | {first} | {row['p50']:.3f} | {row['p95']:.3f} | {row['max']:.1f} | "
            f"{int(row['n'])} |"
        )
    per_call = results["apertium, process per caption"]["p50"]
    persistent = results["apertium, persistent pipeline"]["p50"]
    lines.append("")
    lines.append(
        f"Persistent pipeline vs a process per caption: {per_call / persistent:.0f}x faster "
        f"at the median ({per_call:.1f} -> {persistent:.2f} ms)."
    )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="times each caption is translated")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args()
    load = os.getloadavg()
    results = run(args.rounds)
    print(table(results))
    print(f"\nLoad average before the run: {load[0]:.2f} ({os.cpu_count()} CPUs).")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
