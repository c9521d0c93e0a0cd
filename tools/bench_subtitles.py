"""Live-subtitle benchmark: latency, real-time factor, WER and CPU share of streaming
transcription, on espeak-ng speech with known phrase times.

    .venv/bin/python tools/bench_subtitles.py                  # tiny.en: short, 30 s, base finals
    .venv/bin/python tools/bench_subtitles.py --load 2         # with two busy-loop processes
    .venv/bin/python tools/bench_subtitles.py --translate es   # plus translation of finals

For each configuration, in one run:

* *fast*: the file streamed as fast as the CPU allows (0.1 s chunks, a pass whenever due):
  real-time factor = wall time / audio time; word error rate of the finals against the script,
  next to faster-whisper's offline transcription of the whole file (beam 5, 30 s windows).
* *realtime*: the file played at real-time pace through a LiveSubtitles session. Latency of a
  phrase = wall time its last final caption was emitted - wall time the phrase's last sample
  was played. First partial = first caption of a phrase - wall time its first sample played.
  CPU share = process CPU seconds / wall seconds during the session (1.0 = one core busy).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from npc_ai.backends.faster_whisper import SileroVad, WhisperOptions, WhisperRecognizer  # noqa: E402
from npc_ai.speech.audio import FileSource  # noqa: E402
from npc_ai.speech.events import Caption, CaptionTranslation, SubtitleError  # noqa: E402
from npc_ai.speech.streaming import StreamingTranscriber  # noqa: E402
from npc_ai.subtitles import LiveSubtitles, SubtitleOptions  # noqa: E402
from tests.speech_fixtures import (  # noqa: E402
    PHRASES,
    Phrase,
    SpeechScript,
    make_script,
    word_error_rate,
)


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return float(np.percentile(values, q))


def phrase_of(caption: Caption | CaptionTranslation, phrases: tuple[Phrase, ...]) -> int:
    """The phrase a caption overlaps most (by audio time)."""
    best, best_overlap = 0, -1e9
    for i, p in enumerate(phrases):
        overlap = min(caption.end, p.end) - max(caption.start, p.start)
        if overlap > best_overlap:
            best, best_overlap = i, overlap
    return best


def run_fast(
    recognizer: WhisperRecognizer,
    audio: np.ndarray,
    script: SpeechScript,
    final: WhisperRecognizer | None = None,
) -> dict[str, Any]:
    st = StreamingTranscriber(recognizer, SileroVad(), final_recognizer=final)
    began, cpu0 = time.perf_counter(), cpu_seconds()
    captions: list[Caption] = []
    for i in range(0, len(audio), 1600):
        st.insert_audio(audio[i : i + 1600])
        captions += st.process_iter()
    captions += st.finish()
    wall, cpu = time.perf_counter() - began, cpu_seconds() - cpu0
    text = " ".join(c.text for c in captions if c.final)
    return {
        "rtf": wall / script.duration,
        "cpu_rtf": cpu / script.duration,
        "wer": word_error_rate(script.text, text),
        "text": text,
        "partials": sum(not c.final for c in captions),
        "stats": st.stats,
    }


def run_realtime(
    recognizer: WhisperRecognizer,
    script: SpeechScript,
    translator: Any,
    targets: tuple[str, ...],
    final: WhisperRecognizer | None = None,
) -> dict[str, Any]:
    source = FileSource(script.path, realtime=True)
    st = StreamingTranscriber(recognizer, SileroVad(), final_recognizer=final)
    session = LiveSubtitles(
        source,
        options=SubtitleOptions(targets=targets),
        transcriber=st,
        translator=translator,
    )
    emitted: list[tuple[float, Any]] = []
    began, cpu0 = time.monotonic(), cpu_seconds()
    with session:
        for event in session.events(timeout=60):
            emitted.append((time.monotonic(), event))
    wall, cpu = time.monotonic() - began, cpu_seconds() - cpu0
    t0 = source.started_at or began
    phrases = script.phrases
    last_final: dict[int, float] = {}
    first_caption: dict[int, float] = {}
    translation_delay: list[float] = []
    final_at: dict[int, float] = {}
    errors = []
    for when, e in emitted:
        if isinstance(e, SubtitleError):
            errors.append(e.error.message)
            continue
        i = phrase_of(e, phrases)
        if isinstance(e, Caption):
            first_caption.setdefault(i, when)
            if e.final:
                last_final[i] = when
                final_at[e.segment] = when
        elif e.segment in final_at:
            translation_delay.append(when - final_at[e.segment])
    latency = [last_final[i] - (t0 + p.end) for i, p in enumerate(phrases) if i in last_final]
    first = [first_caption[i] - (t0 + p.start) for i, p in enumerate(phrases) if i in first_caption]
    finals = [e for _, e in emitted if isinstance(e, Caption) and e.final]
    return {
        "latency": latency,
        "first": first,
        "missed": len(phrases) - len(last_final),
        "cpu_share": cpu / wall,
        "wer": word_error_rate(script.text, " ".join(c.text for c in finals)),
        "stats": st.stats,
        "translation": translation_delay,
        "translation_cost": session.translation_seconds,
        "errors": errors,
    }


def spawn_load(n: int) -> list[subprocess.Popen[bytes]]:
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(max(0, n))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--model", default="tiny.en")
    ap.add_argument("--phrases", type=int, default=len(PHRASES))
    ap.add_argument("--threads", type=int, default=1, help="CTranslate2 threads (default 1)")
    ap.add_argument(
        "--configs",
        default="short,full,base-finals",
        help="short (default window), full (30 s window), base-finals (whisper-base finals)",
    )
    ap.add_argument("--load", type=int, default=0, help="busy-loop processes to run alongside")
    ap.add_argument("--translate", default="", help="targets, e.g. es or es,fr (needs packs)")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-subtitles-"))
    script = make_script(work, PHRASES[: args.phrases], gaps=(0.8, 1.2, 1.5))
    from faster_whisper.audio import decode_audio

    audio = np.asarray(decode_audio(str(script.path)), np.float32)
    targets = tuple(t for t in args.translate.split(",") if t)
    translator = None
    if targets:
        from npc_ai.translate import open_translator

        translator = open_translator("auto")
        translator.translate("Warm-up.", "en", targets[0])  # first call loads the model

    load = spawn_load(args.load)
    results: dict[str, Any] = {}
    try:
        base = WhisperOptions(model=args.model, cpu_threads=args.threads)
        offline_rec = WhisperRecognizer(base)
        began = time.perf_counter()
        offline = offline_rec.transcribe_offline(audio)
        offline_rtf = (time.perf_counter() - began) / script.duration
        offline_wer = word_error_rate(script.text, offline)
        for name in args.configs.split(","):
            opts = replace(base, full_context=(name == "full"))
            rec = WhisperRecognizer(opts)
            rec.transcribe(audio[:16000])  # warm-up
            final = None
            if name == "base-finals":
                final = WhisperRecognizer(replace(opts, model="base", language="en"))
                final.transcribe(audio[:16000])
            fast = run_fast(rec, audio, script, final)
            rt = run_realtime(rec, script, translator, targets, final)
            results[name] = {"fast": fast, "realtime": rt}
    finally:
        for p in load:
            p.kill()
            p.wait()
        if translator is not None:
            translator.close()

    print(
        f"\n{args.model}, {args.threads} thread(s), {len(script.phrases)} espeak phrases, "
        f"{script.duration:.1f} s of audio, load {args.load} busy process(es), "
        f"{os.cpu_count()} CPUs; load average at the end {os.getloadavg()[0]:.1f}\n"
    )
    print(
        f"offline (faster-whisper transcribe, beam 5): WER {offline_wer:.3f}, "
        f"RTF {offline_rtf:.3f}\n"
    )
    header = (
        "| config | RTF (fast) | WER stream | WER / offline | final latency p50 / p95 | "
        "first caption p50 / p95 | CPU share | partial passes | shed | missed |"
    )
    print(header)
    print("|---" * 10 + "|")
    for name, r in results.items():
        f, rt = r["fast"], r["realtime"]
        s = rt["stats"]
        print(
            f"| {name} | {f['rtf']:.3f} | {f['wer']:.3f} (rt {rt['wer']:.3f}) | "
            f"{f['wer'] / offline_wer if offline_wer else float('nan'):.2f}x | "
            f"{pct(rt['latency'], 50):.2f} / {pct(rt['latency'], 95):.2f} s | "
            f"{pct(rt['first'], 50):.2f} / {pct(rt['first'], 95):.2f} s | "
            f"{rt['cpu_share']:.2f} | {s.partial_passes} | {s.shed_passes} | {rt['missed']} |"
        )
        if rt["translation"]:
            print(
                f"|   translation ({','.join(targets)}): after its final p50 "
                f"{pct(rt['translation'], 50):.2f} s p95 {pct(rt['translation'], 95):.2f} s; "
                f"model time per caption median {statistics.median(rt['translation_cost']):.2f} s"
            )
        if rt["errors"]:
            print(f"|   errors: {rt['errors']}")
    if args.json:
        out = {
            "offline_wer": offline_wer,
            "offline_rtf": offline_rtf,
            "configs": {
                n: {
                    "fast": {k: v for k, v in r["fast"].items() if k != "stats"},
                    "realtime": {k: v for k, v in r["realtime"].items() if k != "stats"},
                }
                for n, r in results.items()
            },
        }
        args.json.write_text(json.dumps(out, indent=1, default=str))


if __name__ == "__main__":
    main()
