"""A tiny Argos Translate pack built from scratch, for tests and the translation benchmark.

No pack can be downloaded here, so :func:`make_pack` builds a real one: a SentencePiece model
trained on a few lines, a CTranslate2 Transformer (one layer, width 32) written with
``ctranslate2.specs`` from small random weights, and ``metadata.json``, zipped as a
``.argosmodel`` the way Argos lays packs out (one directory holding ``metadata.json``,
``model/``, ``sentencepiece.model``, ``README.md``).

With ``reply`` set, the random weights are adjusted so the model always answers that text:
every sub-layer's output projection is zero, so the decoder state is the previous token's
embedding (one-hot, scaled far above the position encoding), and the output projection maps
each token of the reply to the next one, then to ``</s>``. Tests can then check the exact
output of the whole path (pack, tokenizer, model, decoding). Without ``reply`` the weights
stay random (the output is noise; only its cost means anything).
"""

from __future__ import annotations

import io
import itertools
import json
import zipfile
from pathlib import Path

import numpy as np

__all__ = ["TRAINING_LINES", "make_pack"]

TRAINING_LINES = [
    "Where is the inn? I need a room for the night.",
    "The blacksmith says the sword will be ready tomorrow.",
    "hola mundo, buenos días, bonjour le monde, merci beaucoup.",
    "Guards! Close the gate before the wolves come down the hill.",
    "la posada está cerrada, la espada está lista, el herrero trabaja.",
    "a quick brown fox jumps over the lazy dog near the river.",
]

_WIDTH = 32
_HEADS = 2
_FFN = 64


def _train_sentencepiece(lines: list[str], vocab_size: int) -> bytes:
    import sentencepiece as spm

    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines),
        model_writer=model,
        vocab_size=vocab_size,
        model_type="unigram",
        character_coverage=1.0,
        hard_vocab_limit=False,
        minloglevel=2,
    )
    return model.getvalue()


def _build_model(
    out_dir: Path, vocabulary: list[str], reply_tokens: list[str] | None, seed: int
) -> None:
    from ctranslate2.specs import transformer_spec

    rng = np.random.default_rng(seed)
    d, vocab = _WIDTH, len(vocabulary)
    spec = transformer_spec.TransformerSpec.from_config(1, _HEADS)

    def rand(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) * 0.1).astype(np.float32)

    def layer_norm(ln: object) -> None:
        ln.gamma = np.ones(d, np.float32)  # type: ignore[attr-defined]
        ln.beta = np.zeros(d, np.float32)  # type: ignore[attr-defined]

    enc, dec = spec.encoder, spec.decoder
    enc.embeddings[0].weight = rand(vocab, d)
    layer_norm(enc.layer_norm)
    for layer in enc.layer:
        layer_norm(layer.self_attention.layer_norm)
        layer.self_attention.linear[0].weight = rand(3 * d, d)
        layer.self_attention.linear[1].weight = rand(d, d)
        layer_norm(layer.ffn.layer_norm)
        layer.ffn.linear_0.weight = rand(_FFN, d)
        layer.ffn.linear_1.weight = rand(d, _FFN)
    dec.embeddings.weight = rand(vocab, d)
    layer_norm(dec.layer_norm)
    dec.projection.weight = rand(vocab, d)
    for layer in dec.layer:
        layer_norm(layer.self_attention.layer_norm)
        layer.self_attention.linear[0].weight = rand(3 * d, d)
        layer.self_attention.linear[1].weight = rand(d, d)
        layer_norm(layer.attention.layer_norm)
        layer.attention.linear[0].weight = rand(d, d)
        layer.attention.linear[1].weight = rand(2 * d, d)
        layer.attention.linear[2].weight = rand(d, d)
        layer_norm(layer.ffn.layer_norm)
        layer.ffn.linear_0.weight = rand(_FFN, d)
        layer.ffn.linear_1.weight = rand(d, _FFN)

    if reply_tokens is not None:
        chain = ["<s>", *reply_tokens, "</s>"]
        if len(set(chain)) != len(chain) or len(chain) - 1 > d:
            raise ValueError(f"reply tokens must be distinct and at most {d - 2}: {chain}")
        index = {token: i for i, token in enumerate(vocabulary)}
        # Nothing but the embedding reaches the output: zero every sub-layer's output.
        for layer in dec.layer:
            layer.self_attention.linear[1].weight = np.zeros((d, d), np.float32)
            layer.attention.linear[2].weight = np.zeros((d, d), np.float32)
            layer.ffn.linear_1.weight = np.zeros((d, _FFN), np.float32)
        embeddings = rand(vocab, d)
        projection = np.zeros((vocab, d), np.float32)
        for slot, (token, following) in enumerate(itertools.pairwise(chain)):
            one_hot = np.zeros(d, np.float32)
            one_hot[slot] = 1.0
            embeddings[index[token]] = one_hot * 20.0  # far above the position encoding
            projection[index[following]] = one_hot * 30.0
        dec.embeddings.weight = embeddings
        dec.projection.weight = projection

    spec.register_source_vocabulary(vocabulary)
    spec.register_target_vocabulary(vocabulary)
    spec.validate()
    spec.save(str(out_dir))


def make_pack(
    path: Path,
    *,
    source: str = "en",
    target: str = "es",
    reply: str | None = "hola mundo",
    seed: int = 7,
    vocab_size: int = 120,
) -> Path:
    """Write a ``.argosmodel`` pack translating ``source`` into ``target`` at ``path``.

    With ``reply`` the pack answers every sentence with that text (made of distinct words);
    with ``None`` it outputs noise.
    Returns ``path``.
    """
    import sentencepiece as spm

    # The reply, repeated, becomes whole-word pieces (the answer chain needs distinct tokens).
    lines = TRAINING_LINES + ([reply] * 30 if reply else [])
    sp_bytes = _train_sentencepiece(lines, vocab_size)
    processor = spm.SentencePieceProcessor(model_proto=sp_bytes)
    vocabulary = [processor.id_to_piece(i) for i in range(processor.get_piece_size())]
    reply_tokens = None if reply is None else processor.encode(reply, out_type=str)
    top = f"translate-{source}_{target}-1_0"
    build = path.parent / f".{path.name}.build"
    model_dir = build / "model"
    model_dir.mkdir(parents=True, exist_ok=True)
    _build_model(model_dir, vocabulary, reply_tokens, seed)
    metadata = {
        "package_version": "1.0",
        "argos_version": "1.5",
        "from_code": source,
        "from_name": source.upper(),
        "to_code": target,
        "to_name": target.upper(),
        "type": "translate",
        "links": [],
    }
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zipf:
        zipf.writestr(f"{top}/metadata.json", json.dumps(metadata, indent=2))
        zipf.writestr(f"{top}/sentencepiece.model", sp_bytes)
        zipf.writestr(f"{top}/README.md", "A test pack with random weights.\n")
        for file in sorted(model_dir.iterdir()):
            zipf.write(file, f"{top}/model/{file.name}")
    for file in model_dir.iterdir():
        file.unlink()
    model_dir.rmdir()
    build.rmdir()
    return path
