"""Rule-based translation with Debian's apertium (``apt-get install apertium-eng-spa``).

Starting ``apertium eng-spa`` costs about 0.1 s (eleven programs load their transducers);
translating a caption through an already running pipeline costs a few milliseconds. So
:class:`ApertiumTranslator` keeps one pipeline per language pair running, in apertium's
null-flush mode: each text is written followed by a NUL byte and every program in the
pipeline flushes its output when it reads that NUL. The pipeline is the pair's mode file
with ``-z`` added to each program (``apertium-wblank-mode -z``), run without the text
deformatter (which does not flush): the text is escaped here instead, as the deformatter
would. ``persistent=False`` runs ``apertium -u PAIR`` once per call instead.

Pairs are found from the mode files (``/usr/share/apertium/modes/eng-spa.mode``); apertium
names languages with ISO 639-3 codes, mapped here to the ISO 639-1 codes the rest of
npc-ai uses (``eng`` -> ``en``). POSIX only (the pipeline is read with ``select``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import select
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from npc_ai.errors import TranslationFailedError, TranslatorUnavailableError
from npc_ai.translation.contract import LanguagePair, check_pair

__all__ = [
    "ISO_639_3_TO_1",
    "ApertiumTranslator",
    "apertium_pairs",
    "default_modes_dirs",
    "escape_stream",
    "spanish_marks",
    "unescape_stream",
]

logger = logging.getLogger(__name__)

ISO_639_3_TO_1: dict[str, str] = {
    "afr": "af", "arg": "an", "ast": "ast", "bel": "be", "bre": "br", "bul": "bg",
    "cat": "ca", "ces": "cs", "cym": "cy", "dan": "da", "deu": "de", "ell": "el",
    "eng": "en", "epo": "eo", "eus": "eu", "fra": "fr", "gle": "ga", "glg": "gl",
    "hin": "hi", "hbs": "sh", "isl": "is", "ita": "it", "kaz": "kk", "mkd": "mk",
    "mlt": "mt", "nld": "nl", "nno": "nn", "nob": "nb", "oci": "oc", "pol": "pl",
    "por": "pt", "ron": "ro", "rus": "ru", "slv": "sl", "spa": "es", "srd": "sc",
    "swe": "sv", "tat": "tt", "tur": "tr", "ukr": "uk", "urd": "ur",
}  # fmt: skip
"""Apertium's language codes and the ISO 639-1 codes npc-ai uses for them."""

_MODE_NAME = re.compile(r"^([a-z]{2,3})-([a-z]{2,3})\.mode$")
# Characters with a meaning in apertium's stream format; the text deformatter escapes them.
_SPECIAL = set("\\[]^$/<>{}@")
# "~" is a post-generation mark even when escaped: the deformatter hides it in a superblank.
_SUPERBLANK = set("~")


def default_modes_dirs() -> tuple[Path, ...]:
    """Where apertium's language data puts mode files on Debian (system, then local)."""
    return (Path("/usr/share/apertium/modes"), Path("/usr/local/share/apertium/modes"))


def apertium_pairs(modes_dirs: Sequence[Path] | None = None) -> dict[LanguagePair, Path]:
    """Installed pairs, ISO 639-1 ``(source, target)`` -> mode file (first directory wins).

    Variant modes (``spa-eng_US``) and debugging modes are left out.
    """
    found: dict[LanguagePair, Path] = {}
    for directory in modes_dirs if modes_dirs is not None else default_modes_dirs():
        if not directory.is_dir():
            continue
        for path in sorted(directory.iterdir()):
            match = _MODE_NAME.match(path.name)
            if match is None:
                continue
            source, target = (ISO_639_3_TO_1.get(code, code) for code in match.groups())
            found.setdefault((source, target), path)
    return found


def escape_stream(text: str) -> str:
    """Plain text as apertium's stream format expects it (what ``apertium-destxt`` does)."""
    out: list[str] = []
    for char in text.replace("\0", ""):
        if char in _SPECIAL:
            out.append("\\" + char)
        elif char in _SUPERBLANK:
            out.append(f"[{char}]")
        else:
            out.append(char)
    return "".join(out)


def unescape_stream(text: str) -> str:
    """Stream format back to plain text: escapes resolved, superblank brackets removed."""
    out: list[str] = []
    chars = iter(text)
    for char in chars:
        if char == "\\":
            out.append(next(chars, ""))
        elif char not in "[]":
            out.append(char)
    return "".join(out)


_SENTENCE = re.compile(r"[^.!?…]*[.!?…]+[\"'”’»)]*|[^.!?…]+$")


def spanish_marks(text: str) -> str:
    """Opening ``¿`` / ``¡`` for Spanish questions and exclamations that lack them.

    Apertium writes ``Dónde es el mesón?``; Spanish opens the sentence with ``¿``. The mark
    goes before the first letter of each sentence ending in ``?`` or ``!`` (a question that
    starts mid-sentence gets it at the sentence start: a close, readable approximation).
    """
    out: list[str] = []
    for line in text.split("\n"):
        pieces: list[str] = []
        for sentence in _SENTENCE.findall(line):
            core = sentence.rstrip("\"'”’») ")
            for close, opening in (("?", "¿"), ("!", "¡")):
                if core.endswith(close) and opening not in sentence:
                    lead = len(sentence) - len(sentence.lstrip(" \"'“‘«(—-"))
                    sentence = sentence[:lead] + opening + sentence[lead:]
                    break
            pieces.append(sentence)
        out.append("".join(pieces))
    return "\n".join(out)


def _tidy(text: str) -> str:
    lines = (" ".join(line.split()) for line in text.split("\n"))
    return "\n".join(lines).strip()


class _Pipeline:
    """One running null-flush pipeline for one pair."""

    def __init__(self, mode_file: Path, generation_flag: str) -> None:
        try:
            script = subprocess.run(
                ["apertium-wblank-mode", "-z", str(mode_file)],
                capture_output=True,
                text=True,
                check=True,
                timeout=10,
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError) as exc:
            raise TranslatorUnavailableError(
                f"apertium could not read its mode file {mode_file}: {exc}",
                mode_file=str(mode_file),
            ) from exc
        # Kept open for the pipeline's life (its stderr), closed in close().
        self._stderr: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115
        # The mode file is a shell pipeline by design; $1 is the generation flag, $2 the
        # tagger's extra option (none).
        self.process = subprocess.Popen(
            ["bash", "-c", script, "apertium", generation_flag, ""],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            start_new_session=True,  # one group, so close() can stop every program in it
        )

    def alive(self) -> bool:
        return self.process.poll() is None

    def stderr_tail(self) -> str:
        try:
            self._stderr.seek(0)
            return self._stderr.read()[-500:].decode("utf-8", "replace").strip()
        except (OSError, ValueError):
            return ""

    def run(self, text: str, timeout: float) -> str:
        assert self.process.stdin is not None and self.process.stdout is not None
        # A blank before the NUL: lt-proc -b only flushes on a NUL that follows a blank.
        self.process.stdin.write(escape_stream(text).encode("utf-8") + b"\n\0")
        self.process.stdin.flush()
        fd = self.process.stdout.fileno()
        deadline = time.monotonic() + timeout
        chunks: list[bytes] = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no answer within {timeout:g} s")
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                raise EOFError("the pipeline exited")
            chunks.append(chunk)
            if b"\0" in chunk:
                break
        data = b"".join(chunks)
        head, _, rest = data.partition(b"\0")
        if rest.strip(b"\0\n "):
            raise EOFError("the pipeline answered more than was asked")
        return head.decode("utf-8", "replace")

    def close(self, timeout: float = 2.0) -> None:
        if self.process.stdin is not None:
            with contextlib.suppress(OSError):
                self.process.stdin.close()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()
        self._stderr.close()


class ApertiumTranslator:
    """Translates with apertium, keeping one pipeline per pair running.

    ``modes_dir``: where the mode files are (default :func:`default_modes_dirs`).
    ``mark_unknown`` keeps apertium's ``*`` before words it does not know (off: captions
    show the word untranslated). ``opening_marks`` adds the ``¿`` and ``¡`` apertium leaves
    out of Spanish (:func:`spanish_marks`). ``timeout`` bounds one translation. ``persistent=False``
    starts ``apertium`` for every call (slower; no processes left running).
    Thread-safe: calls on one pair are serialised, different pairs run in parallel.
    Raises :class:`~npc_ai.errors.TranslatorUnavailableError` when apertium is not installed.
    """

    def __init__(
        self,
        *,
        modes_dir: Path | None = None,
        mark_unknown: bool = False,
        opening_marks: bool = True,
        timeout: float = 10.0,
        persistent: bool = True,
    ) -> None:
        missing = [
            name for name in ("apertium", "apertium-wblank-mode") if shutil.which(name) is None
        ]
        if missing:
            raise TranslatorUnavailableError(
                "apertium is not installed (no " + ", ".join(missing) + " on PATH); "
                "install it with: sudo apt-get install apertium apertium-eng-spa",
                backend="apertium",
            )
        self.modes_dirs = (modes_dir,) if modes_dir is not None else default_modes_dirs()
        self._modes = apertium_pairs(self.modes_dirs)
        self.mark_unknown = mark_unknown
        self.opening_marks = opening_marks
        self.timeout = timeout
        self.persistent = persistent
        self._pipelines: dict[LanguagePair, _Pipeline] = {}
        self._locks: dict[LanguagePair, threading.Lock] = {}
        self._guard = threading.Lock()
        self._closed = False

    def pairs(self) -> frozenset[LanguagePair]:
        """The pairs whose mode files are installed."""
        return frozenset(self._modes)

    def modes(self) -> dict[LanguagePair, Path]:
        """Each pair's mode file."""
        return dict(self._modes)

    def _lock_for(self, pair: LanguagePair) -> threading.Lock:
        with self._guard:
            if self._closed:
                raise TranslationFailedError("this apertium translator is closed")
            return self._locks.setdefault(pair, threading.Lock())

    def translate(self, text: str, source: str, target: str) -> str:
        """``text`` translated by the pair's pipeline (started on first use)."""
        pair = check_pair(self.pairs(), source, target, backend="apertium")
        if pair[0] == pair[1] or not text.strip():
            return text
        out = self._run_once(text, pair) if not self.persistent else self._run(text, pair)
        return spanish_marks(out) if self.opening_marks and pair[1] == "es" else out

    def _run(self, text: str, pair: LanguagePair) -> str:
        with self._lock_for(pair):
            pipeline = self._pipelines.get(pair)
            if pipeline is not None and not pipeline.alive():
                logger.warning("apertium %s-%s had exited; starting it again", *pair)
                pipeline.close()
                pipeline = None
            if pipeline is None:
                flag = "-g" if self.mark_unknown else "-n"
                pipeline = _Pipeline(self._modes[pair], flag)
                self._pipelines[pair] = pipeline
            try:
                out = pipeline.run(text, self.timeout)
            except (OSError, EOFError, TimeoutError) as exc:
                detail = pipeline.stderr_tail()
                del self._pipelines[pair]
                pipeline.close(timeout=0.2)
                raise TranslationFailedError(
                    f"apertium {self._modes[pair].stem} failed: {exc}"
                    + (f" (it said: {detail})" if detail else ""),
                    source=pair[0],
                    target=pair[1],
                ) from exc
        return _tidy(unescape_stream(out))

    def _run_once(self, text: str, pair: LanguagePair) -> str:
        mode = self._modes[pair]
        command = ["apertium", "-d", str(mode.parent.parent), mode.stem]
        if not self.mark_unknown:
            command.insert(1, "-u")
        try:
            done = subprocess.run(
                command,
                input=text.replace("\0", "").encode("utf-8"),
                capture_output=True,
                timeout=self.timeout,
                check=False,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            raise TranslationFailedError(
                f"apertium {mode.stem} failed: {exc}", source=pair[0], target=pair[1]
            ) from exc
        if done.returncode != 0:
            raise TranslationFailedError(
                f"apertium {mode.stem} exited with status {done.returncode}: "
                + done.stderr.decode("utf-8", "replace").strip()[-500:],
                source=pair[0],
                target=pair[1],
            )
        return _tidy(done.stdout.decode("utf-8", "replace"))

    def close(self) -> None:
        """Stop every running pipeline. Closing twice is harmless."""
        with self._guard:
            self._closed = True
            pipelines = list(self._pipelines.values())
            self._pipelines.clear()
        for pipeline in pipelines:
            pipeline.close()

    def __enter__(self) -> ApertiumTranslator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, "_pipelines", None):
            self.close()
