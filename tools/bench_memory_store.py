#!/usr/bin/env python3
"""Memory store benchmark: add() latency, export/import time, save blob and database sizes.

    .venv/bin/python tools/bench_memory_store.py [--adds 2000] [--repeats 7] [--quick]

Writes to a temporary folder in the system's temp dir. add() is timed one
record per call (one transaction each) with synchronous=NORMAL and FULL interleaved, so both
see the same disk and load. Export and import are timed for 1 NPC x 1,000 memories and
20 NPCs x 200. Memory texts are real English sentences (see corpus()) in a seeded random
order; a "turn" is the player's line (heard) and the NPC's reply (said), with a
fact every 10 turns and a summary every 50, as the memory layer writes them.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import platform
import random
import re
import sqlite3
import statistics
import sys
import tempfile
import time
import warnings
import zlib
from pathlib import Path
from typing import Any

import msgpack

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from npc_ai.memory.blob import load_state  # noqa: E402
from npc_ai.memory.records import NewMemory  # noqa: E402
from npc_ai.memory.store import MemoryStore, StoreOptions  # noqa: E402

_DOC_MODULES = [
    "argparse",
    "asyncio",
    "calendar",
    "collections",
    "configparser",
    "csv",
    "datetime",
    "decimal",
    "difflib",
    "email",
    "email.message",
    "fractions",
    "ftplib",
    "heapq",
    "http.client",
    "imaplib",
    "inspect",
    "json",
    "logging",
    "mailbox",
    "os",
    "pathlib",
    "pickle",
    "pprint",
    "queue",
    "random",
    "re",
    "sched",
    "selectors",
    "shutil",
    "smtplib",
    "socket",
    "sqlite3",
    "statistics",
    "string",
    "subprocess",
    "tarfile",
    "tempfile",
    "textwrap",
    "threading",
    "unittest",
    "urllib.request",
    "uuid",
    "wave",
    "zipfile",
    "zoneinfo",
]


def corpus() -> list[str]:
    """Distinct English sentences of 20-160 characters from the docstrings of some
    standard-library modules: about 4,000 on Python 3.11, fixed for a Python version. Real prose
    in a random order, so zlib finds about as much repetition as in NPC memories, whose lines
    vary."""
    docs: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in _DOC_MODULES:
            module = importlib.import_module(name)
            docs.append(module.__doc__ or "")
            for _, value in inspect.getmembers(module):
                docs.append(getattr(value, "__doc__", None) or "")
                if inspect.isclass(value):
                    docs.extend(getattr(f, "__doc__", None) or "" for _, f in vars(value).items())
    sentences: set[str] = set()
    for doc in docs:
        if not isinstance(doc, str):
            continue
        for sentence in re.split(r"(?<=[.!?])\s+", " ".join(doc.split())):
            if 20 <= len(sentence) <= 160 and _SENTENCE.match(sentence):
                sentences.add(sentence)
    return sorted(sentences)


_SENTENCE = re.compile(r"[A-Z][^=<>{}\[\]|#`*_]*[.!?]$")


def conversation(rng: random.Random, lines: list[str], count: int) -> list[NewMemory]:
    """``count`` memories as the memory layer writes them for a conversation with the player."""
    out: list[NewMemory] = []
    turn, clock = 0, 0.0
    while len(out) < count:
        turn += 1
        clock += rng.uniform(3.0, 30.0)
        out.append(
            NewMemory(kind="heard", text=rng.choice(lines), speaker="player", turn=turn, time=clock)
        )
        out.append(NewMemory(kind="said", text=rng.choice(lines), speaker="npc", turn=turn))
        if turn % 10 == 0:
            out.append(
                NewMemory(
                    kind="fact",
                    text=rng.choice(lines),
                    key=f"player.fact{turn // 10 % 7}",
                    turn=turn,
                    importance=1.0,
                )
            )
        if turn % 50 == 0:
            out.append(NewMemory(kind="summary", text=" ".join(rng.sample(lines, 3)), turn=turn))
    return out[:count]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def bench_add(folder: Path, lines: list[str], adds: int) -> dict[str, dict[str, float]]:
    rng = random.Random(1)
    records = conversation(rng, lines, adds)
    stores = {
        mode: MemoryStore(folder / f"add-{mode}.sqlite3", options=StoreOptions(synchronous=mode))
        for mode in ("normal", "full")
    }
    times: dict[str, list[float]] = {mode: [] for mode in stores}
    for record in records:  # interleaved: both modes share the same moments of disk load
        for mode, store in stores.items():
            started = time.perf_counter()
            store.add("smith", [record])
            times[mode].append((time.perf_counter() - started) * 1e6)
    for store in stores.values():
        store.close()
    return {
        mode: {"p50_us": statistics.median(t), "p99_us": pct(t, 0.99), "n": len(t)}
        for mode, t in times.items()
    }


def raw_size(blob: bytes) -> int:
    """The blob's size had its body been stored uncompressed."""
    name, version, codec, body = msgpack.unpackb(blob)
    if codec == 1:
        body = zlib.decompress(body)
    return len(msgpack.packb([name, version, 0, body], use_bin_type=True))


def bench_saves(
    folder: Path, lines: list[str], npcs: int, each: int, repeats: int
) -> dict[str, Any]:
    rng = random.Random(npcs * 1000 + each)
    path = folder / f"save-{npcs}x{each}.sqlite3"
    with MemoryStore(path) as store:
        turns = 0
        for n in range(npcs):
            memories = conversation(rng, lines, each)
            turns += memories[-1].turn
            store.add(f"npc{n:02d}", memories)
            store.update_state(f"npc{n:02d}", turn=each // 2, relationship=0.25, summary="x" * 200)
        exports, imports, loads = [], [], []
        with MemoryStore(folder / f"load-{npcs}x{each}.sqlite3") as target:
            for _ in range(repeats):
                started = time.perf_counter()
                blob = store.export()
                exports.append((time.perf_counter() - started) * 1e3)
                started = time.perf_counter()
                load_state(blob)
                loads.append((time.perf_counter() - started) * 1e3)
                started = time.perf_counter()
                target.import_(blob)
                imports.append((time.perf_counter() - started) * 1e3)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("VACUUM")
    conn.close()
    total = npcs * each
    return {
        "blob": blob,
        "npcs": npcs,
        "memories": total,
        "turns": turns,
        "export_ms": statistics.median(exports),
        "import_ms": statistics.median(imports),
        "load_state_ms": statistics.median(loads),
        "blob_bytes": len(blob),
        "raw_bytes": raw_size(blob),
        "db_bytes": path.stat().st_size,
    }


def bench_zlib(blob: bytes, repeats: int) -> list[dict[str, float]]:
    """Size and time of each zlib level on the body of ``blob``, side by side."""
    _, _, codec, body = msgpack.unpackb(blob)
    if codec == 1:
        body = zlib.decompress(body)
    rows = []
    for level in (1, 3, 6, 9):
        packs, inflates = [], []
        packed = b""
        for _ in range(repeats):
            started = time.perf_counter()
            packed = zlib.compress(body, level)
            packs.append((time.perf_counter() - started) * 1e3)
            started = time.perf_counter()
            zlib.decompress(packed)
            inflates.append((time.perf_counter() - started) * 1e3)
        rows.append(
            {
                "level": level,
                "body_bytes": len(body),
                "bytes": len(packed),
                "compress_ms": statistics.median(packs),
                "inflate_ms": statistics.median(inflates),
            }
        )
    return rows


def bench_open(folder: Path, lines: list[str], total: int, repeats: int) -> dict[str, float]:
    """Opening a closed database of ``total`` memories with and without quick_check."""
    rng = random.Random(total)
    path = folder / f"open-{total}.sqlite3"
    with MemoryStore(path) as store:
        for n in range(20):
            store.add(f"npc{n:02d}", conversation(rng, lines, total // 20))
    times: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(repeats):
        for check in (True, False):
            started = time.perf_counter()
            MemoryStore(path, options=StoreOptions(check_on_open=check)).close()
            times[check].append((time.perf_counter() - started) * 1e3)
    return {
        "memories": total,
        "db_bytes": path.stat().st_size,
        "open_checked_ms": statistics.median(times[True]),
        "open_unchecked_ms": statistics.median(times[False]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--adds", type=int, default=2000, help="add() calls per mode")
    parser.add_argument("--repeats", type=int, default=7, help="exports/imports per case")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 200 adds, 2 repeats")
    parser.add_argument("--out", default=str(ROOT / "out"), help="folder for the JSON result")
    args = parser.parse_args()
    adds, repeats = (200, 2) if args.quick else (args.adds, args.repeats)
    lines = corpus()
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        folder = Path(tmp)
        add = bench_add(folder, lines, adds)
        saves = [bench_saves(folder, lines, 1, 1000, repeats)]
        saves.append(bench_saves(folder, lines, 20, 200, repeats))
        opens = [bench_open(folder, lines, total, repeats) for total in (4000, 50_000)]
    levels = bench_zlib(saves[-1].pop("blob"), repeats)
    saves[0].pop("blob")
    result = {
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "corpus_sentences": len(lines),
        "add": add,
        "saves": saves,
        "open": opens,
        "zlib": levels,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_memory_store.json").write_text(json.dumps(result, indent=2) + "\n")

    print(f"SQLite {sqlite3.sqlite_version}, Python {platform.python_version()},")
    print(f"{len(lines)} distinct sentences, {adds} add() calls per mode, {repeats} repeats\n")
    print("| synchronous | add() p50 | add() p99 |")
    print("| --- | --- | --- |")
    for mode, row in add.items():
        print(f"| {mode} | {row['p50_us']:.0f} µs | {row['p99_us']:.0f} µs |")
    print()
    print(
        "| NPCs x memories | export | import | load_state alone | blob | blob uncompressed "
        "| per memory | per 100 turns | database file |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for row in saves:
        each = row["memories"] // row["npcs"]
        print(
            f"| {row['npcs']} x {each} | {row['export_ms']:.1f} ms | {row['import_ms']:.1f} ms "
            f"| {row['load_state_ms']:.1f} ms | {row['blob_bytes'] / 1024:.0f} KiB "
            f"| {row['raw_bytes'] / 1024:.0f} KiB "
            f"| {row['blob_bytes'] / row['memories']:.0f} B "
            f"| {row['blob_bytes'] / row['turns'] * 100 / 1024:.1f} KiB "
            f"| {row['db_bytes'] / 1024:.0f} KiB |"
        )

    print()
    print("| memories | database file | open with quick_check | open without |")
    print("| --- | --- | --- | --- |")
    for row in opens:
        print(
            f"| {row['memories']} | {row['db_bytes'] / 1e6:.1f} MB "
            f"| {row['open_checked_ms']:.1f} ms | {row['open_unchecked_ms']:.1f} ms |"
        )

    print()
    print(f"zlib on the 20 x 200 body ({levels[0]['body_bytes'] / 1024:.0f} KiB):\n")
    print("| level | bytes | compress | inflate |")
    print("| --- | --- | --- | --- |")
    for row in levels:
        print(
            f"| {row['level']} | {row['bytes'] / 1024:.0f} KiB | {row['compress_ms']:.1f} ms "
            f"| {row['inflate_ms']:.1f} ms |"
        )


if __name__ == "__main__":
    main()
