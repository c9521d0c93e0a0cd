"""Neural translation with Argos Translate packs (``argos-translate-lt``, CTranslate2 inside).

A pack (``.argosmodel``) is a zip of one directory holding ``metadata.json`` (``from_code``,
``to_code``, ...), a CTranslate2 model in ``model/`` and a ``sentencepiece.model`` (or
``bpe.model``). :func:`install_pack` checks a pack and unpacks it into a package directory
(default :func:`default_package_dir`, the directory Argos itself uses, so packs installed
with ``argospm`` are found too); :class:`ArgosTranslator` loads each pair's model the first
time it is asked for it.

Two choices differ from ``argostranslate.translate``: sentences are split here with a
punctuation rule, because Argos' default sentence splitter (MiniSBD) downloads its model at
run time, and caption text is short and already cut at phrase ends; and the decode length is
bounded by the input length, so a confused model cannot loop for 256 tokens. Argos' own
``Package`` class reads the pack and provides its tokenizer. Importing ``argostranslate``
creates its data and config directories under the user's home (Argos does that).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import re
import shutil
import tempfile
import threading
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from npc_ai.errors import (
    MissingLanguagePairError,
    TranslationError,
    TranslationFailedError,
    TranslationPackError,
    TranslatorUnavailableError,
)
from npc_ai.translation.contract import LanguagePair, check_pair, format_pairs

__all__ = [
    "ArgosTranslator",
    "PackInfo",
    "default_package_dir",
    "install_from_index",
    "install_pack",
    "installed_packs",
    "split_sentences",
]

logger = logging.getLogger(__name__)

_SENTENCE_END = re.compile(r"(?<=[.!?…。！？])\s+")


def default_package_dir(env: Mapping[str, str] | None = None) -> Path:
    """Where packs are installed and looked for.

    ``$NPC_AI_ARGOS_PACKAGES_DIR``, else Argos' own ``$ARGOS_PACKAGES_DIR``, else
    ``$XDG_DATA_HOME/argos-translate/packages`` (``~/.local/share/argos-translate/packages``).
    """
    env = os.environ if env is None else env
    for name in ("NPC_AI_ARGOS_PACKAGES_DIR", "ARGOS_PACKAGES_DIR"):
        if env.get(name):
            return Path(env[name]).expanduser()
    data = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data).expanduser() / "argos-translate" / "packages"


@dataclass(frozen=True, slots=True, kw_only=True)
class PackInfo:
    """One installed (or about to be installed) translation pack."""

    name: str  # directory name inside the package directory
    source: str
    target: str
    source_name: str
    target_name: str
    version: str
    path: Path


def _info(metadata: Mapping[str, Any], name: str, path: Path, origin: str) -> PackInfo:
    kind = metadata.get("type", "translate")
    if kind != "translate":
        raise TranslationPackError(
            f"{origin}: a {kind!r} package, not a translation pack", path=origin
        )
    codes = []
    for key in ("from_code", "to_code"):
        value = metadata.get(key)
        if not isinstance(value, str) or not value.strip():
            raise TranslationPackError(
                f"{origin}: metadata.json has no {key} (a language code such as 'en')",
                path=origin,
                field=key,
            )
        codes.append(value.strip().lower())
    return PackInfo(
        name=name,
        source=codes[0],
        target=codes[1],
        source_name=str(metadata.get("from_name", "")),
        target_name=str(metadata.get("to_name", "")),
        version=str(metadata.get("package_version", "")),
        path=path,
    )


def installed_packs(package_dir: Path | None = None) -> list[PackInfo]:
    """Translation packs in ``package_dir`` (unreadable ones are skipped with a warning)."""
    directory = default_package_dir() if package_dir is None else package_dir
    if not directory.is_dir():
        return []
    packs: list[PackInfo] = []
    for path in sorted(directory.iterdir()):
        metadata_path = path / "metadata.json"
        if path.name.startswith(".") or not metadata_path.is_file():
            continue
        try:
            metadata = json.loads(metadata_path.read_text(encoding="utf-8"))
            if not isinstance(metadata, dict):
                raise TranslationPackError(f"{metadata_path}: not a JSON object")
            info = _info(metadata, path.name, path, str(metadata_path))
        except (OSError, ValueError) as exc:
            logger.warning("skipping package %s: %s", path, exc)
            continue
        if info.name and (path / "model").is_dir():
            packs.append(info)
    return packs


def _check_members(zipf: zipfile.ZipFile, origin: str) -> str:
    """The pack's top directory, after checking every member stays inside it."""
    tops: set[str] = set()
    names = zipf.namelist()
    for name in names:
        pure = PurePosixPath(name)
        if pure.is_absolute() or ".." in pure.parts or "\\" in name or not pure.parts:
            raise TranslationPackError(f"{origin}: unsafe path {name!r} in the archive")
        tops.add(pure.parts[0])
    if len(tops) != 1:
        raise TranslationPackError(
            f"{origin}: a pack holds exactly one directory, this one has "
            f"{len(tops)} top-level entries",
            path=origin,
        )
    top = tops.pop()
    required = [f"{top}/metadata.json", f"{top}/model/model.bin"]
    missing = [name for name in required if name not in names]
    if not any(n in names for n in (f"{top}/sentencepiece.model", f"{top}/bpe.model")):
        missing.append(f"{top}/sentencepiece.model (or bpe.model)")
    if missing:
        raise TranslationPackError(
            f"{origin}: not a complete Argos pack, missing {', '.join(missing)}", path=origin
        )
    return top


def install_pack(path: Path, package_dir: Path | None = None, *, replace: bool = False) -> PackInfo:
    """Check the ``.argosmodel`` file at ``path`` and unpack it into ``package_dir``.

    A pack for a pair that is already installed is refused unless ``replace`` (then the old
    one is removed only after the new one is unpacked). Nothing is left behind on failure.
    Raises :class:`~npc_ai.errors.TranslationPackError` for a bad file.
    """
    origin = str(path)
    directory = default_package_dir() if package_dir is None else package_dir
    if not path.is_file():
        raise TranslationPackError(f"{origin}: no such file", path=origin)
    if not zipfile.is_zipfile(path):
        raise TranslationPackError(
            f"{origin}: not an Argos pack (a .argosmodel file is a zip archive)", path=origin
        )
    with zipfile.ZipFile(path) as zipf:
        top = _check_members(zipf, origin)
        try:
            metadata = json.loads(zipf.read(f"{top}/metadata.json").decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise TranslationPackError(f"{origin}: metadata.json is not JSON: {exc}") from exc
        if not isinstance(metadata, dict):
            raise TranslationPackError(f"{origin}: metadata.json is not a JSON object")
        info = _info(metadata, top, directory / top, origin)
        existing = [p for p in installed_packs(directory) if (p.source, p.target) == _pair(info)]
        if existing and not replace:
            raise TranslationPackError(
                f"{origin}: a {info.source}->{info.target} pack is already installed at "
                f"{existing[0].path}; pass --replace to install this one instead",
                path=origin,
            )
        directory.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".installing-", dir=directory))
        try:
            zipf.extractall(staging)
            for old in existing:
                shutil.rmtree(old.path)
            if info.path.exists():
                shutil.rmtree(info.path)
            (staging / top).rename(info.path)
        except OSError as exc:
            raise TranslationPackError(
                f"{origin}: could not unpack into {directory}: {exc}"
            ) from exc
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    logger.info("installed %s->%s pack %s in %s", info.source, info.target, top, directory)
    return info


def _pair(info: PackInfo) -> LanguagePair:
    return (info.source, info.target)


def split_sentences(text: str) -> list[str]:
    """Sentences of ``text`` cut after ``. ! ? …`` followed by a space; lines kept apart."""
    return [s for line in text.split("\n") for s in _SENTENCE_END.split(line.strip()) if s]


def _import_argos() -> Any:
    try:
        from argostranslate import package
    except ImportError as exc:
        raise TranslatorUnavailableError(
            "Argos Translate is not installed; install it with: pip install argos-translate-lt",
            backend="argos",
        ) from exc
    # Argos logs every sentence it handles at INFO; keep it to warnings.
    logging.getLogger("argostranslate").setLevel(logging.WARNING)
    logging.getLogger("argostranslate.utils").setLevel(logging.WARNING)
    return package


class _Loaded:
    """One pair's tokenizer and CTranslate2 model."""

    def __init__(self, info: PackInfo, threads: int) -> None:
        package = _import_argos()
        import ctranslate2

        try:
            self.pkg = package.Package(info.path)
            self.tokenizer = self.pkg.tokenizer
            self.model = ctranslate2.Translator(
                str(info.path / "model"), device="cpu", inter_threads=1, intra_threads=threads
            )
        except (OSError, RuntimeError, ValueError, AttributeError) as exc:
            raise TranslationPackError(
                f"the {info.source}->{info.target} pack in {info.path} could not be loaded: {exc}",
                path=str(info.path),
            ) from exc
        self.prefix: str = getattr(self.pkg, "target_prefix", "") or ""
        self.lock = threading.Lock()


class ArgosTranslator:
    """Translates with the Argos packs installed in ``package_dir``.

    ``threads``: CPU threads per model. ``beam_size``: 1 is greedy (fastest), Argos uses 4.
    Models load on first use of their pair (:meth:`preload` loads them ahead). Thread-safe.
    Raises :class:`~npc_ai.errors.TranslatorUnavailableError` when argostranslate or
    ctranslate2 is not installed.
    """

    def __init__(
        self, package_dir: Path | None = None, *, threads: int = 1, beam_size: int = 2
    ) -> None:
        for module in ("argostranslate", "ctranslate2", "sentencepiece"):
            if importlib.util.find_spec(module) is None:
                raise TranslatorUnavailableError(
                    f"Argos Translate needs the Python package {module!r}; install it with: "
                    "pip install argos-translate-lt",
                    backend="argos",
                )
        self.package_dir = default_package_dir() if package_dir is None else package_dir
        self.threads = threads
        self.beam_size = beam_size
        self._packs: dict[LanguagePair, PackInfo] = {}
        self._loaded: dict[LanguagePair, _Loaded] = {}
        self._lock = threading.Lock()
        self.refresh()

    def refresh(self) -> None:
        """Look at the package directory again (after installing or removing packs)."""
        packs = {_pair(info): info for info in installed_packs(self.package_dir)}
        with self._lock:
            self._packs = packs
            for pair in list(self._loaded):
                if pair not in packs or self._loaded[pair].pkg.package_path != packs[pair].path:
                    del self._loaded[pair]

    def pairs(self) -> frozenset[LanguagePair]:
        """Pairs with an installed pack."""
        with self._lock:
            return frozenset(self._packs)

    def packs(self) -> list[PackInfo]:
        """The installed packs."""
        with self._lock:
            return list(self._packs.values())

    def _model(self, pair: LanguagePair) -> _Loaded:
        with self._lock:
            loaded = self._loaded.get(pair)
            info = self._packs[pair]
        if loaded is None:
            loaded = _Loaded(info, self.threads)
            with self._lock:
                loaded = self._loaded.setdefault(pair, loaded)
        return loaded

    def preload(self, *pairs: LanguagePair) -> None:
        """Load the models of ``pairs`` now (default: every installed pair)."""
        for pair in pairs or tuple(self.pairs()):
            check_pair(self.pairs(), *pair, backend="argos")
            self._model(pair)

    def translate(self, text: str, source: str, target: str) -> str:
        """``text`` translated sentence by sentence with the pair's pack."""
        pair = check_pair(self.pairs(), source, target, backend="argos")
        if pair[0] == pair[1] or not text.strip():
            return text
        loaded = self._model(pair)
        sentences = split_sentences(text)
        with loaded.lock:
            try:
                tokens = [loaded.tokenizer.encode(sentence) for sentence in sentences]
                prefix = [[loaded.prefix]] * len(tokens) if loaded.prefix else None
                longest = max(len(t) for t in tokens)
                results = loaded.model.translate_batch(
                    tokens,
                    target_prefix=prefix,
                    beam_size=self.beam_size,
                    max_decoding_length=min(256, 3 * longest + 10),
                    replace_unknowns=True,
                    length_penalty=0.2,
                )
                pieces = [loaded.tokenizer.decode(r.hypotheses[0]) for r in results]
            except (RuntimeError, ValueError) as exc:
                raise TranslationFailedError(
                    f"argos {pair[0]}->{pair[1]} failed: {exc}", source=pair[0], target=pair[1]
                ) from exc
        out: list[str] = []
        for piece in pieces:
            if loaded.prefix and piece.startswith(loaded.prefix):
                piece = piece[len(loaded.prefix) :]
            out.append(piece.strip())
        return " ".join(p for p in out if p)

    def install(self, path: Path, *, replace: bool = False) -> PackInfo:
        """:func:`install_pack` into this translator's directory, then :meth:`refresh`."""
        info = install_pack(path, self.package_dir, replace=replace)
        with self._lock:
            self._loaded.pop(_pair(info), None)  # a replaced pack may reuse the directory name
        self.refresh()
        return info

    def close(self) -> None:
        """Unload every model."""
        with self._lock:
            self._loaded.clear()

    def __enter__(self) -> ArgosTranslator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def install_from_index(
    source: str, target: str, package_dir: Path | None = None, *, replace: bool = False
) -> PackInfo:
    """Download the ``source``->``target`` pack from the Argos package index and install it.

    Needs the network (an explicit user action, never done by a translator on its own).
    Raises :class:`~npc_ai.errors.TranslationError` when the index cannot be read and
    :class:`~npc_ai.errors.MissingLanguagePairError` when it has no such pack.
    """
    package = _import_argos()
    from argostranslate import settings

    package.update_package_index()  # logs and returns on a network error
    if not Path(settings.local_package_index).is_file():
        raise TranslationError(
            "could not read the Argos package index (offline?); download the .argosmodel file "
            "elsewhere and install it with `npc-ai models add-translation FILE`"
        )
    available = package.get_available_packages()
    wanted = [
        p
        for p in available
        if p.type == "translate" and (p.from_code, p.to_code) == (source, target)
    ]
    if not wanted:
        offered = format_pairs((p.from_code, p.to_code) for p in available if p.type == "translate")
        raise MissingLanguagePairError(
            f"the Argos package index has no {source}->{target} pack "
            f"(it has: {', '.join(offered) or 'none'})",
            source=source,
            target=target,
            installed=offered,
        )
    try:
        downloaded = Path(wanted[0].download())
    except Exception as exc:  # Argos raises a bare Exception when a download fails
        raise TranslationError(f"downloading the {source}->{target} pack failed: {exc}") from exc
    try:
        return install_pack(downloaded, package_dir, replace=replace)
    finally:
        downloaded.unlink(missing_ok=True)
