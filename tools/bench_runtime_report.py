"""What tools/bench_runtime.py reports: Markdown tables and a plot drawn with
pygame on a Surface, both from the benchmark's JSON.

The plot has three panels: each frame's work time for every number of NPCs
talking, the aggregate tokens/s of the batched and the serial engine, and the
focused NPC's first-token times against the target.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pygame

SIZE = (1200, 820)
BACK = (250, 250, 248)
INK = (30, 30, 30)
GRID = (215, 215, 210)
RED = (200, 40, 40)
COLOURS = [(90, 90, 90), (31, 119, 180), (44, 160, 44), (255, 127, 14), (148, 103, 189)]
BATCHED, SERIAL = (31, 119, 180), (190, 190, 190)
FRAME_MS = 1000 / 60
LATE_INTERVAL_MS = FRAME_MS * 1.5

# What the runtime aims at on this kind of machine.
TARGET_P99_OVER_IDLE_MS = 0.5  # frame work p99 with 4 NPCs talking, against idle
TARGET_UPDATE_P99_MS = 0.2
TARGET_NPC_RATE = 15.0  # tokens/s of each NPC with 8 talking
TARGET_TTFT_MS = 150.0


class _Panel:
    """A plot area with linear axes, mapping data to pixels."""

    def __init__(
        self,
        surface: pygame.Surface,
        rect: pygame.Rect,
        x_range: tuple[float, float],
        y_range: tuple[float, float],
        font: pygame.font.Font,
    ) -> None:
        self.surface, self.rect, self.font = surface, rect, font
        self.x0, self.x1 = x_range
        self.y0, self.y1 = y_range

    def at(self, x: float, y: float) -> tuple[int, int]:
        fx = (x - self.x0) / (self.x1 - self.x0)
        fy = (min(max(y, self.y0), self.y1) - self.y0) / (self.y1 - self.y0)
        return (
            round(self.rect.left + fx * self.rect.width),
            round(self.rect.bottom - fy * self.rect.height),
        )

    def frame(self, title: str, y_ticks: Sequence[float]) -> None:
        for y in y_ticks:
            left, top = self.at(self.x0, y)
            pygame.draw.line(self.surface, GRID, (left, top), (self.rect.right, top))
            _text(self.surface, self.font, f"{y:g}", (left - 6, top), anchor="midright")
        pygame.draw.rect(self.surface, INK, self.rect, 1)
        _text(self.surface, self.font, title, (self.rect.left, self.rect.top - 24))

    def hline(self, y: float, colour: tuple[int, int, int], label: str) -> None:
        left, top = self.at(self.x0, y)
        for x in range(left, self.rect.right, 10):
            pygame.draw.line(self.surface, colour, (x, top), (min(x + 5, self.rect.right), top), 2)
        _text(self.surface, self.font, label, (self.rect.right - 4, top - 2), colour, "bottomright")


def _text(
    surface: pygame.Surface,
    font: pygame.font.Font,
    text: str,
    pos: tuple[int, int],
    colour: tuple[int, int, int] = INK,
    anchor: str = "topleft",
) -> None:
    image = font.render(text, True, colour)
    rect = image.get_rect(**{anchor: pos})
    surface.blit(image, rect)


def _frames(surface: pygame.Surface, font: pygame.font.Font, rows: list[dict[str, Any]]) -> None:
    frames = max((len(r["trace_work_ms"]) for r in rows), default=1)
    panel = _Panel(surface, pygame.Rect(80, 90, 1080, 300), (0, frames), (0, 20), font)
    panel.frame(
        "Frame work per frame, ms (4 ms of game work + update() + re-asks), 60 FPS loop",
        [0, 4, 8, 12, 16, 20],
    )
    panel.hline(FRAME_MS, RED, "one frame, 16.7 ms")
    for i, row in enumerate(rows):
        colour = COLOURS[i % len(COLOURS)]
        trace = row["trace_work_ms"]
        points = [panel.at(x, y) for x, y in enumerate(trace)]
        if len(points) > 1:
            pygame.draw.lines(surface, colour, False, points, 1)
        for x, y in enumerate(trace):
            if y > 20:  # off the scale: marked at the top
                pygame.draw.circle(surface, colour, panel.at(x, 20), 3)
        label = f"{row['npcs']} NPCs: p99 {row['work_ms']['p99']:.2f} ms, late {row['late_frames']}"
        _text(surface, font, label, (panel.rect.left + 10 + 215 * i, panel.rect.bottom + 8), colour)


def _throughput(
    surface: pygame.Surface, font: pygame.font.Font, rows: list[dict[str, Any]]
) -> None:
    top = max([r[k]["aggregate_tokens_per_s"] for r in rows for k in ("batched", "serial")] + [1.0])
    top = 20 * (int(top / 20) + 1)
    panel = _Panel(surface, pygame.Rect(80, 490, 500, 260), (0, len(rows)), (0, top), font)
    panel.frame(
        "Aggregate tokens/s: batched (blue) vs serial (grey)",
        [top * i / 4 for i in range(5)],
    )
    for i, row in enumerate(rows):
        for j, (kind, colour) in enumerate((("batched", BATCHED), ("serial", SERIAL))):
            value = row[kind]["aggregate_tokens_per_s"]
            left, bottom = panel.at(i + 0.15 + 0.35 * j, 0)
            _, y = panel.at(0, value)
            width = round(0.33 * panel.rect.width / len(rows))
            pygame.draw.rect(surface, colour, pygame.Rect(left, y, width, bottom - y))
            _text(surface, font, f"{value:.0f}", (left + width // 2, y - 2), INK, "midbottom")
        x, bottom = panel.at(i + 0.5, 0)
        npc = row["batched"]["npc_tokens_per_s"]["p50"]
        _text(surface, font, f"{row['npcs']} NPCs", (x, bottom + 6), anchor="midtop")
        _text(surface, font, f"{npc:.1f}/NPC", (x, bottom + 24), BATCHED, "midtop")


def _focused(surface: pygame.Surface, font: pygame.font.Font, focus: dict[str, Any]) -> None:
    first, follow = focus["first_line_ms"], focus["follow_up_ms"]
    top = max([*first, *follow, 150.0])
    top = 200 * (int(top / 200) + 1)
    panel = _Panel(surface, pygame.Rect(680, 490, 480, 260), (0, len(first) + 1), (0, top), font)
    panel.frame(
        "Focused NPC's first ReplyDelta, ms, while 3 talk (dots: first line, rings: follow-up)",
        [top * i / 4 for i in range(5)],
    )
    panel.hline(150, RED, "target 150 ms")
    for i, (a, b) in enumerate(zip(first, follow, strict=True)):
        pygame.draw.circle(surface, BATCHED, panel.at(i + 1, a), 5)
        pygame.draw.circle(surface, (255, 127, 14), panel.at(i + 1, b), 5, 2)


def draw_plot(result: dict[str, Any], path: Path) -> None:
    """Draw ``result`` (the benchmark's JSON) and save it as a PNG at ``path``."""
    pygame.font.init()
    font = pygame.font.Font(None, 20)
    big = pygame.font.Font(None, 28)
    surface = pygame.Surface(SIZE)
    surface.fill(BACK)
    machine = result.get("machine", {})
    title = f"npc-ai runtime benchmark: {result['model']}, {result['date']}"
    if machine:
        title += (
            f", {machine['generation_threads']} generation thread(s), raw decode step "
            f"{machine['raw_decode_step_ms']:.1f} ms"
        )
    _text(surface, big, title, (20, 16))
    if result["frame_timing"]:
        _frames(surface, font, result["frame_timing"])
    if result["throughput"]:
        _throughput(surface, font, result["throughput"])
    if result.get("focused"):
        _focused(surface, font, result["focused"])
    pygame.image.save(surface, str(path))


# -- Markdown -----------------------------------------------------------------------------


def frame_targets(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The frame-timing targets at 4 NPCs talking, against idle; None without both rows."""
    idle = next((r for r in rows if r["npcs"] == 0), None)
    four = next((r for r in rows if r["npcs"] == 4), None)
    if idle is None or four is None:
        return None
    over = four["work_ms"]["p99"] - idle["work_ms"]["p99"]
    return {
        "p99_over_idle_ms": over,
        "p99": over <= TARGET_P99_OVER_IDLE_MS,
        "no_late": four["late_frames"] == 0,
        "update": four["update_ms"]["p99"] <= TARGET_UPDATE_P99_MS,
    }


def check(value: bool) -> str:
    return "yes" if value else "**no**"


def print_tables(result: dict[str, Any]) -> None:
    busy = {k: v for k, v in result.get("other_load_cores", {}).items() if v and v > 0.1}
    if busy:
        parts = ", ".join(f"{k} {v:.2f}" for k, v in busy.items())
        print(
            f"**Warning**: other processes used CPU during the run (cores' worth: {parts}); "
            "these figures are not of an otherwise idle machine.\n"
        )
    m = result["machine"]
    rows_ms = ", ".join(f"{k}: {v:.0f} ms" for k, v in m["raw_batch_step_ms"].items())
    print(
        f"model {result['model']}, {m['generation_threads']} generation thread(s), "
        f"{m['cores']} cores; raw decode step {m['raw_decode_step_ms']:.1f} ms; "
        f"batched engine's raw step by replies in it: {rows_ms}\n"
    )
    rows = result["frame_timing"]
    if rows:
        idle = next((r for r in rows if r["npcs"] == 0), None)
        work = result["work_ms"]
        print(
            f"Frame timing: {rows[0]['frames']} frames at {result['fps']} FPS, {work:.0f} ms "
            "of game work per frame. Frame work = the work + update() + say() to re-ask NPCs "
            f"whose reply ended. Late = frame interval > {LATE_INTERVAL_MS:.0f} ms or frame "
            f"work > {FRAME_MS:.1f} ms. Game work done = turns of the {work:.0f} ms busy loop "
            "against the idle median, median (1st percentile): less when another thread holds "
            "the GIL, or the VM is slower.\n"
        )
        print(
            "| NPCs talking | frame work p50 / p99 / max | late frames | update() p99 / max | "
            "say() p99 / max | game work done | tokens in window (tokens/s) |"
        )
        print("| --- | --- | --- | --- | --- | --- | --- |")
        for r in rows:
            w, u, y = r["work_ms"], r["update_ms"], r["say_ms"]
            done = "-"
            if idle:
                turns, base = r["work_turns"], idle["work_turns"]["p50"]
                done = f"{turns['p50'] / base:.0%} ({turns['p1'] / base:.0%})"
            print(
                f"| {r['npcs']} | {w['p50']:.2f} / {w['p99']:.2f} / {w['max']:.2f} ms | "
                f"{r['late_frames']} / {r['frames']} | {u['p99']:.3f} / {u['max']:.3f} ms | "
                f"{y['p99']:.2f} / {y['max']:.2f} ms | {done} | "
                f"{r['tokens']} ({r['tokens_per_s']:.1f}) |"
            )
        verdict = result.get("frame_targets")
        if verdict:
            print(
                f"\nTargets at 4 NPCs: p99 frame work within {TARGET_P99_OVER_IDLE_MS} ms of idle: "
                f"{check(verdict['p99'])} ({verdict['p99_over_idle_ms']:+.2f} ms); "
                f"no late frame: {check(verdict['no_late'])}; "
                f"update() p99 <= {TARGET_UPDATE_P99_MS} ms: "
                f"{check(verdict['update'])}"
            )
    rows = result["throughput"]
    if rows:
        print(
            f"\nTokens/s: each NPC says {rows[0]['tokens_each']} tokens, in as many lines as "
            "it takes (each line a new conversation with the innkeeper, so each prompt to "
            f"read is the line alone); median of {rows[0]['repeats']} runs. An NPC's rate is "
            f"its tokens over the time from the first say() to its last token, waiting "
            f"included. Target: each NPC >= {TARGET_NPC_RATE:.0f} tokens/s at 8 NPCs.\n"
        )
        print(
            "| NPCs | batched aggregate | batched per NPC p50 (min) | serial aggregate | "
            "serial per NPC p50 (min) | batched / serial | batched engine efficiency |"
        )
        print("| --- | --- | --- | --- | --- | --- | --- |")
        for r in rows:
            b, s = r["batched"], r["serial"]
            eff = b.get("efficiency")
            print(
                f"| {r['npcs']} | {b['aggregate_tokens_per_s']:.1f} | "
                f"{b['npc_tokens_per_s']['p50']:.1f} ({b['npc_tokens_per_s']['min']:.1f}) | "
                f"{s['aggregate_tokens_per_s']:.1f} | "
                f"{s['npc_tokens_per_s']['p50']:.1f} ({s['npc_tokens_per_s']['min']:.1f}) | "
                f"{r['ratio']:.2f}x | {'-' if eff is None else f'{eff:.0%}'} |"
            )
        print(
            "\nEngine efficiency: the steps the batched engine ran, each priced by its shape "
            "(replies' tokens, prompt tokens) from raw `llama_decode` times measured in this "
            "run, summed, over the wall time: the share of the time the model itself needed. "
            "The rest is sampling, Python, waiting and scheduling."
        )
    focus = result["focused"]
    if focus:
        print(
            f"\nFocused NPC (Priority.FOCUSED, persona prepared) while 3 NPCs talk, "
            f"{focus['repeats']} times: from say() to the first ReplyDelta returned by "
            f"update() (target <= {TARGET_TTFT_MS:.0f} ms), and to the engine's first token\n"
        )
        print(
            "| line | first ReplyDelta p50 (p90) | engine's first token p50 (p90) | "
            "engine steps to it, p50: count; step under way; the line's step |"
        )
        print("| --- | --- | --- | --- |")
        for label, key in (("first line", "first_line"), ("follow-up line", "follow_up")):
            a, e = focus[f"ttft_{key}_ms"], focus[f"engine_first_token_{key}_ms"]
            steps = focus[f"steps_to_first_token_{key}"]
            count = statistics.median(len(x) for x in steps)
            under_way = statistics.median(x[0] for x in steps)
            last = statistics.median(x[-1] for x in steps)
            print(
                f"| {label} | {a['p50']:.0f} ms ({a['p90']:.0f}) | "
                f"{e['p50']:.0f} ms ({e['p90']:.0f}) | {count:g}; {under_way:.0f} ms; "
                f"{last:.0f} ms |"
            )
        f = focus["frames"]
        w = f["work_ms"]
        print(
            f"\nFrames meanwhile ({f['frames']}): frame work {w['p50']:.2f} / {w['p99']:.2f} / "
            f"{w['max']:.2f} ms (p50 / p99 / max), {f['late_frames']} late"
        )
