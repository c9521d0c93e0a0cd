#!/usr/bin/env python3
"""Dialogue benchmark: model load, time to first token, tokens/s, peak RSS.

    .venv/bin/python tools/bench_dialogue.py [--threads 1 2] [--repeats 7] [--out out/]

Every figure is a median (and p90 where it varies) over repeated runs in one
process, so compare rows side by side rather than with another machine's
numbers. Writes JSON next to a Markdown table for docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from npc_ai.backends.llama_cpp import LlamaCppGenerator, LlamaOptions  # noqa: E402
from npc_ai.dialogue.npc import Npc  # noqa: E402
from npc_ai.dialogue.persona import load_persona  # noqa: E402
from npc_ai.generation import SamplingParams  # noqa: E402
from npc_ai.models import DEFAULT_MODEL, resolve_model  # noqa: E402

PERSONA = ROOT / "sample_game" / "personas" / "blacksmith.toml"
LINES = [
    "Can you fix my sword?",
    "What news from the mine?",
    "Who is the captain of the watch?",
    "Where can I get a hot meal?",
    "Have you seen any strangers lately?",
    "How much for a new axe?",
    "Why is the forge so quiet today?",
    "Tell me about your father.",
    "Is the north road safe?",
]
STORY = (
    "The old blacksmith of Thornvale told the traveller a long story about the winter "
    "the river froze, the wolves came down from the hills, and the whole village"
)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def first_piece_ms(npc: Npc, line: str, seed: int) -> float:
    started = time.perf_counter()
    reply = npc.say(line, seed=seed)
    next(reply)
    elapsed = (time.perf_counter() - started) * 1000
    reply.read()
    return elapsed


def raw_step_ms(gen: LlamaCppGenerator) -> float:
    """One llama.cpp decode step with logits, no Python sampling: the
    machine's speed, to compare these figures with another machine's."""
    gen.reset_cache()
    engine = gen.engine
    stream = gen.generate("The forge", SamplingParams(max_tokens=40, seed=1))
    next(stream)
    active = next(iter(engine._active.values()))
    times = []
    for _ in range(24):
        plan = [(active, [active.pending or 1], True)]
        started = time.perf_counter()
        engine._decode(plan)
        times.append((time.perf_counter() - started) * 1000)
        active.slot.n_past += 1
    stream.close()  # type: ignore[attr-defined]
    gen.reset_cache()
    return statistics.median(times)


def bench(model_path: Path, threads: int, repeats: int) -> dict[str, object]:
    persona = load_persona(PERSONA)
    opts = LlamaOptions(threads=threads)

    loads = []
    for _ in range(3):
        started = time.perf_counter()
        gen = LlamaCppGenerator(model_path, options=opts)
        loads.append((time.perf_counter() - started) * 1000)
        gen.close()

    gen = LlamaCppGenerator(model_path, options=opts)
    prompt_tokens = gen.count_tokens(Npc(persona, gen).say("x").prompt.text)
    step_ms = raw_step_ms(gen)

    cold, prefix, warm = [], [], []
    for i in range(repeats):
        line = LINES[i % len(LINES)]
        gen.reset_cache()  # nothing cached: the whole prompt is read
        cold.append(first_piece_ms(Npc(persona, gen), line, seed=i))
        # A new conversation with the same NPC: the persona prefix is cached.
        npc = Npc(persona, gen)
        prefix.append(first_piece_ms(npc, LINES[(i + 1) % len(LINES)], seed=i))
        # The conversation goes on: everything up to the new line is cached.
        warm.append(first_piece_ms(npc, LINES[(i + 2) % len(LINES)], seed=i))

    rates = []
    params = SamplingParams(max_tokens=128, temperature=0.7, seed=0, forbid_empty=True)
    for i in range(repeats):
        gen.reset_cache()
        stream = gen.generate(STORY, SamplingParams(**{**_fields(params), "seed": i}))
        first = next(stream)
        started, count = time.perf_counter(), 0
        for _ in stream:
            count += 1
        elapsed = time.perf_counter() - started
        del first
        if count >= 16:
            rates.append(count / elapsed)
    gen.close()
    return {
        "threads": threads,
        "prompt_tokens": prompt_tokens,
        "load_ms": statistics.median(loads),
        "raw_decode_step_ms": step_ms,
        "ttft_cold_ms": {"p50": statistics.median(cold), "p90": pct(cold, 0.9)},
        "ttft_prefix_cached_ms": {"p50": statistics.median(prefix), "p90": pct(prefix, 0.9)},
        "ttft_conversation_cached_ms": {"p50": statistics.median(warm), "p90": pct(warm, 0.9)},
        "tokens_per_s": {"p50": statistics.median(rates), "min": min(rates), "n": len(rates)},
    }


def _fields(params: SamplingParams) -> dict[str, object]:
    return {name: getattr(params, name) for name in params.__dataclass_fields__}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--model", help="a GGUF file instead of the default model")
    parser.add_argument("--out", default=str(ROOT / "out"), help="folder for the JSON result")
    args = parser.parse_args()

    model_path = resolve_model(DEFAULT_MODEL, path=args.model)
    rows = [bench(model_path, t, args.repeats) for t in args.threads]
    result = {
        "model": model_path.name,
        "model_bytes": model_path.stat().st_size,
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "python": sys.version.split()[0],
        },
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rows": rows,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_dialogue.json").write_text(json.dumps(result, indent=2) + "\n")

    print(f"model {result['model']}, peak RSS {result['peak_rss_mb']:.0f} MB\n")
    print(
        "| threads | load | first token, cold | first token, persona cached | "
        "first token, conversation cached | tokens/s | raw decode step |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:

        def ms(key: str, r: dict[str, object] = r) -> str:
            v = r[key]
            assert isinstance(v, dict)
            return f"{v['p50']:.0f} ms (p90 {v['p90']:.0f})"

        tps = r["tokens_per_s"]
        assert isinstance(tps, dict)
        print(
            f"| {r['threads']} | {r['load_ms']:.0f} ms | {ms('ttft_cold_ms')} | "
            f"{ms('ttft_prefix_cached_ms')} | {ms('ttft_conversation_cached_ms')} | "
            f"{tps['p50']:.1f} (min {tps['min']:.1f}) | {r['raw_decode_step_ms']:.1f} ms |"
        )
    print(f"\nprompt: {rows[0]['prompt_tokens']} tokens; JSON in {out / 'bench_dialogue.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
