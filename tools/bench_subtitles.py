"""Live-subtitle benchmark: latency, real-time factor, WER and CPU share of streaming
transcription, on espeak-ng speech with known phrase times.

    .venv/bin/python tools/bench_subtitles.py                  # tiny.en: the default configs
    .venv/bin/python tools/bench_subtitles.py --configs short,context-beam5
    .venv/bin/python tools/bench_subtitles.py --load 2         # with two busy-loop processes
    .venv/bin/python tools/bench_subtitles.py --translate es   # plus translation of finals

For each configuration, in one run:

* *fast*: each script streamed as fast as the CPU allows (0.1 s chunks, a pass whenever due):
  real-time factor = wall time / audio time; word error rate of the finals against the script
  (pooled over ``--scripts`` recordings of the phrases, voices and pauses rotated), next to
  faster-whisper's offline transcription of the whole file (30 s windows, no VAD) *with the
  finals' model and beam*: the like-for-like reference (beam 5 offline is shown too).
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
from npc_ai.backends.pyav import FileSource  # noqa: E402
from npc_ai.subtitles.live import LiveSubtitles, SubtitleOptions  # noqa: E402
from npc_ai.subtitles.speech.events import Caption, CaptionTranslation, SubtitleError  # noqa: E402
from npc_ai.subtitles.speech.streaming import StreamingOptions, StreamingTranscriber  # noqa: E402
from tests.speech_fixtures import (  # noqa: E402
    PHRASES,
    Phrase,
    SpeechScript,
    make_script,
    word_error_rate,
    words_of,
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


CONFIGS: dict[str, dict[str, Any]] = {
    # name: final model (None: the partials' model), final beam, StreamingOptions.context, 30 s
    "short": {"final": None, "beam": 1, "context": 0.0},
    "full": {"final": None, "beam": 1, "context": 0.0, "full": True},
    "beam5": {"final": None, "beam": 5, "context": 0.0},
    "context": {"final": None, "beam": 1, "context": 13.0},
    "context-beam5": {"final": None, "beam": 5, "context": 13.0},
    "base-finals": {"final": "base", "beam": 1, "context": 0.0},
    "context-beam5-s03": {"final": None, "beam": 5, "context": 13.0, "min_silence": 0.3},
}


def errors(reference: str, hypothesis: str) -> tuple[float, int]:
    """Word errors and reference words (so rates can be pooled over scripts)."""
    n = len(words_of(reference))
    return word_error_rate(reference, hypothesis) * n, n


def run_fast(
    recognizer: WhisperRecognizer,
    audio: np.ndarray,
    script: SpeechScript,
    final: WhisperRecognizer | None = None,
    options: StreamingOptions | None = None,
) -> dict[str, Any]:
    st = StreamingTranscriber(recognizer, SileroVad(), options=options, final_recognizer=final)
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
        "errors": errors(script.text, text),
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
    options: StreamingOptions | None = None,
) -> dict[str, Any]:
    source = FileSource(script.path, realtime=True)
    st = StreamingTranscriber(recognizer, SileroVad(), options=options, final_recognizer=final)
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
        default="short,beam5,context,context-beam5,base-finals",
        help=", ".join(CONFIGS),
    )
    ap.add_argument("--scripts", type=int, default=2, help="recordings for the WER (default 2)")
    ap.add_argument("--load", type=int, default=0, help="busy-loop processes to run alongside")
    ap.add_argument("--translate", default="", help="targets, e.g. es or es,fr (needs packs)")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-subtitles-"))
    from faster_whisper.audio import decode_audio

    scripts: list[tuple[SpeechScript, np.ndarray]] = []
    for k in range(max(1, args.scripts)):
        voices = ("en-us", "en-gb")[k % 2 :] + ("en-us", "en-gb")[: k % 2]
        gaps = (0.8, 1.2, 1.5)[k % 3 :] + (0.8, 1.2, 1.5)[: k % 3]
        made = make_script(
            work, PHRASES[: args.phrases], gaps=gaps, voices=voices, seed=k, name=f"s{k}.wav"
        )
        scripts.append((made, np.asarray(decode_audio(str(made.path)), np.float32)))
    script, audio = scripts[0]
    targets = tuple(t for t in args.translate.split(",") if t)
    translator = None
    if targets:
        from npc_ai.translation import open_translator

        translator = open_translator("auto")
        translator.translate("Warm-up.", "en", targets[0])  # first call loads the model

    load = spawn_load(args.load)
    results: dict[str, Any] = {}
    offline: dict[tuple[str, int], float] = {}
    offline_rtf = 0.0
    recognizers: dict[str, WhisperRecognizer] = {}

    def recognizer_for(model: str) -> WhisperRecognizer:
        if model not in recognizers:
            language = "en" if model == "base" else None
            rec = WhisperRecognizer(replace(base, model=model, language=language))
            rec.transcribe(audio[:16000])  # warm-up
            recognizers[model] = rec
        return recognizers[model]

    def reference(model: str, beam: int) -> float:
        nonlocal offline_rtf
        if (model, beam) not in offline:
            rec, bad, total, began = recognizer_for(model), 0.0, 0, time.perf_counter()
            for sc, au in scripts:
                e, n = errors(sc.text, rec.transcribe_offline(au, beam_size=beam))
                bad, total = bad + e, total + n
            if (model, beam) == (args.model, 5):
                offline_rtf = (time.perf_counter() - began) / sum(s.duration for s, _ in scripts)
            offline[(model, beam)] = bad / total
        return offline[(model, beam)]

    try:
        base = WhisperOptions(model=args.model, cpu_threads=args.threads)
        reference(args.model, 5)
        reference(args.model, 1)
        for name in args.configs.split(","):
            cfg = CONFIGS[name]
            if cfg.get("full"):
                rec = WhisperRecognizer(replace(base, full_context=True))
                rec.transcribe(audio[:16000])
            else:
                rec = recognizer_for(args.model)
            final_model = cfg["final"] or args.model
            final = rec if cfg.get("full") else recognizer_for(final_model).with_beam(cfg["beam"])
            options = StreamingOptions(
                context=cfg["context"], min_silence=cfg.get("min_silence", 0.4)
            )
            fast = [run_fast(rec, au, sc, final, options) for sc, au in scripts]
            rt = run_realtime(rec, script, translator, targets, final, options)
            pooled = sum(f["errors"][0] for f in fast) / sum(f["errors"][1] for f in fast)
            results[name] = {
                "fast": fast[0],
                "wer": pooled,
                "wer_each": [f["wer"] for f in fast],
                "offline": reference(final_model, cfg["beam"]),
                "reference": f"{final_model} beam {cfg['beam']}",
                "realtime": rt,
            }
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
    words = sum(len(words_of(sc.text)) for sc, _ in scripts)
    print(f"{len(scripts)} recording(s), {words} words; offline (faster-whisper transcribe):")
    for (model, beam), wer in offline.items():
        print(f"  {model} beam {beam}: WER {wer:.3f}")
    print(f"  offline RTF ({args.model}, beam 5): {offline_rtf:.3f}\n")
    header = (
        "| config | RTF (fast) | WER stream (each) | offline, same model+beam | ratio | "
        "final latency p50 / p95 / max | first caption p50 / p95 | CPU share | partial passes "
        "| shed | missed |"
    )
    print(header)
    print("|---" * 11 + "|")
    for name, r in results.items():
        f, rt = r["fast"], r["realtime"]
        s = rt["stats"]
        each = " ".join(f"{w:.3f}" for w in r["wer_each"])
        print(
            f"| {name} | {f['rtf']:.3f} | {r['wer']:.3f} ({each}; rt {rt['wer']:.3f}) | "
            f"{r['offline']:.3f} ({r['reference']}) | "
            f"{r['wer'] / r['offline'] if r['offline'] else float('nan'):.2f}x | "
            f"{pct(rt['latency'], 50):.2f} / {pct(rt['latency'], 95):.2f} / "
            f"{max(rt['latency'], default=float('nan')):.2f} s | "
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
            "offline_wer": {f"{m} beam {b}": w for (m, b), w in offline.items()},
            "offline_rtf": offline_rtf,
            "configs": {
                n: {
                    "wer": r["wer"],
                    "offline": r["offline"],
                    "fast": {k: v for k, v in r["fast"].items() if k != "stats"},
                    "realtime": {k: v for k, v in r["realtime"].items() if k != "stats"},
                }
                for n, r in results.items()
            },
        }
        args.json.write_text(json.dumps(out, indent=1, default=str))


if __name__ == "__main__":
    main()
