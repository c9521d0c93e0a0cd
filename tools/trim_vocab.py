"""The vocabulary recipe of gemma3-270m-trim, and the checks that compare it with the full model.

    .venv/bin/python tools/trim_vocab.py select      # corpora -> npc_ai/data/trim/<name>.ids
    .venv/bin/python tools/trim_vocab.py build       # = npc-ai models build gemma3-270m-trim
    .venv/bin/python tools/trim_vocab.py tokens      # how much longer texts get when trimmed
    .venv/bin/python tools/trim_vocab.py agree       # next-token top-1 agreement and KL
    .venv/bin/python tools/trim_vocab.py bench       # tokens/s for 1, 2, 4, 8 NPCs, side by side

`select` needs the word lists of Debian's wamerican, wspanish, wfrench and wngerman packages
(`apt-get install wamerican wspanish wfrench wngerman`) and writes the kept token ids, one range
per line, into the package; `build` needs only the installed default model and that file.
Kept: every id below the first normal token (control, byte-fallback and markup tokens), every
user-defined token, the pieces of every word of the lists (as `word`, ` word`, ` Word`), of the
sample personas and docs, every single-character token of Latin, Greek and Cyrillic scripts and
general punctuation, every token made only of ASCII digits, punctuation and spaces, and then
every piece the tokenizer forms on the way to a kept token (merge closure).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from npc_ai.backends.trim import merge_closure, read_vocab  # noqa: E402
from npc_ai.models.cache import resolve_model  # noqa: E402

DICTS = {
    "en": Path("/usr/share/dict/american-english"),
    "es": Path("/usr/share/dict/spanish"),
    "fr": Path("/usr/share/dict/french"),
    "de": Path("/usr/share/dict/ngerman"),
}
TEXT_GLOBS = ["sample_game/personas/*.toml", "docs/*.md", "README.md"]
IDS_DIR = ROOT / "npc_ai" / "data" / "trim"
_ASCII_PUNCT = re.compile(r"[\d!-/:-@\[-`{-~▁ \t\n]+")

# Held-out dialogue lines for the agreement check (none of them is in the corpora), in the kept
# languages; each is asked of a speaker label the way the dialogue prompt asks for a reply.
HELD_OUT = {
    "en": [
        "Player: Good evening! Do you have a room for the night?\nInnkeeper:",
        "Player: I need a new blade, mine broke in the fight.\nBlacksmith:",
        "Player: Who goes there? Halt!\nGuard:",
        "Player: Tell me about the old mill by the river.\nFarmer:",
        "Player: The wolves came down from the hills again last night.\nHunter:",
        "Player: My horse is called Pepper. Can you shoe her?\nBlacksmith:",
        "Player: What news from the capital, traveller?\nMerchant:",
        "Player: I lost my ring somewhere near the well.\nOld woman:",
        "Player: Why is the bridge closed today?\nGuard:",
        "Player: How much for a loaf of bread and some cheese?\nBaker:",
    ],
    "es": [
        "Player: ¿Dónde está el mercado, por favor?\nMercader:",
        "Player: ¿Cuánto cuesta esta espada?\nHerrero:",
        "Jugador: Tengo hambre. ¿Qué hay para cenar hoy?\nPosadera:",
        "Jugador: Los lobos bajaron de las colinas anoche.\nCazador:",
        "Jugador: ¿Has visto a mi hermana? Lleva un vestido azul.\nGuardia:",
        "Jugador: Necesito una habitación para dos noches.\nPosadero:",
        "Jugador: ¿Quién vive en la torre del norte?\nAnciano:",
        "Jugador: Mi caballo se llama Canela y está cojo.\nHerrera:",
        "Jugador: ¿Por qué está cerrada la puerta de la ciudad?\nCapitán:",
        "Jugador: Cuéntame una historia del viejo molino.\nMolinero:",
    ],
    "fr": [
        "Joueur : Bonjour ! Avez-vous vu un cheval gris passer par ici ?\nGarde :",
        "Joueur : Combien coûte une chambre pour deux nuits ?\nAubergiste :",
        "Joueur : J'ai perdu mon épée dans la rivière.\nForgeron :",
        "Joueur : Que se passe-t-il au château ce soir ?\nServante :",
        "Joueur : Les loups sont revenus dans la forêt.\nChasseur :",
        "Joueur : Qui êtes-vous, et que faites-vous ici ?\nVoyageur :",
        "Joueur : Je cherche un homme nommé Gaspard.\nTavernière :",
        "Joueur : Le pont est-il sûr pour traverser ?\nPasseur :",
        "Joueur : Avez-vous du pain frais ce matin ?\nBoulanger :",
        "Joueur : Pourquoi les portes sont-elles fermées ?\nCapitaine :",
    ],
    "de": [
        "Spieler: Guten Morgen! Wo finde ich den Schmied?\nWache:",
        "Spieler: Ich suche meinen Bruder, er ist seit gestern verschwunden.\nWirtin:",
        "Spieler: Wie viel kostet ein Zimmer für eine Nacht?\nWirt:",
        "Spieler: Mein Schwert ist zerbrochen. Kannst du es reparieren?\nSchmiedin:",
        "Spieler: Was gibt es Neues aus der Hauptstadt?\nHändler:",
        "Spieler: Die Wölfe sind letzte Nacht wieder gekommen.\nJäger:",
        "Spieler: Warum ist das Tor heute geschlossen?\nHauptmann:",
        "Spieler: Hast du frisches Brot für mich?\nBäcker:",
        "Spieler: Wer wohnt in dem alten Turm am Fluss?\nAlte Frau:",
        "Spieler: Ich habe meinen Ring am Brunnen verloren.\nMagd:",
    ],
}


def _llama(path: Path):  # type: ignore[no-untyped-def]
    from llama_cpp import Llama

    return Llama(model_path=str(path), vocab_only=True, verbose=False)


def _words(path: Path) -> list[str]:
    out = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        word = line.strip().split("/")[0]
        if word and not word.startswith("#"):
            out.append(word)
    return out


def _latin_char(text: str) -> bool:
    if len(text) != 1:
        return False
    cp = ord(text)
    return cp < 0x0530 or 0x2000 <= cp < 0x20D0 or 0x1E00 <= cp < 0x1F00


def select(langs: list[str], name: str, max_id: int, first_max_id: int) -> Path:
    src = resolve_model("gemma3-270m")
    vocab = read_vocab(src)
    tok = _llama(src)
    first_normal = vocab.types.index(1)
    keep: set[int] = set(range(first_normal))
    keep |= {i for i, t in enumerate(vocab.types) if t == 4}
    for lang in langs:
        words = _words(DICTS[lang])
        print(f"{lang}: {len(words)} words from {DICTS[lang]}")
        for w in words:
            for text in (w, " " + w, " " + w[:1].upper() + w[1:]):
                ids = tok.tokenize(text.encode("utf-8"), add_bos=False, special=False)
                # Rare pieces (high ids: SentencePiece ranks pieces by frequency) stay out; a
                # word that needs one is spelled with shorter pieces instead.
                keep.update(i for i in ids if i < (first_max_id if lang == langs[0] else max_id))
    for pattern in TEXT_GLOBS:
        for file in sorted(ROOT.glob(pattern)):
            for text in file.read_text(encoding="utf-8").splitlines():
                keep.update(tok.tokenize(text.encode("utf-8"), add_bos=False, special=False))
    corpus = len(keep)
    for i, raw in enumerate(vocab.tokens):
        if vocab.types[i] != 1:
            continue
        text = raw.decode("utf-8", errors="replace")
        if _latin_char(text.replace("▁", " ")) or _ASCII_PUNCT.fullmatch(text):
            keep.add(i)
    chars = len(keep)
    keep = merge_closure(vocab, keep)
    print(
        f"kept {len(keep)} of {len(vocab.tokens)}: {corpus} from the corpora, "
        f"{chars - corpus} characters/digits/punctuation, {len(keep) - chars} merge pieces"
    )
    IDS_DIR.mkdir(parents=True, exist_ok=True)
    out = IDS_DIR / f"{name}.ids"
    ranges = []
    ids = sorted(keep)
    start = prev = ids[0]
    for i in ids[1:]:
        if i != prev + 1:
            ranges.append((start, prev))
            start = i
        prev = i
    ranges.append((start, prev))
    lines = [f"# kept token ids of gemma3-270m for {','.join(langs)}: tools/trim_vocab.py select"]
    lines += [f"{a}" if a == b else f"{a}-{b}" for a, b in ranges]
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {out} ({len(ranges)} ranges)")
    return out


def tokens_check(trimmed: Path) -> dict[str, object]:
    """Token counts of the same texts with both vocabularies."""
    full, small = _llama(resolve_model("gemma3-270m")), _llama(trimmed)
    texts = [p.split("\n")[0] for lines in HELD_OUT.values() for p in lines]
    for file in sorted(ROOT.glob("sample_game/personas/*.toml")):
        texts.append(file.read_text(encoding="utf-8"))
    texts += ["漢字とかなの混じった文", "Ελληνικά και кириллица", "emoji 🐉🔥 and café ñandú"]
    rows = []
    for text in texts:
        a = full.tokenize(text.encode(), add_bos=False, special=False)
        b = small.tokenize(text.encode(), add_bos=False, special=False)
        round_trip = small.detokenize(b).decode("utf-8", errors="replace") == text
        rows.append({"text": text[:40], "full": len(a), "trim": len(b), "round_trip": round_trip})
    for r in rows:
        print(f"{r['full']:6d} {r['trim']:6d} {r['round_trip']!s:5} {r['text']!r}")
    return {"rows": rows}


def _softmax(logits):  # type: ignore[no-untyped-def]
    import numpy as np

    x = np.asarray(logits, dtype=np.float64)
    x = x - x.max()
    e = np.exp(x)
    return e / e.sum()


def agree(trimmed: Path, steps: int) -> dict[str, object]:
    """Next-token agreement of the trimmed model with the full one on the held-out lines.

    Each model reads the line through its own tokenizer, as it would in a game. The full model
    then continues greedily for ``steps`` tokens; at every step both models' next-token
    distributions are compared: top-1 agreement (the same token text), KL(full || trimmed) over the
    kept tokens (the full distribution renormalised to them), and the full model's probability
    mass on kept tokens. The trimmed model is fed the full model's choice (its own spelling of it
    when that token was dropped), so both always see the same text.
    """
    import numpy as np
    from llama_cpp import Llama

    src = resolve_model("gemma3-270m")
    full_vocab, small_vocab = read_vocab(src), read_vocab(trimmed)
    index = small_vocab.index()
    to_small = np.full(len(full_vocab.tokens), -1, dtype=np.int64)
    for i, text in enumerate(full_vocab.tokens):
        j = index.get(text)
        if j is not None and small_vocab.types[j] == full_vocab.types[i]:
            to_small[i] = j
    keep_ids = np.nonzero(to_small >= 0)[0]
    opts = {"n_ctx": 512, "n_threads": 2, "logits_all": True, "verbose": False}
    full = Llama(model_path=str(src), **opts)
    small = Llama(model_path=str(trimmed), **opts)
    per_lang: dict[str, dict[str, list[float]]] = {}
    for lang, prompts in HELD_OUT.items():
        stats = per_lang.setdefault(lang, {"top1": [], "text": [], "kl": [], "mass": []})
        for prompt in prompts:
            full.reset()
            small.reset()
            full.eval(full.tokenize(prompt.encode(), add_bos=True, special=False))
            small.eval(small.tokenize(prompt.encode(), add_bos=True, special=False))
            for _ in range(steps):
                p = _softmax(full.scores[full.n_tokens - 1])
                q = _softmax(small.scores[small.n_tokens - 1])
                p_kept = p[keep_ids]
                stats["mass"].append(float(p_kept.sum()))
                p_r = p_kept / p_kept.sum()
                q_r = q[to_small[keep_ids]]
                stats["kl"].append(float(np.sum(p_r * (np.log(p_r + 1e-30) - np.log(q_r + 1e-30)))))
                nxt, mine = int(np.argmax(p)), int(np.argmax(q))
                stats["top1"].append(float(int(to_small[nxt]) == mine))
                # The same text: the trimmed model's choice starts the full model's (a dropped
                # piece spelled with shorter ones) or is it.
                theirs, ours = full.detokenize([nxt]), small.detokenize([mine])
                stats["text"].append(float(bool(ours) and theirs.startswith(ours)))
                if full_vocab.types[nxt] == 3 or nxt == full.token_eos():
                    break
                full.eval([nxt])
                if to_small[nxt] >= 0:
                    small.eval([int(to_small[nxt])])
                else:
                    piece = full.detokenize([nxt])
                    small.eval(small.tokenize(piece, add_bos=False, special=False))

    def summary(stats: dict[str, list[float]]) -> dict[str, float]:
        kls = sorted(stats["kl"])
        return {
            "positions": len(stats["top1"]),
            "top1_agreement": round(sum(stats["top1"]) / len(stats["top1"]), 4),
            "top1_same_text": round(sum(stats["text"]) / len(stats["text"]), 4),
            "kl_median": round(statistics.median(kls), 5),
            "kl_mean": round(sum(kls) / len(kls), 5),
            "kl_p95": round(kls[int(0.95 * (len(kls) - 1))], 5),
            "full_mass_on_kept_median": round(statistics.median(stats["mass"]), 5),
            "full_mass_on_kept_min": round(min(stats["mass"]), 5),
        }

    keys = ("top1", "text", "kl", "mass")
    pooled = {k: [x for s in per_lang.values() for x in s[k]] for k in keys}
    result: dict[str, object] = {"all": summary(pooled)}
    result.update({lang: summary(stats) for lang, stats in per_lang.items()})
    print(json.dumps(result, indent=2))
    return result


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _aggregate(engine, k: int, tokens_each: int, seed: int) -> float:  # type: ignore[no-untyped-def]
    """Tokens per second of ``k`` replies decoded together (sampling included)."""
    from npc_ai.engine import Job
    from npc_ai.generation import SamplingParams

    engine.reset()
    for i in range(k):
        params = SamplingParams(max_tokens=tokens_each, seed=seed + i, temperature=0.7)
        engine.submit(
            Job(key=i, segments=(f"Story {i}: the old forge at the edge of town",), params=params)
        )
    while len(engine._active) < k or any(a.todo for a in engine._active.values()):
        engine.step()
    produced, started = 0, time.perf_counter()
    while engine._active:
        produced += len(engine._active)
        engine.step()
    return produced / (time.perf_counter() - started)


def bench(trimmed: Path, rounds: int, tokens_each: int, threads: int) -> dict[str, object]:
    """Both models side by side: each round measures full then trimmed at every batch size."""
    import gc
    import os

    from npc_ai.backends._llama import LlamaOptions
    from npc_ai.backends.llama_engine import EngineOptions, LlamaBatchEngine

    paths = {"full": resolve_model("gemma3-270m"), "trim": trimmed}
    rows = (1, 2, 4, 8)
    rates: dict[str, dict[int, list[float]]] = {m: {k: [] for k in rows} for m in paths}
    rss: dict[str, float] = {}
    for r in range(rounds):
        for name, path in paths.items():
            gc.collect()
            before = _rss_mib()
            engine = LlamaBatchEngine(
                path, options=EngineOptions(llama=LlamaOptions(threads=threads))
            )
            try:
                for k in rows:
                    rates[name][k].append(_aggregate(engine, k, tokens_each, seed=r * 10))
                rss[name] = _rss_mib() - before
            finally:
                engine.close()
    med = {m: {k: statistics.median(v) for k, v in by.items()} for m, by in rates.items()}
    result = {
        "threads": threads,
        "rounds": rounds,
        "tokens_each": tokens_each,
        "file_mib": {m: os.path.getsize(p) / 2**20 for m, p in paths.items()},
        "rss_added_mib": rss,
        "aggregate_tokens_per_s_median": med,
        "trim_over_full": {k: med["trim"][k] / med["full"][k] for k in rows},
        "batch_gain_over_1": {m: {k: med[m][k] / med[m][1] for k in rows} for m in med},
    }
    print(json.dumps(result, indent=2))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("select")
    s.add_argument("--langs", default="en,es,fr,de")
    s.add_argument("--name", default="gemma3-270m-trim")
    s.add_argument("--max-id", type=int, default=64000, help="drop word pieces from this rank")
    s.add_argument("--first-max-id", type=int, default=131072, help="the same, first language")
    b = sub.add_parser("build")
    b.add_argument("--name", default="gemma3-270m-trim")
    t = sub.add_parser("tokens")
    t.add_argument("--model", type=Path, default=None)
    a = sub.add_parser("agree")
    a.add_argument("--model", type=Path, default=None)
    a.add_argument("--steps", type=int, default=24)
    a.add_argument("--out", type=Path, default=ROOT / "out" / "trim_agree.json")
    c = sub.add_parser("bench")
    c.add_argument("--model", type=Path, default=None)
    c.add_argument("--rounds", type=int, default=3)
    c.add_argument("--tokens", type=int, default=32, help="tokens per reply")
    c.add_argument("--threads", type=int, default=None)
    c.add_argument("--out", type=Path, default=ROOT / "out" / "trim_bench.json")
    args = parser.parse_args()
    if args.cmd == "select":
        select(args.langs.split(","), args.name, args.max_id, args.first_max_id)
        return
    if args.cmd == "build":
        from npc_ai.models.derived import build_model

        started = time.perf_counter()
        path = build_model(args.name)
        print(f"{path} in {time.perf_counter() - started:.1f} s")
        return
    model = args.model or resolve_model("gemma3-270m-trim")
    if args.cmd == "tokens":
        tokens_check(model)
    elif args.cmd == "bench":
        from npc_ai.backends._llama import default_threads

        result = bench(model, args.rounds, args.tokens, args.threads or default_threads())
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    else:
        result = agree(model, args.steps)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
