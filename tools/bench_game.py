#!/usr/bin/env python3
"""Thornvale's figures: frame work while 1, 2 and 4 NPCs generate, the focused NPC's first
text after Enter, the game thread's time in npc_ai, and the whole game's peak RSS.

    .venv/bin/python tools/bench_game.py [--repeats 4] [--quick] [--out out/]

Each session is the real game (``sample_game.game.Game``, the default model, the
translator, ambient talk on) in its own process, headless (SDL's dummy driver), playing a
short script: walk to the smith and talk (two lines), stand on the main road until two
NPCs chat, then talk to the innkeeper. A session runs with a *level* of 1, 2 or 4: the
tool keeps that many replies generating throughout, topping up the game's own (the
player's reply, the NPCs' small talk) with background NPCs asked again and again, and
cancelling its own when the game's exceed the level.

The frame loop times each frame as ``tests/frames.py`` does: from the moment the frame
was due to the end of its work (input, the script's step, ``Game.frame``, the flip), and
takes off the game thread's wait for a CPU (``/proc/self/task/<tid>/schedstat``), so other
processes on the cores do not count. Frame work is the work alone (start of input to the
flip). A late frame overran 1/60 s from its due moment. Both raw and adjusted are kept.

The first text is timed from the start of the frame that delivered Enter to the end of
the frame whose ``runtime.update()`` brought the focused NPC's first non-empty
``ReplyDelta`` (drawn that frame). The machine's own limit is measured in the same run,
in the parent process with nothing else generating: one raw decode step, and the first
piece of a structured reply from a prepared persona on the synchronous ``Npc`` (prefill
of the line + a decode step). Other processes' CPU use is measured during each session.

Writes bench_game.json to --out and prints Markdown tables for docs/BENCHMARKS.md;
progress goes to stderr. The default run (3 levels x 4 sessions) takes about 6 minutes
on a 2-core VM.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

FPS = 60
FRAME_MS = 1000 / FPS
LEVELS = (1, 2, 4)

SCRIPT = """
walk smith
say Can you mend my sword? It is notched.
wait-reply 90
say What news from the mine?
wait-reply 90
bye
walk main road
wait-ambient 120
walk innkeeper
say Do you have a room for the night?
wait-reply 90
bye
"""
QUICK_SCRIPT = """
walk smith
say Can you mend my sword? It is notched.
wait-reply 90
bye
"""
#: The script's lines to an NPC, in order (the first text is reported for each).
LINE_LABELS = ("smith, first line", "smith, follow-up", "innkeeper, after small talk")
FILLER_QUESTIONS = (
    "Tell me a long story about this village.",
    "What rumours have you heard lately? Tell me all of them.",
    "Tell me about your family and how you came to Thornvale.",
)
#: Runtime methods the game thread calls; their time is the game thread's time in npc_ai.
RUNTIME_CALLS = (
    "update",
    "say",
    "prepare",
    "set_priority",
    "add_npc",
    "memory",
    "export_memory",
    "import_memory",
    "set_interpreter",
)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]


# -- one session (a child process) ------------------------------------------------------------


class QueueClock:
    """The calling thread's total wait for a CPU in ms (tests/frames.py's method)."""

    def __init__(self) -> None:
        try:
            path = f"/proc/self/task/{threading.get_native_id()}/schedstat"
            self._fd: int | None = os.open(path, os.O_RDONLY)
        except OSError:
            self._fd = None

    def read(self) -> float:
        if self._fd is None:
            return 0.0
        return int(os.pread(self._fd, 128, 0).split()[1]) / 1e6


class Timed:
    """Wraps callables so the time the game thread spends in them adds up per frame;
    nested calls count once."""

    def __init__(self) -> None:
        self.frame_ms = 0.0
        self._depth = 0

    def wrap(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            self._depth += 1
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self._depth -= 1
                if self._depth == 0:
                    self.frame_ms += (time.perf_counter() - started) * 1000

        return timed


class Filler:
    """Background NPCs that keep the number of replies generating at ``level``."""

    def __init__(self, runtime: Any, cast: list[Any], level: int) -> None:
        from npc_ai import DialogueOptions, Priority

        self.runtime = runtime
        self.level = level
        self.handles: list[Any] = []
        self.ids: list[str] = []
        self._cancelled: list[Any] = []
        self._asked = 0
        for i in range(level + 1):  # one spare while a cancelled reply winds down
            member = cast[i % len(cast)]
            # "~" in the id: the game hands these events to its small talk, which drops
            # them (not its exchange), as it would drop a stale exchange's line.
            npc_id = f"{member.npc_id}~bench{i}"
            runtime.add_npc(
                member.persona,
                npc_id=npc_id,
                priority=Priority.BACKGROUND,
                dialogue=DialogueOptions(max_sentences=8, max_tokens=80),
            )
            self.ids.append(npc_id)

    def prepare(self) -> None:
        for future in [self.runtime.prepare(n) for n in self.ids]:
            future.result(timeout=120)

    @property
    def active(self) -> int:
        self.handles = [h for h in self.handles if not h.done]
        return len(self.handles)

    def adjust(self, game_generating: int) -> None:
        want = max(0, self.level - game_generating)
        while self.active > want:
            handle = self.handles.pop()
            handle.cancel()  # stops within a step; its NPC is asked again only once done
            self._cancelled.append(handle)
        self._cancelled = [h for h in self._cancelled if not h.done]
        busy = {h.npc for h in [*self.handles, *self._cancelled]}
        while self.active < want:
            free = [n for n in self.ids if n not in busy]
            if not free:
                return
            busy.add(free[0])
            question = FILLER_QUESTIONS[self._asked % len(FILLER_QUESTIONS)]
            self._asked += 1
            self.handles.append(self.runtime.say(free[0], question))


def session(level: int, quick: bool, seed: int, batch_threads: int = 0) -> dict[str, Any]:
    """Play the script once with ``level`` replies generating; the session's figures.

    ``batch_threads``: llama.cpp threads for steps of more than one token (prompt reading,
    several replies at once); 0 = the runtime's default."""
    import pygame
    from bench_runtime import OtherLoad

    from npc_ai import MemoryStore, NpcAiError, ReplyDelta, Runtime, open_translator
    from sample_game.cast import load_cast
    from sample_game.game import SCREEN_SIZE, Game, GameOptions
    from sample_game.languages import Languages
    from sample_game.script import ScriptRunner, parse_script

    pygame.init()
    cast, _ = load_cast()
    try:
        translator = open_translator("auto")
    except NpcAiError:
        translator = None
    languages = Languages(translator)
    store = MemoryStore()
    engine_options = None
    if batch_threads:
        from npc_ai.backends.llama_cpp import LlamaOptions
        from npc_ai.backends.llama_engine import EngineOptions

        engine_options = EngineOptions(llama=LlamaOptions(batch_threads=batch_threads))
    runtime = Runtime.from_model(None, memory=store, engine_options=engine_options)
    screen = pygame.display.set_mode(SCREEN_SIZE)
    options = GameOptions(
        save_path=Path(tempfile.mkdtemp(prefix="bench-game-")) / "slot1.json", seed=seed
    )
    game = Game(screen, runtime, cast, options, languages=languages)
    filler = Filler(runtime, cast, level)
    filler.prepare()

    npc_ai_time = Timed()
    first_text: list[float] = []
    waiting_since: list[float | None] = [None]
    seen_text = [False]
    update = runtime.update

    def watched_update(dt: float = 0.0) -> Any:
        events = update(dt)
        if waiting_since[0] is not None and not seen_text[0]:
            focus = game.talk.focus
            seen_text[0] = any(
                isinstance(e, ReplyDelta) and e.npc == focus and e.text.strip() for e in events
            )
        return events

    runtime.update = watched_update  # type: ignore[method-assign]
    for name in RUNTIME_CALLS:
        setattr(runtime, name, npc_ai_time.wrap(getattr(runtime, name)))

    runner = ScriptRunner(parse_script(QUICK_SCRIPT if quick else SCRIPT))
    queue = QueueClock()
    frames: list[dict[str, float]] = []
    load = OtherLoad()
    started = time.perf_counter()
    due = time.perf_counter()
    last = due
    try:
        while not runner.done:
            queued_before = queue.read()  # before sleeping: a sleeping thread waits for no CPU
            pause = due - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            else:
                due = time.perf_counter()  # the last frame overran: this one starts now
            work_start = time.perf_counter()
            queued_at_work = queue.read()
            dt, last = work_start - last, work_start
            npc_ai_time.frame_ms = 0.0
            events = pygame.event.get() + runner.step(game, dt)
            if game.panel is not None and any(
                e.type == pygame.KEYDOWN and e.key == pygame.K_RETURN for e in events
            ):
                waiting_since[0], seen_text[0] = work_start, False
            game.frame(dt, events)
            pygame.display.flip()
            filler.adjust(game.generating)
            ended = time.perf_counter()
            queued = queue.read()
            generating = game.generating + filler.active
            if waiting_since[0] is not None and seen_text[0]:
                first_text.append((ended - waiting_since[0]) * 1000)
                waiting_since[0] = None
            frames.append(
                {
                    "work_raw": (ended - work_start) * 1000,
                    "work": (ended - work_start) * 1000 - (queued - queued_at_work),
                    "from_due_raw": (ended - due) * 1000,
                    "from_due": (ended - due) * 1000 - (queued - queued_before),
                    "npc_ai": npc_ai_time.frame_ms,
                    "generating": generating,
                    "io": float(game.did_io),
                }
            )
            due += FRAME_MS / 1000
    finally:
        other = load.cores()
        wall = time.perf_counter() - started
        runtime.close()
        languages.close()
        store.close()
        if translator is not None:
            translator.close()
        pygame.quit()
    return {
        "level": level,
        "seed": seed,
        "error": runner.error,
        "wall_s": wall,
        "frames": frames,
        "first_text_ms": first_text,
        "other_load_cores": other,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "transcript": game.transcript,
    }


# -- the parent: the machine's limit, the sessions, the tables ------------------------------


def machine() -> dict[str, Any]:
    """The raw decode step and the first piece of a prepared persona's reply, alone."""
    import llama_cpp
    from bench_dialogue import LINES, first_piece_ms, raw_step_ms

    from npc_ai.backends.llama_cpp import LlamaCppGenerator, default_threads
    from npc_ai.dialogue.npc import DialogueOptions, Npc
    from npc_ai.dialogue.persona import load_persona
    from npc_ai.models import DEFAULT_MODEL, resolve_model

    path = resolve_model(DEFAULT_MODEL)
    gen = LlamaCppGenerator(path)
    try:
        step = raw_step_ms(gen)
        persona = load_persona(ROOT / "sample_game" / "personas" / "blacksmith.toml")
        firsts, follow_ups = [], []
        for i in range(6):
            npc = Npc(persona, gen, options=DialogueOptions(structured=True))
            ms = first_piece_ms(npc, LINES[i % len(LINES)], seed=i)
            follow = first_piece_ms(npc, LINES[(i + 1) % len(LINES)], seed=i)
            if i:  # the first reads the persona: not prepared
                firsts.append(ms)
                follow_ups.append(follow)
    finally:
        gen.close()
    return {
        "model": path.name,
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "python": sys.version.split()[0],
        "llama_cpp_python": llama_cpp.__version__,
        "generation_threads": default_threads(),
        "raw_decode_step_ms": step,
        "first_piece_prepared_ms": statistics.median(firsts),
        "first_piece_follow_up_ms": statistics.median(follow_ups),
    }


def run_session(level: int, quick: bool, seed: int, batch_threads: int = 0) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        out = Path(f.name)
    cmd = [sys.executable, __file__, "--session", str(level), "--seed", str(seed)]
    cmd += ["--batch-threads", str(batch_threads)]
    cmd += ["--session-out", str(out)] + (["--quick"] if quick else [])
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(cmd, env=env, check=False)
    if done.returncode != 0:
        raise SystemExit(f"the session at level {level} failed (exit {done.returncode})")
    result: dict[str, Any] = json.loads(out.read_text())
    out.unlink()
    return result


def summarise(sessions: list[dict[str, Any]]) -> dict[str, Any]:
    """Per level: medians over the sessions of each session's figures."""

    def med(key: str) -> float:
        return float(statistics.median(s[key] for s in sessions))

    per: list[dict[str, float]] = []
    firsts: list[float] = []
    for s in sessions:
        fr = [f for f in s["frames"] if not f["io"]]
        busy = [f for f in fr if f["generating"] >= 1]
        at_level = [f for f in fr if f["generating"] >= s["level"]]
        work, raw = [f["work"] for f in busy], [f["work_raw"] for f in busy]
        npc = [f["npc_ai"] for f in busy]
        per.append(
            {
                "frames": len(fr),
                "busy_frames": len(busy),
                "at_level_share": len(at_level) / max(1, len(fr)),
                "p50": pct(work, 0.5),
                "p99": pct(work, 0.99),
                "max": max(work, default=0.0),
                "p50_raw": pct(raw, 0.5),
                "p99_raw": pct(raw, 0.99),
                "max_raw": max(raw, default=0.0),
                "late": sum(f["from_due"] > FRAME_MS for f in fr),
                "late_raw": sum(f["from_due_raw"] > FRAME_MS for f in fr),
                "npc_ai_p50": pct(npc, 0.5),
                "npc_ai_p99": pct(npc, 0.99),
                "npc_ai_max": max(npc, default=0.0),
            }
        )
        firsts += s["first_text_ms"]
    by_line = []
    for i, label in enumerate(LINE_LABELS):
        values = [s["first_text_ms"][i] for s in sessions if len(s["first_text_ms"]) > i]
        by_line.append({"line": label, "p50": pct(values, 0.5), "p90": pct(values, 0.9)})
    keys = per[0].keys()
    return {
        "level": sessions[0]["level"],
        "sessions": len(sessions),
        **{k: statistics.median(p[k] for p in per) for k in keys},
        "late_each": [p["late"] for p in per],
        "late_raw_each": [p["late_raw"] for p in per],
        "first_text_ms": firsts,
        "first_text_p50": pct(firsts, 0.5),
        "first_text_p90": pct(firsts, 0.9),
        "first_text_by_line": by_line,
        "peak_rss_mb": med("peak_rss_mb"),
        "other_load_cores": [s["other_load_cores"] for s in sessions],
        "wall_s": med("wall_s"),
    }


def print_tables(result: dict[str, Any]) -> None:
    m = result["machine"]
    print(
        f"\n{m['model']}, {m['generation_threads']} generation thread(s), {m['cores']} cores, "
        f"{result['date']}: raw decode step {m['raw_decode_step_ms']:.1f} ms; first piece of "
        f"a structured reply alone, persona prepared {m['first_piece_prepared_ms']:.0f} ms, "
        f"follow-up {m['first_piece_follow_up_ms']:.0f} ms"
    )
    print(
        "\n| NPCs generating | frame work p50 / p99 / max | raw (no CPU wait taken off) "
        "| late frames, adjusted / raw | npc_ai ms per frame p50 / p99 / max "
        "| first text p50 (p90) | peak RSS | other load (cores) |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in result["levels"]:
        loads = ", ".join(f"{c:.2f}" for c in r["other_load_cores"] if c is not None)
        print(
            f"| {r['level']} | {r['p50']:.2f} / {r['p99']:.2f} / {r['max']:.2f} ms "
            f"| {r['p50_raw']:.2f} / {r['p99_raw']:.2f} / {r['max_raw']:.2f} ms "
            f"| {sum(r['late_each'])} / {sum(r['late_raw_each'])} "
            f"of {r['frames'] * r['sessions']:.0f} "
            f"| {r['npc_ai_p50']:.3f} / {r['npc_ai_p99']:.3f} / {r['npc_ai_max']:.2f} "
            f"| {r['first_text_p50']:.0f} ms ({r['first_text_p90']:.0f}), "
            f"n={len(r['first_text_ms'])} | {r['peak_rss_mb']:.0f} MB | {loads} |"
        )
    print(
        "\n| first text after Enter, p50 (p90) | "
        + " | ".join(f"{r['level']} NPCs" for r in result["levels"])
        + " |"
    )
    print("| --- |" + " --- |" * len(result["levels"]))
    for i, label in enumerate(LINE_LABELS):
        cells = [r["first_text_by_line"][i] for r in result["levels"]]
        if not any(c["p50"] for c in cells):
            continue  # --quick: one line
        print(
            f"| {label} | "
            + " | ".join(f"{c['p50']:.0f} ms ({c['p90']:.0f})" for c in cells)
            + " |"
        )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="\n\n".join(__doc__.split("\n\n")[2:]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run: one short session")
    parser.add_argument("--repeats", type=int, default=4, help="sessions per level (default: 4)")
    parser.add_argument(
        "--out", default=str(ROOT / "out"), help="folder for the JSON (default: out/)"
    )
    parser.add_argument(
        "--batch-threads",
        default="0",
        help="llama.cpp threads for multi-token steps (prompt reading, several replies): a "
        "number, or several separated by commas to compare them side by side, sessions "
        "interleaved (default: 0, the runtime's default)",
    )
    parser.add_argument("--session", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=7, help=argparse.SUPPRESS)
    parser.add_argument("--session-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    configs = [int(v) for v in str(args.batch_threads).split(",")]
    if args.session is not None:
        figures = session(args.session, args.quick, args.seed, configs[0])
        args.session_out.write_text(json.dumps(figures))
        return 0

    levels, repeats = ((4,), 1) if args.quick else (LEVELS, args.repeats)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {
        "date": datetime.date.today().isoformat(),
        "quick": args.quick,
        "fps": FPS,
        "levels": [],
    }
    log("the machine: raw decode step, first piece alone")
    result["machine"] = machine()
    runs: dict[tuple[int, int], list[dict[str, Any]]] = {
        (c, n): [] for c in configs for n in levels
    }
    for r in range(repeats):  # levels interleaved, so a busy minute touches each alike
        for n in levels:
            for c in configs:
                log(f"session {r + 1}/{repeats}: {n} NPCs generating, batch threads {c or '-'}")
                s = run_session(n, args.quick, seed=7 + r, batch_threads=c)
                if s["error"]:
                    log(f"  the script stopped: {s['error']}")
                log(f"  {s['wall_s']:.0f} s, {len(s['frames'])} frames")
                runs[(c, n)].append(s)
    result["configs"] = {}
    for c in configs:
        levels_out = [summarise(runs[(c, n)]) for n in levels]
        result["configs"][str(c)] = levels_out
        if len(configs) > 1:
            print(f"\n### batch threads: {c or 'default'}")
        print_tables({**result, "levels": levels_out})
    result["levels"] = result["configs"][str(configs[0])]
    result["sessions"] = [
        {"batch_threads": c, **{k: v for k, v in s.items() if k != "frames"}}
        for (c, _n), ss in runs.items()
        for s in ss
    ]
    (out / "bench_game.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nJSON in {out / 'bench_game.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
