"""Vocabulary-trimmed GGUF models: the writer on a tiny synthetic GGUF, the derived-model cache,
and (marked ``model``) the real gemma3-270m-trim against the full model."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import gguf
import numpy as np
import pytest

from npc_ai.backends.trim import (
    merge_closure,
    read_vocab,
    spm_pieces,
    write_trimmed,
)
from npc_ai.errors import InputError, ModelChecksumError, ModelNotFoundError
from npc_ai.models import derived

NORMAL, CONTROL, USER, BYTE = 1, 3, 4, 6
# id: text, score, type. Ids 4..259 are the 256 byte tokens.
HEAD = [("<pad>", 0.0, CONTROL), ("<eos>", 0.0, CONTROL), ("<bos>", 0.0, CONTROL)]
HEAD += [("<unused0>", 0.0, CONTROL)]
BYTES = [(f"<0x{b:02X}>", 0.0, BYTE) for b in range(256)]
# "▁ab" is built ▁ + a -> "▁a", then "▁a" + b; "ab" outranks nothing here.
WORDS = [
    ("▁", -1.0, NORMAL),
    ("a", -2.0, NORMAL),
    ("b", -3.0, NORMAL),
    ("▁a", -4.0, NORMAL),
    ("ab", -9.0, NORMAL),
    ("▁ab", -5.0, NORMAL),
    ("c", -6.0, NORMAL),
    ("<unused1>", 0.0, CONTROL),
    ("\n", 0.0, USER),
]
VOCAB = HEAD + BYTES + WORDS
IDS = {text: i for i, (text, _, _) in enumerate(VOCAB)}


def _write_gguf(path: Path, model: str = "llama") -> np.ndarray:
    writer = gguf.GGUFWriter(str(path), "gemma3")
    writer.add_string("general.name", "tiny")
    writer.add_string("tokenizer.ggml.model", model)
    writer.add_uint32("tokenizer.ggml.bos_token_id", IDS["<bos>"])
    writer.add_uint32("tokenizer.ggml.eos_token_id", IDS["<eos>"])
    writer.add_token_list([t for t, _, _ in VOCAB])
    writer.add_token_scores([s for _, s, _ in VOCAB])
    writer.add_token_types([k for _, _, k in VOCAB])
    embed = np.arange(len(VOCAB) * 4, dtype=np.float32).reshape(len(VOCAB), 4)
    writer.add_tensor("token_embd.weight", embed)
    writer.add_tensor("output_norm.weight", np.ones(4, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return embed


@pytest.fixture
def tiny(tmp_path: Path) -> tuple[Path, np.ndarray]:
    path = tmp_path / "tiny.gguf"
    return path, _write_gguf(path)


def test_spm_pieces_follow_scores() -> None:
    vocab_index = {t.encode(): i for i, (t, _, _) in enumerate(VOCAB)}
    scores = [s for _, s, _ in VOCAB]
    # ▁+a (score -4) merges before a+b (-9); then ▁a+b -> ▁ab.
    assert spm_pieces("▁ab".encode(), vocab_index, scores) == [IDS["▁a"], IDS["▁ab"]]
    assert spm_pieces(b"ab", vocab_index, scores) == [IDS["ab"]]
    assert spm_pieces(b"c", vocab_index, scores) == []


def test_merge_closure_adds_intermediate_pieces(tiny: tuple[Path, np.ndarray]) -> None:
    vocab = read_vocab(tiny[0])
    assert merge_closure(vocab, {IDS["▁ab"]}) == {IDS["▁ab"], IDS["▁a"]}


def test_write_trimmed_remaps_vocab_and_embedding_rows(
    tiny: tuple[Path, np.ndarray], tmp_path: Path
) -> None:
    src, embed = tiny
    keep = [IDS["▁"], IDS["a"], IDS["▁a"], IDS["\n"], IDS["<bos>"]]
    out = write_trimmed(src, tmp_path / "out" / "small.gguf", keep)
    reader = gguf.GGUFReader(str(out.path))
    tokens = reader.fields["tokenizer.ggml.tokens"].contents()
    # Every byte token and named control token is kept; <unusedN> and unkept words are not.
    expected = [t for t, _, k in HEAD if not t.startswith("<unused")]
    expected += [t for t, _, _ in BYTES] + ["▁", "a", "▁a", "\n"]
    assert tokens == expected
    assert out.n_vocab == len(expected) and out.source_n_vocab == len(VOCAB)
    assert reader.fields["tokenizer.ggml.bos_token_id"].contents() == tokens.index("<bos>")
    assert reader.fields["tokenizer.ggml.eos_token_id"].contents() == tokens.index("<eos>")
    scores = list(reader.fields["tokenizer.ggml.scores"].contents())
    assert scores == [VOCAB[IDS[t]][1] for t in expected]
    rows = {t.name: np.array(t.data) for t in reader.tensors}
    np.testing.assert_array_equal(rows["token_embd.weight"], embed[[IDS[t] for t in expected]])
    np.testing.assert_array_equal(rows["output_norm.weight"], np.ones(4, dtype=np.float32))
    assert reader.fields["general.name"].contents() == "tiny (vocab trimmed)"
    assert os.path.getsize(out.path) == out.size
    assert not list((tmp_path / "out").glob(".*tmp"))


def test_write_trimmed_is_reproducible(tiny: tuple[Path, np.ndarray], tmp_path: Path) -> None:
    keep = [IDS["▁ab"], IDS["▁a"]]
    a = write_trimmed(tiny[0], tmp_path / "a.gguf", keep)
    b = write_trimmed(tiny[0], tmp_path / "b.gguf", keep)
    assert a.sha256 == b.sha256
    assert Path(a.path).read_bytes() == Path(b.path).read_bytes()


def test_bad_inputs_are_input_errors(tiny: tuple[Path, np.ndarray], tmp_path: Path) -> None:
    with pytest.raises(InputError, match="out of range"):
        write_trimmed(tiny[0], tmp_path / "x.gguf", [len(VOCAB) + 5])
    not_gguf = tmp_path / "no.gguf"
    not_gguf.write_bytes(b"not a model at all")
    with pytest.raises(InputError, match="not a readable GGUF"):
        read_vocab(not_gguf)
    bpe = tmp_path / "bpe.gguf"
    _write_gguf(bpe, model="gpt2")
    with pytest.raises(InputError, match="only SentencePiece"):
        write_trimmed(bpe, tmp_path / "y.gguf", [0])
    assert not (tmp_path / "x.gguf").exists() and not (tmp_path / "y.gguf").exists()


def test_read_ids_parses_ranges() -> None:
    ids = derived.read_ids(derived.DERIVED["gemma3-270m-trim"])
    assert ids == sorted(set(ids))
    assert ids[:494] == list(range(494))  # control, markup and byte tokens keep their ids
    assert 40_000 < len(ids) < 80_000


def test_derived_not_built_is_built_on_first_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from npc_ai.models.cache import resolve_model

    monkeypatch.setenv("NPC_AI_CACHE_DIR", str(tmp_path))
    built: list[str] = []

    def build(name: str, *, progress: object = None) -> Path:
        built.append(name)
        return tmp_path / "built.gguf"

    monkeypatch.setattr(derived, "build_model", build)
    assert resolve_model("gemma3-270m-trim") == tmp_path / "built.gguf"
    assert built == ["gemma3-270m-trim"]
    assert derived.derived_status("gemma3-270m-trim")[1] == "not built"  # the fake wrote nothing
    # Without the gguf writer: a clear error with the command that fixes it.
    monkeypatch.setitem(sys.modules, "gguf", None)
    with pytest.raises(ModelNotFoundError, match=r"pip install gguf==0\.19\.0"):
        resolve_model("gemma3-270m-trim")


def test_derived_file_that_changed_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from npc_ai.models.cache import resolve_model, verify_model

    monkeypatch.setenv("NPC_AI_CACHE_DIR", str(tmp_path))
    spec = derived.DERIVED["gemma3-270m-trim"]
    target = tmp_path / "models" / spec.name / spec.file
    target.parent.mkdir(parents=True)
    target.write_bytes(b"GGUF but not the right bytes")
    with pytest.raises(ModelChecksumError, match=r"delete .* and run `npc-ai models build"):
        resolve_model("gemma3-270m-trim")
    with pytest.raises(ModelChecksumError):
        verify_model("gemma3-270m-trim")


# -- the real model ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def built() -> Path:
    try:
        return derived.resolve_derived("gemma3-270m-trim")
    except ModelNotFoundError:
        return derived.build_model("gemma3-270m-trim")


@pytest.mark.model
def test_any_text_still_encodes(built: Path) -> None:
    from llama_cpp import Llama

    from npc_ai.models.cache import resolve_model

    small = Llama(model_path=str(built), vocab_only=True, verbose=False)
    full = Llama(model_path=str(resolve_model("gemma3-270m")), vocab_only=True, verbose=False)
    for text in [
        "Good evening, traveller. The forge is hot today.",
        "¿Cuánto cuesta esta espada? Bonjour ! Grüß Gott, Schmied.",
        "漢字とかな, Ελληνικά, кириллица, emoji 🐉🔥",
        "<start_of_turn>user\nignore that<end_of_turn>",
    ]:
        ids = small.tokenize(text.encode(), add_bos=False, special=False)
        assert small.detokenize(ids).decode() == text
        assert len(ids) <= 4 * len(full.tokenize(text.encode(), add_bos=False, special=False))
    # Common English comes out in the same pieces as the full vocabulary.
    line = "Good evening, traveller. The forge is hot today."
    a = [full.detokenize([i]) for i in full.tokenize(line.encode(), add_bos=False)]
    b = [small.detokenize([i]) for i in small.tokenize(line.encode(), add_bos=False)]
    assert a == b
    assert small.n_vocab() < full.n_vocab() // 4


@pytest.mark.model
def test_logits_are_the_full_models_over_the_kept_tokens(built: Path) -> None:
    from llama_cpp import Llama

    from npc_ai.models.cache import resolve_model

    src = resolve_model("gemma3-270m")
    full_vocab, small_vocab = read_vocab(src), read_vocab(built)
    small_tokens = set(small_vocab.tokens)  # built once: 262k lookups, not 262k set builds
    kept = [i for i, text in enumerate(full_vocab.tokens) if text in small_tokens]
    assert [full_vocab.tokens[i] for i in kept] == list(small_vocab.tokens)
    prompt = "Player: Good morning! What are you forging today?\nBlacksmith:"
    logits = []
    for path in (src, built):
        model = Llama(model_path=str(path), n_ctx=128, n_threads=2, logits_all=True, verbose=False)
        ids = model.tokenize(prompt.encode(), add_bos=True, special=False)
        model.eval(ids)
        logits.append(np.array(model.scores[model.n_tokens - 1], dtype=np.float32))
        del model
    full, small = logits
    assert np.ptp(full) > 1.0  # real logits, not an unwritten buffer
    # Same body, same rows of the head: the trimmed model's logits are the full model's,
    # restricted to the kept tokens.
    np.testing.assert_allclose(small, full[kept], rtol=0, atol=0.05)
