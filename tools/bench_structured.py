#!/usr/bin/env python3
"""Structured replies: llama.cpp grammar sampling against a free line + trie choices.

    .venv/bin/python tools/bench_structured.py [--threads 1] [--out out/]

On the same prompts (the hand-labelled player lines of
tools/structured_labels.py, each in a fresh conversation with its persona
cached), side by side in one process:

(a) grammar: the NPC's reply as a JSON object {"say": ..., "emotion": ...,
    "action": ...}, sampled with a GBNF grammar (llama.cpp's grammar sampler
    in the sampler chain over the whole vocabulary, where llama-cpp-python's
    ``Llama(grammar=...)`` puts it), emotion and action enumerated from the
    persona. Time per reply; valid = the JSON parses and every field is allowed.
(b) choice: the line generated freely (``Npc.say``), then the emotion and the
    action picked by two choice jobs (``npc_ai.dialogue.structured.choose``). Time of
    the line, time added by the choice; valid as above.

Then how plausible the choices are on hand-written NPC lines with hand
labels, for three ways of writing the stage direction. Medians and p90 over
every prompt; JSON in out/bench_structured.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

from bench_dialogue import raw_step_ms  # noqa: E402
from structured_labels import CASES  # noqa: E402

import npc_ai.backends.llama_engine as llama_engine  # noqa: E402
from npc_ai.backends._llama import make_sampler  # noqa: E402
from npc_ai.backends.llama_cpp import LlamaCppGenerator, LlamaOptions  # noqa: E402
from npc_ai.dialogue.npc import Npc  # noqa: E402
from npc_ai.dialogue.persona import NO_ACTION, Persona, load_persona  # noqa: E402
from npc_ai.dialogue.prompt import Turn, build_prompt  # noqa: E402
from npc_ai.dialogue.structured import (  # noqa: E402
    ReplyStructure,
    StructuredReply,
    StructureOptions,
    calibrate,
    choose,
    persona_hint,
)
from npc_ai.generation import SamplingParams  # noqa: E402

PERSONAS = ROOT / "sample_game" / "personas"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(values: list[float]) -> dict[str, float]:
    return {"p50": statistics.median(values), "p90": pct(values, 0.9)}


# -- (a) grammar ---------------------------------------------------------------------------


def phrases(structure: ReplyStructure) -> dict[str, tuple[str, dict[str, str]]]:
    """Each allowed action as the model reads it, without the choice's "]"."""
    out = {}
    for choice in structure.action_params.choices:
        record = structure.parse("x", structure.emotion_params.choices[0], choice)
        out[choice.strip().rstrip("]")] = (record.action, dict(record.args))
    return out


def gbnf(structure: ReplyStructure) -> str:
    def alternatives(items: list[str]) -> str:
        return " | ".join(json.dumps(json.dumps(item)) for item in items)

    return "\n".join(
        [
            'root ::= " {\\"say\\": \\"" say "\\", \\"emotion\\": " emotion '
            '", \\"action\\": " action "}"',
            'say ::= [^"\\\\\\n]+',
            f"emotion ::= {alternatives(list(structure.emotions))}",
            f"action ::= {alternatives(list(phrases(structure)))}",
        ]
    )


def grammar_sampler(grammar: str) -> Callable[..., Any]:
    """make_sampler with llama.cpp's grammar sampler first, over the whole vocabulary."""

    def build(ll: Any, n_vocab: int, params: SamplingParams, seed: int) -> Any:
        chain = ll.llama_sampler_chain_init(ll.llama_sampler_chain_default_params())
        vocab = GRAMMAR_VOCAB[0]
        ll.llama_sampler_chain_add(
            chain, ll.llama_sampler_init_grammar(vocab, grammar.encode(), b"root")
        )
        rest = make_sampler(ll, n_vocab, params, seed)
        # Move the usual chain's steps behind the grammar.
        while ll.llama_sampler_chain_n(rest):
            ll.llama_sampler_chain_add(chain, ll.llama_sampler_chain_remove(rest, 0))
        ll.llama_sampler_free(rest)
        return chain

    return build


GRAMMAR_VOCAB: list[Any] = []


def check_json(text: str, structure: ReplyStructure) -> StructuredReply | None:
    try:
        data = json.loads(text)
        allowed = phrases(structure)
        action, args = allowed[data["action"]]
        if data["emotion"] not in structure.emotions or not data["say"].strip():
            return None
        return StructuredReply(say=data["say"], emotion=data["emotion"], action=action, args=args)
    except (ValueError, KeyError, TypeError):
        return None


def run_grammar(gen: LlamaCppGenerator, persona: Persona, line: str, seed: int) -> dict[str, Any]:
    structure = ReplyStructure.for_persona(persona)
    npc = Npc(persona, gen)
    npc.prepare()
    prompt = npc.begin_turn(line)
    base = npc.sampling(seed)
    params = SamplingParams(
        max_tokens=96,
        temperature=base.temperature,
        top_k=base.top_k,
        top_p=base.top_p,
        min_p=base.min_p,
        repeat_penalty=base.repeat_penalty,
        seed=seed,
        forbid_empty=False,
    )
    llama_engine.make_sampler = grammar_sampler(gbnf(structure))  # type: ignore[assignment]
    try:
        started = time.perf_counter()
        pieces = list(gen.generate(prompt.segments, params))
        elapsed = time.perf_counter() - started
    finally:
        llama_engine.make_sampler = make_sampler
    text = "".join(pieces)
    record = check_json(text, structure)
    return {"ms": elapsed * 1000, "tokens": len(pieces), "valid": record is not None, "text": text}


# -- (b) free line + choices -------------------------------------------------------------------


def valid(record: StructuredReply, persona: Persona) -> bool:
    if record.emotion not in (persona.emotions or ()):
        return False
    if record.action == NO_ACTION:
        return not record.args
    action = next((a for a in persona.actions if a.name == record.action), None)
    return action is not None and all(
        record.args.get(arg.name) in arg.values for arg in action.args
    )


def run_choice(gen: LlamaCppGenerator, persona: Persona, line: str, seed: int) -> dict[str, Any]:
    structure = ReplyStructure.for_persona(persona)
    npc = Npc(persona, gen)
    npc.prepare()
    started = time.perf_counter()
    reply = npc.say(line, seed=seed)
    say = reply.read()
    middle = time.perf_counter()
    record = choose(gen, reply.prompt.segments, say, structure)
    done = time.perf_counter()
    return {
        "line_ms": (middle - started) * 1000,
        "choice_ms": (done - middle) * 1000,
        "tokens": gen.count_tokens(say),
        "valid": valid(record, persona),
        "text": json.dumps(record.to_dict()),
    }


# -- plausibility on hand-labelled lines ------------------------------------------------------


def plausibility(gen: LlamaCppGenerator, personas: dict[str, Persona]) -> dict[str, Any]:
    variants = {  # hint in the stage direction, hint in the header, calibrated
        "plain": (False, False, False),
        "hint in stage": (True, False, False),
        "hint in header": (False, True, False),
        "calibrated": (False, False, True),
        "calibrated, hint in header": (False, True, True),
    }
    out: dict[str, Any] = {}
    for name, (stage, header, cal) in variants.items():
        emotion = action = verb = 0
        picks = []
        structures = {}
        for stem, persona in personas.items():
            structures[stem] = ReplyStructure.for_persona(persona, StructureOptions(hint=stage))
            if cal:
                prefix = build_prompt(persona, []).prefix
                if header:
                    prefix = prefix.replace("Now:\n", persona_hint(persona) + "\nNow:\n")
                structures[stem] = calibrate(gen, structures[stem], prefix=prefix)
        for stem, line, say, emotions, actions in CASES:
            persona = personas[stem]
            structure = structures[stem]
            parts = build_prompt(persona, [Turn("player", line)])
            prefix = parts.prefix
            if header:  # the listing joins the persona's header (cached with it)
                prefix = prefix.replace("Now:\n", persona_hint(persona) + "\nNow:\n")
            record = choose(gen, (prefix, *parts.chunks), say, structure)
            phrase = " ".join([record.action.replace("_", " "), *record.args.values()])
            emotion += record.emotion in emotions
            action += phrase in actions
            verb += any(phrase.split()[0] == a.split()[0] for a in actions)
            picks.append(f"{record.emotion} / {phrase}")
        n = len(CASES)
        out[name] = {
            "emotion": emotion / n,
            "action": action / n,
            "action_name": verb / n,
            "distinct_picks": len(set(picks)),
        }
    # What picking uniformly at random would score.
    chance_e = chance_a = 0.0
    for stem, _line, _say, emotions, actions in CASES:
        structure = ReplyStructure.for_persona(personas[stem])
        chance_e += len(emotions) / len(structure.emotions)
        chance_a += len(actions) / len(structure.action_params.choices)
    out["random"] = {"emotion": chance_e / len(CASES), "action": chance_a / len(CASES)}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=str(ROOT / "out"), help="folder for the JSON result")
    args = parser.parse_args()

    personas = {stem: load_persona(PERSONAS / f"{stem}.toml") for stem in {c[0] for c in CASES}}
    gen = LlamaCppGenerator.from_default(options=LlamaOptions(threads=args.threads))
    GRAMMAR_VOCAB.append(gen.engine.model.vocab)
    grammar, choice = [], []
    load_before = os.getloadavg()[0]
    step_ms = raw_step_ms(gen)
    # Warm-up: the first llama.cpp calls allocate.
    run_choice(gen, personas["blacksmith"], "Hello.", 0)
    for i, (stem, line, *_rest) in enumerate(CASES):
        # Alternate which goes first, so neither always finds a warmer machine.
        pair = [("g", run_grammar), ("c", run_choice)]
        for kind, run in pair if i % 2 else reversed(pair):
            (grammar if kind == "g" else choice).append(run(gen, personas[stem], line, i))
    load_after = os.getloadavg()[0]
    plaus = plausibility(gen, personas)
    gen.close()

    result = {
        "threads": args.threads,
        "prompts": len(CASES),
        "raw_decode_step_ms": step_ms,
        "load_average": [load_before, load_after],
        "grammar": {
            "reply_ms": summary([r["ms"] for r in grammar]),
            "tokens": summary([r["tokens"] for r in grammar]),
            "valid": sum(r["valid"] for r in grammar),
            "samples": [r["text"] for r in grammar[:6]],
        },
        "choice": {
            "line_ms": summary([r["line_ms"] for r in choice]),
            "choice_ms": summary([r["choice_ms"] for r in choice]),
            "total_ms": summary([r["line_ms"] + r["choice_ms"] for r in choice]),
            "line_tokens": summary([r["tokens"] for r in choice]),
            "valid": sum(r["valid"] for r in choice),
            "samples": [r["text"] for r in choice[:6]],
        },
        "plausibility": plaus,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_structured.json").write_text(json.dumps(result, indent=2) + "\n")

    g, c, n = result["grammar"], result["choice"], len(CASES)

    def ms(v: dict[str, float]) -> str:
        return f"{v['p50']:.0f} ms (p90 {v['p90']:.0f})"

    ratio = g["reply_ms"]["p50"] / c["total_ms"]["p50"]
    print(
        f"threads {args.threads}, {n} prompts, raw decode step {step_ms:.1f} ms, "
        f"load average {load_before:.1f} before, {load_after:.1f} after\n"
    )
    print("| method | reply tokens | line | structure | whole reply | valid |")
    print("| --- | --- | --- | --- | --- | --- |")
    print(
        f"| (a) grammar, JSON | {g['tokens']['p50']:.0f} | - | - | {ms(g['reply_ms'])} | "
        f"{g['valid']}/{n} |"
    )
    print(
        f"| (b) free line + choices | {c['line_tokens']['p50']:.0f} (line) | {ms(c['line_ms'])} "
        f"| {ms(c['choice_ms'])} | {ms(c['total_ms'])} | {c['valid']}/{n} |"
    )
    print(f"\nwhole reply, grammar / choice: {ratio:.1f}x\n")
    print("| stage direction | emotion plausible | action right | action name right | distinct |")
    print("| --- | --- | --- | --- | --- |")
    for name, v in plaus.items():
        if name == "random":
            continue
        print(
            f"| {name} | {v['emotion']:.0%} | {v['action']:.0%} | {v['action_name']:.0%} | "
            f"{v['distinct_picks']} |"
        )
    rnd = plaus["random"]
    print(f"| random pick (expected) | {rnd['emotion']:.0%} | {rnd['action']:.0%} | | |")
    print("\nsamples, grammar:", *g["samples"][:3], sep="\n  ")
    print("samples, choice:", *c["samples"][:3], sep="\n  ")
    return 0


if __name__ == "__main__":
    sys.exit(main())
