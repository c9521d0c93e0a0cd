"""Two live-subtitle sessions at once on one shared Whisper model, against one session alone.

    .venv/bin/python tools/bench_subtitle_sessions.py                 # tiny.en, 2 rounds
    .venv/bin/python tools/bench_subtitle_sessions.py --model base --rounds 1

Each session plays its own espeak-ng recording (tests/speech_fixtures.py: the phrases in a
different voice order and pause pattern, so phrase ends fall at different moments) at real-time
pace through a LiveSubtitles session, as the bridge runs one per ``subtitle.start``. Latency of a
phrase = wall time its final caption was emitted - wall time the phrase's last sample was
played (as in tools/bench_subtitles.py); the figures pool every phrase of every session and
round. Set-ups, run in turn each round:

* ``one alone``: one session;
* ``two, shared (1 worker)``: two sessions on one loaded model, CTranslate2 running one pass at
  a time (the other session's pass waits its turn): what the sessions of a server share;
* ``two, shared (2 workers)``: one loaded model, two passes in parallel (``workers=2``);
* ``two, own models``: each session loads its own copy (``shared=False``; how sessions ran
  before models were shared).

Memory: the resident size of a fresh process that loaded the model for two recognisers,
shared or each its own, after one pass each.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from npc_ai.backends.faster_whisper import (  # noqa: E402
    MODELS,
    SileroVad,
    WhisperOptions,
    WhisperRecognizer,
)
from npc_ai.backends.pyav import FileSource  # noqa: E402
from npc_ai.subtitles.live import LiveSubtitles, SubtitleOptions  # noqa: E402
from npc_ai.subtitles.speech.events import Caption, SubtitleError  # noqa: E402
from npc_ai.subtitles.speech.streaming import StreamingTranscriber  # noqa: E402
from tests.speech_fixtures import PHRASES, SpeechScript, make_script, word_error_rate  # noqa: E402
from tools.bench_subtitles import pct, phrase_of  # noqa: E402

SETUPS: dict[str, dict[str, Any]] = {
    "one alone": {"sessions": 1, "workers": 1, "shared": True},
    "two, shared (1 worker)": {"sessions": 2, "workers": 1, "shared": True},
    "two, shared (2 workers)": {"sessions": 2, "workers": 2, "shared": True},
    "two, own models": {"sessions": 2, "workers": 1, "shared": False},
}


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def play(script: SpeechScript, recognizer: WhisperRecognizer, out: dict[str, Any]) -> None:
    """One real-time session over ``script``; its figures into ``out``."""
    source = FileSource(script.path, realtime=True)
    transcriber = StreamingTranscriber(recognizer, SileroVad())
    session = LiveSubtitles(source, options=SubtitleOptions(targets=()), transcriber=transcriber)
    emitted: list[tuple[float, Any]] = []
    began = time.monotonic()
    with session:
        for event in session.events(timeout=60):
            emitted.append((time.monotonic(), event))
    t0 = source.started_at or began
    last_final: dict[int, float] = {}
    for when, event in emitted:
        if isinstance(event, Caption) and event.final:
            last_final[phrase_of(event, script.phrases)] = when
    out["latency"] = [
        last_final[i] - (t0 + p.end) for i, p in enumerate(script.phrases) if i in last_final
    ]
    out["missed"] = len(script.phrases) - len(last_final)
    finals = " ".join(e.text for _, e in emitted if isinstance(e, Caption) and e.final)
    out["wer"] = word_error_rate(script.text, finals)
    out["errors"] = [e.error.message for _, e in emitted if isinstance(e, SubtitleError)]
    out["stats"] = transcriber.stats


def run(setup: dict[str, Any], scripts: list[SpeechScript], model: str) -> dict[str, Any]:
    options = WhisperOptions(model=model, workers=setup["workers"], shared=setup["shared"])
    recognizers = [WhisperRecognizer(options) for _ in range(setup["sessions"])]
    loaded = len({id(r.model) for r in recognizers})
    outs: list[dict[str, Any]] = [{} for _ in recognizers]
    threads = [
        threading.Thread(target=play, args=(scripts[i], rec, outs[i]))
        for i, rec in enumerate(recognizers)
    ]
    began, cpu0 = time.monotonic(), cpu_seconds()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall, cpu = time.monotonic() - began, cpu_seconds() - cpu0
    for rec in recognizers:
        rec.close()
    return {
        "latency": [x for o in outs for x in o["latency"]],
        "missed": sum(o["missed"] for o in outs),
        "wer": [o["wer"] for o in outs],
        "errors": [e for o in outs for e in o["errors"]],
        "shed": sum(o["stats"].shed_passes for o in outs),
        "partial_passes": sum(o["stats"].partial_passes for o in outs),
        "cpu_share": cpu / wall,
        "models": loaded,
    }


_MEMORY = """
import sys, numpy as np
sys.path.insert(0, {root!r})
from npc_ai.backends.faster_whisper import SileroVad, WhisperOptions, WhisperRecognizer
SileroVad()
recs = [WhisperRecognizer(WhisperOptions(model={model!r}, shared={shared})) for _ in range(2)]
for r in recs:
    r.transcribe(np.zeros(32000, np.float32))
print(int(open("/proc/self/statm").read().split()[1]) * 4096)
"""


def resident(model: str, shared: bool) -> float:
    """MB resident in a fresh process holding two recognisers (after a pass each)."""
    code = _MEMORY.format(root=str(ROOT), model=model, shared=shared)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[-1]) / 1e6


def load_seconds(model: str) -> float:
    """Seconds to load the model once the libraries are in (what a subtitle.start pays when
    no session holds it)."""
    WhisperRecognizer(WhisperOptions(model=model)).close()  # imports, file cache
    began = time.perf_counter()
    WhisperRecognizer(WhisperOptions(model=model)).close()
    return time.perf_counter() - began


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--model", default="tiny.en")
    ap.add_argument("--phrases", type=int, default=8, help="phrases per recording (default 8)")
    ap.add_argument("--rounds", type=int, default=2, help="times each set-up runs (default 2)")
    ap.add_argument("--setups", default=";".join(SETUPS), help="set-ups, separated by ;")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-sessions-"))
    scripts = [
        make_script(
            work,
            PHRASES[: args.phrases],
            gaps=((0.8, 1.2, 1.5), (1.5, 0.8, 1.2))[k],
            voices=(("en-us", "en-gb"), ("en-gb", "en-us"))[k],
            seed=k,
            name=f"s{k}.wav",
        )
        for k in range(2)
    ]
    memory = {shared: resident(args.model, shared) for shared in (True, False)}
    load = load_seconds(args.model)
    names = args.setups.split(";")
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    for _ in range(args.rounds):
        for name in names:
            results[name].append(run(SETUPS[name], scripts, args.model))
    assert not MODELS.users(), "a benchmark recogniser kept its model"

    print(
        f"\n{args.model}, 1 CTranslate2 thread per worker, {len(scripts[0].phrases)} phrases "
        f"per session ({scripts[0].duration:.0f} s and {scripts[1].duration:.0f} s of audio), "
        f"{args.rounds} round(s), {os.cpu_count()} CPUs; load average at the end "
        f"{os.getloadavg()[0]:.1f}\n"
    )
    print(
        "| set-up | models loaded | final latency p50 / p95 / max | WER (each session) "
        "| CPU share | partial passes | shed | missed |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, runs in results.items():
        latency = [x for r in runs for x in r["latency"]]
        wer = " ".join(f"{w:.3f}" for r in runs for w in r["wer"])
        print(
            f"| {name} | {runs[0]['models']} | {pct(latency, 50):.2f} / {pct(latency, 95):.2f} / "
            f"{max(latency, default=float('nan')):.2f} s | {wer} | "
            f"{sum(r['cpu_share'] for r in runs) / len(runs):.2f} | "
            f"{sum(r['partial_passes'] for r in runs)} | {sum(r['shed'] for r in runs)} | "
            f"{sum(r['missed'] for r in runs)} |"
        )
        errors = [e for r in runs for e in r["errors"]]
        if errors:
            print(f"|   errors: {errors}")
    print(
        f"\nresident memory with two recognisers: one shared model {memory[True]:.0f} MB, "
        f"two own models {memory[False]:.0f} MB; loading the model again once no session "
        f"holds it: {load:.2f} s"
    )
    if args.json:
        out = {"results": results, "memory_mb": memory, "load_seconds": load}
        args.json.write_text(json.dumps(out, indent=1, default=str))


if __name__ == "__main__":
    main()
