"""Translation core, the Argos backend on a pack built in a fixture, and apertium when present.

The Argos tests build real packs (SentencePiece + a CTranslate2 model from random weights,
see ``tests/argos_fixture.py``), install them through :func:`install_pack` and translate
through the normal path; a pack made with ``reply`` answers a known text, so outputs are
checked exactly. Apertium tests run when Debian's ``apertium-eng-spa`` is installed.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import npc_ai.translation as translate
from npc_ai.backends import apertium as apertium_backend
from npc_ai.backends.argos import (
    ArgosTranslator,
    default_package_dir,
    install_pack,
    installed_packs,
    split_sentences,
)
from npc_ai.cli import main
from npc_ai.errors import (
    MissingLanguagePairError,
    NpcAiError,
    TranslationError,
    TranslationPackError,
    TranslatorUnavailableError,
)
from npc_ai.translation import (
    CachedTranslator,
    IdentityTranslator,
    MultiTranslator,
    RoutingTranslator,
    Translator,
    open_translator,
)
from tests.argos_fixture import make_pack

HAVE_APERTIUM = shutil.which("apertium") is not None and ("en", "es") in (
    apertium_backend.apertium_pairs()
)
needs_apertium = pytest.mark.skipif(not HAVE_APERTIUM, reason="apertium-eng-spa not installed")


def test_public_names() -> None:
    assert translate.__all__ == [
        "BACKENDS",
        "CacheStats",
        "CachedTranslator",
        "IdentityTranslator",
        "LanguagePair",
        "MultiTranslator",
        "RoutingTranslator",
        "Translator",
        "check_pair",
        "format_pairs",
        "normalize_language",
        "open_translator",
    ]
    for name in translate.__all__:
        assert getattr(translate, name).__doc__
    assert set(translate.__all__) <= set(dir(translate))


def test_the_package_and_the_backends_import_only_what_they_need() -> None:
    """``import npc_ai.translation`` loads no backend and no wrapper; a backend loads the
    contract only, never the factory that imports it (no cycle)."""
    code = (
        "import sys\n"
        "import npc_ai.translation\n"
        "print(sorted(m for m in sys.modules if m.startswith('npc_ai.')))\n"
        "import npc_ai.backends.argos, npc_ai.backends.apertium\n"
        "print(sorted(m for m in sys.modules if m.startswith('npc_ai.translation')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert eval(out[0]) == ["npc_ai._lazy", "npc_ai.translation"]
    assert eval(out[1]) == ["npc_ai.translation", "npc_ai.translation.contract"]


# -- core ---------------------------------------------------------------------------------


def test_missing_pair_error_lists_installed_pairs() -> None:
    fake = IdentityTranslator([("en", "es"), ("en", "fr")])
    with pytest.raises(MissingLanguagePairError) as info:
        fake.translate("hello", "en", "de")
    error = info.value
    assert isinstance(error, TranslationError) and isinstance(error, NpcAiError)
    assert error.code == 1701
    assert error.installed == ["en->es", "en->fr"]
    assert "en->es, en->fr" in error.message and "'de'" in error.message
    assert error.to_dict()["data"]["installed"] == ["en->es", "en->fr"]


def test_identity_fake() -> None:
    fake = IdentityTranslator(tag=True)
    assert isinstance(fake, Translator)
    assert fake.translate("hi", "EN", "es ") == "[es] hi"
    assert fake.translate("hi", "en", "en") == "hi"
    assert fake.calls == [("hi", "EN", "es "), ("hi", "en", "en")]


def test_cache_hits_misses_and_lru_order() -> None:
    fake = IdentityTranslator(tag=True)
    cache = CachedTranslator(fake, maxsize=2)
    assert cache.translate("one", "en", "es") == "[es] one"
    assert cache.translate(" one ", "EN", "es") == "[es] one"  # same key
    cache.translate("two", "en", "es")
    cache.translate("one", "en", "es")  # one is now the most recent
    cache.translate("three", "en", "es")  # evicts two
    cache.translate("one", "en", "es")
    cache.translate("two", "en", "es")
    assert [c[0] for c in fake.calls] == ["one", "two", "three", "two"]
    stats = cache.stats()
    assert (stats.hits, stats.misses, stats.size, stats.maxsize) == (3, 4, 2, 2)
    assert cache.translate("  ", "en", "es") == ""
    assert len(fake.calls) == 4
    cache.clear()
    assert cache.stats().size == 0


def test_cache_peek_answers_from_the_cache_only() -> None:
    fake = IdentityTranslator(tag=True)
    cache = CachedTranslator(fake, maxsize=4)
    assert cache.peek("one", "en", "es") is None  # not asked, not counted
    assert fake.calls == [] and cache.stats().misses == 0
    cache.translate("one", "en", "es")
    assert cache.peek(" one", "EN", "es") == "[es] one"
    assert cache.peek("", "en", "es") == ""
    stats = cache.stats()
    assert (stats.hits, stats.misses, len(fake.calls)) == (1, 1, 1)


def test_cache_is_thread_safe() -> None:
    fake = IdentityTranslator(tag=True)
    cache = CachedTranslator(fake, maxsize=50)
    results: list[str] = []

    def work(n: int) -> None:
        for i in range(200):
            results.append(cache.translate(f"line {(i * n) % 80}", "en", "es"))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(1, 5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 800
    assert all(r.startswith("[es] line ") for r in results)
    assert cache.stats().size == 50


def test_multi_translator_checks_every_pair_first() -> None:
    fake = IdentityTranslator([("en", "es"), ("en", "fr")], tag=True)
    multi = MultiTranslator(fake, source="en", targets=("es", "en", "FR", "es"))
    assert multi.targets == ("es", "fr")
    assert multi.translate("Hello.") == {"es": "[es] Hello.", "fr": "[fr] Hello."}
    with pytest.raises(MissingLanguagePairError, match="installed: en->es, en->fr"):
        MultiTranslator(fake, source="en", targets=("es", "de"))


def test_multi_translator_without_a_pair_check() -> None:
    anything = IdentityTranslator(tag=True)  # lists no pairs, accepts all
    with pytest.raises(MissingLanguagePairError, match="installed: none"):
        MultiTranslator(anything, source="en", targets=("es",))
    multi = MultiTranslator(anything, source="en", targets=("es",), check=False)
    assert multi.translate("Hi") == {"es": "[es] Hi"}


def test_routing_sends_each_pair_to_the_first_that_has_it() -> None:
    first = IdentityTranslator([("en", "es")], tag=True)
    second = IdentityTranslator([("en", "es"), ("en", "fr")])
    router = RoutingTranslator([first, second])
    assert router.pairs() == {("en", "es"), ("en", "fr")}
    router.translate("a", "en", "es")
    router.translate("b", "en", "fr")
    assert [c[0] for c in first.calls] == ["a"] and [c[0] for c in second.calls] == ["b"]
    with pytest.raises(MissingLanguagePairError):
        router.translate("c", "es", "en")
    assert router.translate("same", "en", "en") == "same"


def test_unknown_backend() -> None:
    with pytest.raises(TranslationError, match="unknown translation backend"):
        open_translator("google")


# -- Argos --------------------------------------------------------------------------------


@pytest.fixture(scope="session", autouse=True)
def _argos_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Importing argostranslate creates directories under $HOME; point them at a tmp dir."""
    import sys

    if "argostranslate" in sys.modules:
        yield
        return
    home = tmp_path_factory.mktemp("argos-home")
    with pytest.MonkeyPatch.context() as patch:
        for name in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME"):
            patch.setenv(name, str(home / name.lower()))
        import argostranslate.package  # noqa: F401
    yield


@pytest.fixture(scope="session")
def packs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("packs")
    return {
        "es": make_pack(out / "en_es.argosmodel", target="es", reply="hola mundo"),
        "fr": make_pack(out / "en_fr.argosmodel", target="fr", reply="bonjour le monde"),
        "es2": make_pack(out / "en_es2.argosmodel", target="es", reply="buenos días"),
        "noise": make_pack(out / "en_de.argosmodel", target="de", reply=None),
    }


def test_pack_layout_is_what_argos_reads(packs: dict[str, Path]) -> None:
    with zipfile.ZipFile(packs["es"]) as zipf:
        names = set(zipf.namelist())
        top = "translate-en_es-1_0"
        assert {f"{top}/metadata.json", f"{top}/sentencepiece.model", f"{top}/model/model.bin"} <= (
            names
        )
        metadata = json.loads(zipf.read(f"{top}/metadata.json"))
    assert (metadata["from_code"], metadata["to_code"], metadata["type"]) == (
        "en",
        "es",
        "translate",
    )


def test_install_load_translate(packs: dict[str, Path], tmp_path: Path) -> None:
    translator = ArgosTranslator(tmp_path)
    assert translator.pairs() == frozenset()
    info = translator.install(packs["es"])
    assert (info.source, info.target, info.path.parent) == ("en", "es", tmp_path)
    assert translator.pairs() == {("en", "es")}
    assert translator.translate("Where is the inn?", "en", "es") == "hola mundo"
    # Two sentences are translated one by one.
    assert translator.translate("Where is the inn? I need a room.", "en", "es") == (
        "hola mundo hola mundo"
    )
    assert translator.translate("", "en", "es") == ""
    with pytest.raises(MissingLanguagePairError, match="installed: en->es"):
        translator.translate("Hello", "en", "fr")
    assert not list(tmp_path.glob(".installing-*"))


def test_several_targets_at_once(packs: dict[str, Path], tmp_path: Path) -> None:
    install_pack(packs["es"], tmp_path)
    install_pack(packs["fr"], tmp_path)
    with open_translator("argos", argos_dir=tmp_path) as translator:
        multi = MultiTranslator(translator, source="en", targets=("es", "fr"))
        assert multi.translate("The gate is closed.") == {
            "es": "hola mundo",
            "fr": "bonjour le monde",
        }
        multi.translate("The gate is closed.")
        assert isinstance(translator, CachedTranslator)
        assert translator.stats().hits == 2


def test_random_weights_pack_translates_with_bounded_output(
    packs: dict[str, Path], tmp_path: Path
) -> None:
    translator = ArgosTranslator(tmp_path)
    translator.install(packs["noise"])
    out = translator.translate("Hello there.", "en", "de")
    assert isinstance(out, str)
    assert out == translator.translate("Hello there.", "en", "de")  # deterministic
    assert len(out) < 200  # decode length is bounded by the input length


def test_installing_the_same_pair_needs_replace(packs: dict[str, Path], tmp_path: Path) -> None:
    translator = ArgosTranslator(tmp_path)
    translator.install(packs["es"])
    with pytest.raises(TranslationPackError, match="already installed"):
        translator.install(packs["es2"])
    assert translator.translate("Hi.", "en", "es") == "hola mundo"  # the old one still works
    translator.install(packs["es2"], replace=True)
    assert translator.translate("Hi.", "en", "es") == "buenos días"
    assert len(installed_packs(tmp_path)) == 1


def _zip(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zipf:
        for name, data in files.items():
            zipf.writestr(name, data)
    return path


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"p/metadata.json": b"{}"}, "missing p/model/model.bin"),
        ({"a/metadata.json": b"{}", "b/x": b""}, "exactly one directory"),
        ({"../evil/metadata.json": b"{}"}, "unsafe path"),
        (
            {"p/metadata.json": b"[1]", "p/model/model.bin": b"", "p/sentencepiece.model": b""},
            "not a JSON object",
        ),
        (
            {
                "p/metadata.json": b'{"from_code": "en"}',
                "p/model/model.bin": b"",
                "p/sentencepiece.model": b"",
            },
            "no to_code",
        ),
        (
            {
                "p/metadata.json": b'{"type": "sbd", "from_code": "en", "to_code": "es"}',
                "p/model/model.bin": b"",
                "p/sentencepiece.model": b"",
            },
            "not a translation pack",
        ),
    ],
)
def test_bad_packs_are_refused_and_leave_nothing(
    tmp_path: Path, files: dict[str, bytes], message: str
) -> None:
    target = tmp_path / "packages"
    with pytest.raises(TranslationPackError, match=message) as info:
        install_pack(_zip(tmp_path / "bad.argosmodel", files), target)
    assert info.value.code == 1703
    assert not target.exists() or not any(target.iterdir())


def test_not_a_zip(tmp_path: Path) -> None:
    (tmp_path / "x.argosmodel").write_bytes(b"not a zip")
    with pytest.raises(TranslationPackError, match="zip archive"):
        install_pack(tmp_path / "x.argosmodel", tmp_path / "p")
    with pytest.raises(TranslationPackError, match="no such file"):
        install_pack(tmp_path / "missing.argosmodel", tmp_path / "p")


def test_broken_model_is_reported_when_loaded(packs: dict[str, Path], tmp_path: Path) -> None:
    info = install_pack(packs["es"], tmp_path)
    (info.path / "model" / "model.bin").write_bytes(b"garbage")
    translator = ArgosTranslator(tmp_path)
    with pytest.raises(TranslationPackError, match="could not be loaded"):
        translator.translate("Hello.", "en", "es")


def test_installed_packs_skips_broken_directories(packs: dict[str, Path], tmp_path: Path) -> None:
    install_pack(packs["es"], tmp_path)
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "metadata.json").write_text("{not json")
    assert [(p.source, p.target) for p in installed_packs(tmp_path)] == [("en", "es")]
    assert installed_packs(tmp_path / "nowhere") == []


def test_default_package_dir() -> None:
    home = Path.home()
    assert default_package_dir({}) == home / ".local/share/argos-translate/packages"
    assert default_package_dir({"XDG_DATA_HOME": "/d"}) == Path("/d/argos-translate/packages")
    assert default_package_dir({"ARGOS_PACKAGES_DIR": "/a"}) == Path("/a")
    env = {"ARGOS_PACKAGES_DIR": "/a", "NPC_AI_ARGOS_PACKAGES_DIR": "/n"}
    assert default_package_dir(env) == Path("/n")


def test_sentence_split() -> None:
    assert split_sentences("Hi. How are you?  Fine!\nNext line") == [
        "Hi.",
        "How are you?",
        "Fine!",
        "Next line",
    ]
    assert split_sentences("e.g.no split") == ["e.g.no split"]


def test_auto_prefers_argos_and_falls_back(
    packs: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_pack(packs["es"], tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))  # no apertium
    with open_translator("auto", argos_dir=tmp_path) as translator:
        assert translator.pairs() == {("en", "es")}
        assert translator.translate("Hello.", "en", "es") == "hola mundo"
    with pytest.raises(TranslatorUnavailableError, match="no translation backend") as info:
        open_translator("auto", argos_dir=tmp_path / "none")
    assert info.value.code == 1702 and "apertium is not installed" in info.value.message
    with pytest.raises(TranslatorUnavailableError, match="apt-get install apertium"):
        open_translator("apertium")


@needs_apertium
def test_auto_routes_other_pairs_to_apertium(packs: dict[str, Path], tmp_path: Path) -> None:
    install_pack(packs["es"], tmp_path)
    with open_translator("auto", argos_dir=tmp_path) as translator:
        assert {("en", "es"), ("es", "en")} <= translator.pairs()
        assert translator.translate("The sword is ready.", "en", "es") == "hola mundo"  # argos
        assert translator.translate("La espada está a punto.", "es", "en") == "The sword is ready."


# -- CLI ----------------------------------------------------------------------------------


def _cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def test_cli_add_translation_and_list(
    packs: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))  # list argos only
    code, out, err = _cli("models", "add-translation", str(packs["fr"]), "--dir", str(tmp_path))
    assert code == 0, err
    assert "en->fr" in out and str(tmp_path) in out
    code, out, err = _cli("models", "add-translation", str(packs["fr"]), "--dir", str(tmp_path))
    assert code == 1 and "already installed" in err and "--replace" in err
    code, out, err = _cli("models", "translations", "--dir", str(tmp_path))
    assert code == 0, err
    assert "en->fr" in out and "argos" in out
    (tmp_path / "bad.argosmodel").write_text("x")
    code, _, err = _cli("models", "add-translation", str(tmp_path / "bad.argosmodel"))
    assert code == 1 and "zip archive" in err


# -- apertium -----------------------------------------------------------------------------


@given(st.text(alphabet=st.characters(blacklist_characters="\0"), max_size=40))
def test_stream_escaping_round_trips(text: str) -> None:
    assert apertium_backend.unescape_stream(apertium_backend.escape_stream(text)) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Dónde es el mesón? Necesito una sala.", "¿Dónde es el mesón? Necesito una sala."),
        ("Cierra la puerta!", "¡Cierra la puerta!"),
        ('"Quién va allí?"', '"¿Quién va allí?"'),
        ("Hola, ¿cómo estás?", "Hola, ¿cómo estás?"),
        ("Bien. Y tú?\nSí!", "Bien. ¿Y tú?\n¡Sí!"),
        ("Nada.", "Nada."),
        ("", ""),
    ],
)
def test_spanish_opening_marks(text: str, expected: str) -> None:
    assert apertium_backend.spanish_marks(text) == expected


def test_apertium_pairs_from_a_modes_dir(tmp_path: Path) -> None:
    for name in ("eng-spa.mode", "spa-eng_US.mode", "cat-spa.mode", "README", "spa-eng.mode"):
        (tmp_path / name).write_text("")
    assert set(apertium_backend.apertium_pairs([tmp_path])) == {
        ("en", "es"),
        ("ca", "es"),
        ("es", "en"),
    }


def test_apertium_missing_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(apertium_backend.shutil, "which", lambda name: None)
    with pytest.raises(TranslatorUnavailableError, match="apt-get install apertium") as info:
        apertium_backend.ApertiumTranslator()
    assert info.value.code == 1702


SENTENCES = [
    ("The sword is ready.", "La espada está a punto."),
    ("Where is the blacksmith?", "¿Dónde es el blacksmith?"),
    ("I need a room for the night.", "Necesito una sala para la noche."),
]


@needs_apertium
def test_apertium_translates() -> None:
    with apertium_backend.ApertiumTranslator() as translator:
        assert {("en", "es"), ("es", "en")} <= translator.pairs()
        for english, spanish in SENTENCES:
            assert translator.translate(english, "en", "es") == spanish
        assert translator.translate("La espada está a punto.", "es", "en") == "The sword is ready."
        with pytest.raises(MissingLanguagePairError, match="en->es"):
            translator.translate("Hello", "en", "xx")


@needs_apertium
def test_apertium_keeps_special_characters_and_lines() -> None:
    with apertium_backend.ApertiumTranslator() as translator:
        out = translator.translate("Take [the] sword/axe <now> ~ $5 \\ @home {x}", "en", "es")
        for piece in ("[", "]", "/", "<", ">", "~", "$5", "\\", "@", "{", "}"):
            assert piece in out
        assert translator.translate("The sword.\nThe axe.", "en", "es").count("\n") == 1


@needs_apertium
def test_apertium_persistent_matches_one_process_per_call() -> None:
    with (
        apertium_backend.ApertiumTranslator() as fast,
        apertium_backend.ApertiumTranslator(persistent=False) as slow,
    ):
        for english, _ in SENTENCES:
            assert fast.translate(english, "en", "es") == slow.translate(english, "en", "es")


@needs_apertium
def test_apertium_restarts_a_dead_pipeline() -> None:
    with apertium_backend.ApertiumTranslator() as translator:
        assert translator.translate("The sword is ready.", "en", "es")
        pipeline = translator._pipelines[("en", "es")]
        os.killpg(pipeline.process.pid, signal.SIGKILL)
        pipeline.process.wait()
        assert translator.translate("The sword is ready.", "en", "es") == SENTENCES[0][1]


@needs_apertium
def test_apertium_threads_share_a_pair() -> None:
    with apertium_backend.ApertiumTranslator() as translator:
        results: list[str] = []

        def work() -> None:
            for english, _ in SENTENCES * 3:
                results.append(translator.translate(english, "en", "es"))

        threads = [threading.Thread(target=work) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(results) == sorted([s for _, s in SENTENCES * 9])


def test_install_from_index_with_a_local_index(
    packs: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from argostranslate import package, settings

    from npc_ai.backends.argos import install_from_index

    index = tmp_path / "index.json"
    monkeypatch.setattr(settings, "local_package_index", index)
    monkeypatch.setattr(package, "update_package_index", lambda: None)  # offline
    with pytest.raises(TranslationError, match="could not read the Argos package index"):
        install_from_index("en", "es", tmp_path / "p")

    entry = {"from_code": "en", "to_code": "es", "type": "translate", "links": []}
    index.write_text(json.dumps([entry, {**entry, "to_code": "fr"}]))
    download = tmp_path / "downloaded.argosmodel"

    def fake_download(self: object) -> Path:
        shutil.copy(packs["es"], download)
        return download

    monkeypatch.setattr(package.AvailablePackage, "download", fake_download)
    with pytest.raises(MissingLanguagePairError, match=r"has no en->de pack.*en->es, en->fr"):
        install_from_index("en", "de", tmp_path / "p")
    info = install_from_index("en", "es", tmp_path / "p")
    assert (info.source, info.target) == ("en", "es")
    assert not download.exists()  # the downloaded file is removed after install
    assert ArgosTranslator(tmp_path / "p").translate("Hi.", "en", "es") == "hola mundo"


def test_argos_logging_is_quiet(
    packs: dict[str, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    caplog.set_level(logging.DEBUG)
    translator = ArgosTranslator(tmp_path)
    translator.install(packs["es"])
    translator.translate("Where is the inn? I need a room.", "en", "es")
    from argostranslate import utils

    utils.info("Argos logs each sentence like this")  # below the level set on import
    utils.warning("kept")
    records = [r.getMessage() for r in caplog.records if r.name.startswith("argostranslate")]
    assert records == ["('kept',)"]
