#!/usr/bin/env python3
"""Bridge benchmark: RPC round trip, cost per streamed token against in-process,
and many clients at once.

    .venv/bin/python tools/bench_bridge.py [--quick] [--model]

The server runs in its own process (this script, started again with
``--serve``), on the scripted fake generator, so the figures are the bridge's
own cost and not the model's:

1. round trip of ``rpc.ping`` on loopback, sync client, p50/p99/max;
2. a long scripted reply (one piece per word) streamed in-process through
   ``Runtime.update`` and over the bridge: wall time and CPU time per piece
   (CPU of both processes over the bridge);
3. 32 clients at once, 100 requests each (90 ``rpc.ping``, 10 ``npc.say``
   read to the end), every answer checked: errors, latency, throughput.

``--model`` adds the real model: the same replies (same seeds) in-process and
through ``npc-ai serve``, tokens/s and first text. ``--structured`` runs only
the real model's structured replies (protocol 1.1), in-process and over the
bridge with the same seeds, one NPC alone on each side: time to done and
whether the line, emotion and action match. Prints Markdown tables for
docs/BENCHMARKS.md; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bridge.client import Client  # noqa: E402
from bridge.protocol import Limits  # noqa: E402
from bridge.server import BridgeServer, ServerOptions  # noqa: E402
from npc_ai.backends import ScriptedGenerator  # noqa: E402
from npc_ai.dialogue.npc import DialogueOptions  # noqa: E402
from npc_ai.dialogue.persona import load_persona  # noqa: E402
from npc_ai.engine import SerialEngine  # noqa: E402
from npc_ai.memory import MemoryStore  # noqa: E402
from npc_ai.runtime import ReplyDone, Runtime, RuntimeOptions  # noqa: E402

PERSONA = ROOT / "sample_game" / "personas" / "blacksmith.toml"
SHORT = " Aye, leave it here. I will mend it by dusk."


LORE = (
    "the old iron needs a long fire and steady hand before it takes new edge so bring me "
    "coal from mine water well quick now lad blade hilt guard pommel rivet oak ash"
)
VOCABULARY = LORE.split()


def fresh_lines(words: int) -> Callable[[str], str]:
    """A script of ever new lines of ``words`` plain words (a line the NPC said before
    would count as a repeat, and the dialogue core would try again)."""
    rng = random.Random(7)

    def line(prompt: str) -> str:
        return " " + " ".join(rng.choice(VOCABULARY) for _ in range(words)) + "."

    return line


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


#: Seconds per scripted piece: slower than the server's 2 ms poll, so each piece
#: travels as its own message (a real model on this machine: ~13 ms per token).
PIECE_DELAY = 0.005


def fake_runtime(script: list[str] | Callable[[str], str], delay: float = 0.0) -> Runtime:
    generator = ScriptedGenerator(script, delay=delay)
    return Runtime(SerialEngine(generator), options=RuntimeOptions(budget_ms=5))


# -- the server process --------------------------------------------------------------------


def serve(discovery: Path, words: int, delay: float) -> None:
    """Run a fake-model server until stdin closes (``words`` 0: a short line)."""
    runtime = fake_runtime(fresh_lines(words) if words else [SHORT], delay)

    async def main() -> None:
        # 32 clients at once in the third figure: past the default client limit of a game.
        options = ServerOptions(
            discovery=discovery, persona_dirs=(PERSONA.parent,), limits=Limits(max_clients=64)
        )
        server = BridgeServer(runtime, options)
        await server.start()
        loop = asyncio.get_running_loop()
        closed = asyncio.Event()
        loop.add_reader(sys.stdin.fileno(), closed.set)
        await closed.wait()
        await server.close()

    asyncio.run(main())
    runtime.close()


class ServerProcess:
    def __init__(self, command: list[str], discovery: Path) -> None:
        self.discovery = discovery
        self.proc = subprocess.Popen(command, stdin=subprocess.PIPE)
        deadline = time.monotonic() + 120
        while not discovery.exists():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("the server did not start")
            time.sleep(0.05)

    def cpu(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def client(self) -> Client:
        return Client.connect(self.discovery, timeout=120)

    def stop(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()  # the fake server stops at end of input
        try:
            self.proc.wait(3)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGTERM)  # npc-ai serve stops on a signal
            self.proc.wait(30)


# -- 1. round trip -------------------------------------------------------------------------


def round_trip(server: ServerProcess, count: int) -> dict[str, float]:
    with server.client() as c:
        for _ in range(200):  # warm-up
            c.call("rpc.ping")
        times = []
        for i in range(count):
            start = time.perf_counter()
            c.call("rpc.ping", echo=i)
            times.append((time.perf_counter() - start) * 1e6)
    return {
        "count": count,
        "p50_us": pct(times, 50),
        "p99_us": pct(times, 99),
        "max_us": max(times),
    }


# -- 2. streamed pieces --------------------------------------------------------------------


def stream_in_process(words: int, replies: int) -> dict[str, float]:
    """``replies`` replies one after another, ``Runtime.update`` polled every 2 ms
    (the server's own poll interval while a reply runs)."""
    rt = fake_runtime(fresh_lines(words), PIECE_DELAY)
    npc = rt.add_npc(load_persona(PERSONA))
    pieces = events = 0
    try:
        cpu0, start = time.process_time(), time.perf_counter()
        for _ in range(replies):
            handle = rt.say(npc, "Talk.")
            while not handle.done:
                events += sum(not isinstance(e, ReplyDone) for e in rt.update())
                time.sleep(0.002)
            pieces += len(handle.text.split())
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu0
    finally:
        rt.close()
    return per_piece(wall, cpu, pieces, events)


def stream_bridge(server: ServerProcess, replies: int) -> dict[str, float]:
    """Replies of the same kind over the bridge; CPU of both processes. Pieces are
    counted as words of the final texts (one scripted piece per word)."""
    messages = pieces = 0
    with server.client() as c:
        c.call("npc.load", id="smith", file=PERSONA.name)
        c.say("smith", "Warm up.").read()
        cpu0, scpu0, start = time.process_time(), server.cpu(), time.perf_counter()
        for _ in range(replies):
            reply = c.say("smith", "Talk.")
            messages += sum(1 for _ in reply)
            pieces += len(reply.text.split())
        wall = time.perf_counter() - start
        cpu = time.process_time() - cpu0 + server.cpu() - scpu0
    return per_piece(wall, cpu, pieces, messages)


def per_piece(wall: float, cpu: float, pieces: int, msgs: int) -> dict[str, float]:
    return {
        "pieces": pieces,
        "delta_messages": msgs,
        "wall_us_per_piece": wall / pieces * 1e6,
        "cpu_us_per_piece": cpu / pieces * 1e6,
    }


# -- 3. many clients -----------------------------------------------------------------------


def many_clients(server: ServerProcess, clients: int, requests: int) -> dict[str, float]:
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(clients)

    def run(i: int) -> None:
        mine: list[float] = []
        try:
            with server.client() as c:
                c.call("npc.load", id=f"n{i}", file=PERSONA.name)
                barrier.wait()
                for j in range(requests):
                    start = time.perf_counter()
                    if j % 10 == 9:
                        text = c.say(f"n{i}", "Hello").read()
                        if not text:
                            raise AssertionError("empty reply")
                    elif c.call("rpc.ping", echo=[i, j]) != {"echo": [i, j]}:
                        raise AssertionError("wrong echo")
                    mine.append((time.perf_counter() - start) * 1e3)
        except Exception as exc:
            with lock:
                errors.append(f"client {i}: {exc!r}")
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    for e in errors[:5]:
        log(e)
    return {
        "clients": clients,
        "requests": clients * requests,
        "answered": len(latencies),
        "errors": len(errors),
        "wall_s": wall,
        "p50_ms": pct(latencies, 50) if latencies else 0.0,
        "p99_ms": pct(latencies, 99) if latencies else 0.0,
    }


# -- real model ----------------------------------------------------------------------------

LINES = ["Can you mend my sword?", "What news from the mountain pass?", "How much for an axe?"]


def timed(pieces: Any) -> tuple[float, float, str]:
    """First text and the whole reply (ms, from the say), and the text."""
    start, first, text = time.perf_counter(), 0.0, ""
    for piece in pieces:
        first = first or time.perf_counter() - start
        text += piece
    return first * 1e3, (time.perf_counter() - start) * 1e3, text


def local_pieces(rt: Runtime, npc: str, line: str, seed: int) -> Any:
    handle = rt.say(npc, line, seed=seed)
    while not handle.done:
        for event in rt.update():
            if not isinstance(event, ReplyDone):
                yield event.text  # type: ignore[union-attr]
        time.sleep(0.002)


def model_compare(tmp: Path, rounds: int) -> dict[str, Any]:
    """The same lines and seeds in-process and over ``npc-ai serve``, alternating."""
    from npc_ai.backends.llama_cpp import LlamaOptions
    from npc_ai.backends.llama_engine import EngineOptions, LlamaBatchEngine
    from npc_ai.models.cache import resolve_model

    npc_ai = str(Path(sys.executable).with_name("npc-ai"))
    discovery = tmp / "model.json"
    cmd = [npc_ai, "serve", "--discovery", str(discovery), "--threads", "1"]
    server = ServerProcess([*cmd, "--personas", str(PERSONA.parent)], discovery)
    engine = LlamaBatchEngine(
        resolve_model("gemma3-270m"), options=EngineOptions(llama=LlamaOptions(threads=1))
    )
    out: dict[str, list[float]] = {"local_first": [], "local_whole": [], "bridge_first": []}
    out["bridge_whole"] = []
    same = total = 0
    try:
        # The same set-up as npc-ai serve's: a memory store in memory.
        with (
            MemoryStore() as store,
            Runtime(engine, options=RuntimeOptions(budget_ms=5), memory=store) as rt,
            server.client() as c,
        ):
            npc = rt.add_npc(load_persona(PERSONA), npc_id="smith")
            rt.prepare(npc).result(60)
            c.call("npc.load", id="smith", file=PERSONA.name)
            for r in range(rounds):
                for i, line in enumerate(LINES):
                    seed = r * 10 + i
                    texts = {}
                    order = ("local", "bridge") if (r + i) % 2 == 0 else ("bridge", "local")
                    for name in order:
                        pieces = (
                            local_pieces(rt, npc, line, seed)
                            if name == "local"
                            else iter(c.say("smith", line, seed=seed))
                        )
                        first, whole, texts[name] = timed(pieces)
                        out[f"{name}_first"].append(first)
                        out[f"{name}_whole"].append(whole)
                    total += 1
                    same += texts["local"] == texts["bridge"]
    finally:
        server.stop()
    result: dict[str, Any] = {k: statistics.median(v) for k, v in out.items()}
    result["replies"] = total
    result["same_text"] = same
    return result


# -- structured replies, real model (protocol 1.1) ------------------------------------------

STRUCTURED_LINES = [
    "Can you mend my sword?",
    "How much for an axe?",
    "Where is the inn?",
    "You cheated me, smith!",
]


def structured_compare(tmp: Path, rounds: int) -> dict[str, Any]:
    """Structured replies in-process (a Runtime) and over ``npc-ai serve`` (``structured:
    true``), the same lines and seeds, one NPC alone on each side, alternating which goes
    first. A first reply on each side (not counted) measures the NPC's calibration."""
    from npc_ai.backends.llama_cpp import LlamaOptions
    from npc_ai.backends.llama_engine import EngineOptions, LlamaBatchEngine
    from npc_ai.models.cache import resolve_model

    npc_ai = str(Path(sys.executable).with_name("npc-ai"))
    discovery = tmp / "structured.json"
    cmd = [npc_ai, "serve", "--discovery", str(discovery), "--threads", "1", "--no-subtitles"]
    server = ServerProcess([*cmd, "--personas", str(PERSONA.parent)], discovery)
    engine = LlamaBatchEngine(
        resolve_model("gemma3-270m"), options=EngineOptions(llama=LlamaOptions(threads=1))
    )
    done_ms: dict[str, list[float]] = {"local": [], "bridge": []}
    rows: list[dict[str, Any]] = []
    try:
        with (
            MemoryStore() as store,
            Runtime(engine, options=RuntimeOptions(budget_ms=5), memory=store) as rt,
            server.client() as c,
        ):
            npc = rt.add_npc(
                load_persona(PERSONA), npc_id="smith", dialogue=DialogueOptions(structured=True)
            )
            rt.prepare(npc).result(60)
            c.load("smith", file=PERSONA.name, structured=True)
            c.prepare("smith")

            def local(line: str, seed: int) -> tuple[float, tuple[str, str, str, str]]:
                start = time.perf_counter()
                handle = rt.say(npc, line, seed=seed)
                done: list[ReplyDone] = []
                while not handle.done:
                    done += [e for e in rt.update() if isinstance(e, ReplyDone)]
                    time.sleep(0.002)
                ms = (time.perf_counter() - start) * 1e3
                s = done[-1].structured
                assert s is not None
                return ms, (done[-1].text, s.emotion, s.action, json.dumps(dict(s.args)))

            def bridge(line: str, seed: int) -> tuple[float, tuple[str, str, str, str]]:
                start = time.perf_counter()
                reply = c.say("smith", line, seed=seed)
                text = reply.read()
                ms = (time.perf_counter() - start) * 1e3
                assert reply.emotion is not None and reply.action is not None
                return ms, (text, reply.emotion, reply.action, json.dumps(reply.args))

            local("Good morning.", 1)  # calibration, once per NPC, on both sides
            bridge("Good morning.", 1)
            for r in range(rounds):
                for i, line in enumerate(STRUCTURED_LINES):
                    seed = 100 + r * 10 + i
                    got = {}
                    order = ("local", "bridge") if (r + i) % 2 == 0 else ("bridge", "local")
                    for name in order:
                        ms, got[name] = (local if name == "local" else bridge)(line, seed)
                        done_ms[name].append(ms)
                    rows.append({"line": line, "seed": seed, **got})
                    log(f"  {line!r} seed {seed}: {got['local'][1:3]} / {got['bridge'][1:3]}")
    finally:
        server.stop()
    return {
        "replies": len(rows),
        "local_done_p50": statistics.median(done_ms["local"]),
        "bridge_done_p50": statistics.median(done_ms["bridge"]),
        "same_text": sum(r["local"][0] == r["bridge"][0] for r in rows),
        "same_emotion": sum(r["local"][1] == r["bridge"][1] for r in rows),
        "same_action": sum(r["local"][2:] == r["bridge"][2:] for r in rows),
        "rows": rows,
    }


def print_structured(m: dict[str, Any]) -> None:
    n = m["replies"]
    print(
        f"| structured reply, real model, 1 thread, {n} replies each | time to done (p50) "
        "| same line | same emotion | same action and args |"
    )
    print("| --- | --- | --- | --- | --- |")
    print(f"| in-process (`Runtime`) | {m['local_done_p50']:.0f} ms | | | |")
    print(
        f"| over the bridge (`npc.done`) | {m['bridge_done_p50']:.0f} ms "
        f"| {m['same_text']} of {n} | {m['same_emotion']} of {n} | {m['same_action']} of {n} |"
    )
    print(f"| ratio | {m['bridge_done_p50'] / m['local_done_p50']:.2f}x | | | |\n")
    print("| line | seed | emotion, action (both ways) |")
    print("| --- | --- | --- |")
    for row in m["rows"]:
        local, bridge = row["local"], row["bridge"]
        both = f"{local[1]}, {local[2]} {local[3]}"
        if local[1:] != bridge[1:]:
            both += f" / bridge: {bridge[1]}, {bridge[2]} {bridge[3]}"
        print(f"| {row['line']} | {row['seed']} | {both} |")


# -- main ----------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--model", action="store_true", help="also the real model")
    parser.add_argument(
        "--structured",
        action="store_true",
        help="only structured replies of the real model, in-process and over the bridge",
    )
    parser.add_argument("--serve", metavar="DISCOVERY", help=argparse.SUPPRESS)
    parser.add_argument("--words", type=int, default=200, help=argparse.SUPPRESS)
    parser.add_argument("--delay", type=float, default=PIECE_DELAY, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(Path(args.serve), args.words, args.delay)
        return
    pings, replies = (1000, 20) if args.quick else (5000, 100)
    results: dict[str, Any] = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "load_before": os.getloadavg()[0],
    }
    if args.structured:
        with tempfile.TemporaryDirectory() as tmp_name:
            log("structured replies, real model, in-process and over the bridge")
            results["structured"] = structured_compare(Path(tmp_name), 2 if args.quick else 3)
        results["load_after"] = os.getloadavg()[0]
        print(json.dumps(results, indent=1))
        print(
            f"\nMachine: {results['machine']}; 1-min load {results['load_before']:.1f} "
            f"before, {results['load_after']:.1f} after.\n"
        )
        print_structured(results["structured"])
        return
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        discovery = tmp / "bridge.json"
        command = [sys.executable, __file__, "--serve", str(discovery), "--words", str(args.words)]
        server = ServerProcess(command, discovery)
        try:
            log("round trip")
            results["round_trip"] = round_trip(server, pings)
            log("streaming in-process and over the bridge")
            results["in_process"] = stream_in_process(args.words, replies)
            results["bridge"] = stream_bridge(server, replies)
        finally:
            server.stop()
        # Many clients: short lines at once, so the serial fake engine is not the bottleneck.
        discovery = tmp / "many.json"
        command = [sys.executable, __file__, "--serve", str(discovery), "--words", "0"]
        server = ServerProcess([*command, "--delay", "0"], discovery)
        try:
            log("32 clients x 100 requests")
            results["many"] = many_clients(server, 32, 100)
        finally:
            server.stop()
        if args.model:
            log("real model, in-process and over the bridge")
            results["model"] = model_compare(tmp, 2 if args.quick else 5)
    results["load_after"] = os.getloadavg()[0]
    results["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(results, indent=1))
    print_tables(results)


def print_tables(r: dict[str, Any]) -> None:
    rt, ip, br, many = r["round_trip"], r["in_process"], r["bridge"], r["many"]
    print(
        f"\nMachine: {r['machine']}; 1-min load {r['load_before']:.1f} before, "
        f"{r['load_after']:.1f} after.\n"
    )
    print("| rpc.ping round trip (loopback, sync client) | p50 | p99 | max |")
    print("| --- | --- | --- | --- |")
    print(
        f"| {rt['count']} calls | {rt['p50_us']:.0f} µs | {rt['p99_us']:.0f} µs "
        f"| {rt['max_us']:.0f} µs |\n"
    )
    print("| streamed reply, fake model | pieces | deltas | wall per piece | CPU per piece |")
    print("| --- | --- | --- | --- | --- |")
    for name, x in (("in-process (`Runtime.update`)", ip), ("over the bridge", br)):
        print(
            f"| {name} | {x['pieces']} | {x['delta_messages']} "
            f"| {x['wall_us_per_piece']:.1f} µs | {x['cpu_us_per_piece']:.1f} µs |"
        )
    print(
        f"| ratio bridge / in-process | | | "
        f"{br['wall_us_per_piece'] / ip['wall_us_per_piece']:.1f}x "
        f"| {br['cpu_us_per_piece'] / ip['cpu_us_per_piece']:.1f}x |\n"
    )
    print("| many clients | requests | answered | errors | wall | p50 | p99 |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    print(
        f"| {many['clients']} clients x {many['requests'] // many['clients']} | "
        f"{many['requests']} | {many['answered']} | {many['errors']} | "
        f"{many['wall_s']:.1f} s | {many['p50_ms']:.2f} ms | {many['p99_ms']:.2f} ms |"
    )
    if "model" in r:
        m = r["model"]
        print(
            f"\n| real model, 1 thread, {m['replies']} replies each, alternating "
            "| first text (median) | whole reply (median) |"
        )
        print("| --- | --- | --- |")
        print(f"| in-process | {m['local_first']:.0f} ms | {m['local_whole']:.0f} ms |")
        print(f"| over the bridge | {m['bridge_first']:.0f} ms | {m['bridge_whole']:.0f} ms |")
        print(
            f"| ratio | {m['bridge_first'] / m['local_first']:.2f}x "
            f"| {m['bridge_whole'] / m['local_whole']:.2f}x |"
        )
        print(f"\nSame text both ways (same seed): {m['same_text']} of {m['replies']}.")


if __name__ == "__main__":
    main()
