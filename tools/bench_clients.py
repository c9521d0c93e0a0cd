#!/usr/bin/env python3
"""Engine clients of the bridge, side by side: the Unity package's C# core (run with Mono)
and the Python client, against one server in its own process on the scripted fake model.

    .venv/bin/python tools/bench_clients.py [--quick]

Per client, in alternating rounds: rpc.ping round trip; npc.say to the first delta; the
client process's CPU per streamed piece. For the Unity component: main-thread time of
NpcAiBridge.Update per event when a whole reply waits in its queue (Mono's JIT, with the
UnityEngine stub; Unity's own runtime will differ). Prints Markdown for docs/BENCHMARKS.md;
progress goes to stderr. Needs mcs and mono.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bridge.client import Client  # noqa: E402

UNITY = ROOT / "bridge" / "unity"
#: Words per scripted reply and seconds per piece (as tools/bench_bridge.py streams them).
WORDS, DELAY = 60, 0.005


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def build(out: Path) -> Path:
    exe = out / "BridgeSmoke.exe"
    sources = sorted((UNITY / "Runtime").glob("*.cs")) + sorted((UNITY / "Tests~").glob("*.cs"))
    command = ["mcs", "-langversion:6", "-optimize+", "-nologo", f"-out:{exe}"]
    subprocess.run([*command, *map(str, sources)], check=True)
    return exe


class Server:
    """tools/bench_bridge.py's fake-model server, in its own process."""

    def __init__(self, discovery: Path) -> None:
        command = [sys.executable, str(ROOT / "tools" / "bench_bridge.py"), "--serve"]
        command += [str(discovery), "--words", str(WORDS), "--delay", str(DELAY)]
        self.proc = subprocess.Popen(command, stdin=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while not discovery.exists():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("the server did not start")
            time.sleep(0.05)
        found = json.loads(discovery.read_text(encoding="utf-8"))
        self.port, self.token = int(found["port"]), str(found["token"])

    def stop(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(10)


def python_round(server: Server, pings: int, replies: int, npc: str) -> dict[str, Any]:
    with Client.connect(port=server.port, token=server.token, timeout=60) as c:
        for i in range(200):
            c.call("rpc.ping", echo=i)
        ping = []
        for i in range(pings):
            start = time.perf_counter()
            c.call("rpc.ping", echo=i)
            ping.append((time.perf_counter() - start) * 1e6)
        c.call("npc.load", id=npc, file="blacksmith.toml")
        first, pieces = [], 0
        cpu0 = time.process_time()
        for _ in range(replies):
            start = time.perf_counter()
            reply = c.say(npc, "Talk.")
            for i, _piece in enumerate(reply):
                if i == 0:
                    first.append((time.perf_counter() - start) * 1e3)
                pieces += 1
        cpu = time.process_time() - cpu0
    return {"ping_us": ping, "first_ms": first, "pieces": pieces, "cpu_s": cpu}


def csharp_round(exe: Path, server: Server, pings: int, replies: int) -> dict[str, Any]:
    command = ["mono", "--optimize=all", str(exe), "bench", "--port", str(server.port)]
    command += ["--token", server.token, "--pings", str(pings), "--replies", str(replies)]
    done = subprocess.run(command, capture_output=True, text=True, check=True, timeout=600)
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def merge(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"ping_us": [], "first_ms": [], "update_us": [], "pieces": 0}
    out["cpu_s"] = 0.0
    for r in rounds:
        for key in ("ping_us", "first_ms", "update_us"):
            out[key] += r.get(key, [])
        out["pieces"] += r["pieces"]
        out["cpu_s"] += r["cpu_s"]
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    args = parser.parse_args()
    if not (shutil.which("mcs") and shutil.which("mono")):
        log("mcs and mono are needed (apt-get install mono-mcs mono-runtime)")
        return 2
    rounds, pings, replies = (1, 500, 5) if args.quick else (2, 2000, 20)
    load0 = os.getloadavg()[0]
    results: dict[str, list[dict[str, Any]]] = {"python": [], "csharp": []}
    with tempfile.TemporaryDirectory() as tmp:
        exe = build(Path(tmp))
        server = Server(Path(tmp) / "bridge.json")
        try:
            for r in range(rounds):
                order = ["csharp", "python"] if r % 2 == 0 else ["python", "csharp"]
                for who in order:
                    log(f"round {r + 1}: {who}")
                    if who == "python":
                        results[who].append(python_round(server, pings, replies, f"py{r}"))
                    else:
                        results[who].append(csharp_round(exe, server, pings, replies))
        finally:
            server.stop()
    load1 = os.getloadavg()[0]
    py, cs = merge(results["python"]), merge(results["csharp"])
    print(f"Measured {time.strftime('%Y-%m-%d')} on {platform.machine()}, {os.cpu_count()} cores")
    print(f"(1-min load average {load0:.1f} before, {load1:.1f} after); {rounds} rounds.\n")
    print("| client | rpc.ping p50 | p99 | say to first delta (median) | CPU per piece |")
    print("| --- | --- | --- | --- | --- |")
    rows = {}
    for name, r in (("Python (`bridge.client`)", py), ("C# core (`BridgeClient`, Mono)", cs)):
        row = {
            "p50": pct(r["ping_us"], 50),
            "p99": pct(r["ping_us"], 99),
            "first": statistics.median(r["first_ms"]),
            "cpu": r["cpu_s"] / max(r["pieces"], 1) * 1e6,
        }
        rows[name] = row
        print(
            f"| {name} | {row['p50']:.0f} µs | {row['p99']:.0f} µs | {row['first']:.1f} ms "
            f"| {row['cpu']:.0f} µs |"
        )
    a, b = rows.values()
    print(
        f"| ratio C# / Python | {b['p50'] / a['p50']:.2f}x | {b['p99'] / a['p99']:.2f}x "
        f"| {b['first'] / a['first']:.2f}x | {b['cpu'] / a['cpu']:.2f}x |"
    )
    print(f"\nPieces per client: {py['pieces']} (Python), {cs['pieces']} (C#).")
    if cs["update_us"]:
        update = statistics.median(cs["update_us"])
        print(
            f"NpcAiBridge.Update on the main thread: median {update:.2f} µs per event "
            f"({len(cs['update_us'])} drains of a whole queued reply)."
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
