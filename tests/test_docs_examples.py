"""Every ```python block of README.md and docs/*.md runs, the way a newcomer would run it.

Each block runs as a whole program in a fresh interpreter (this worktree's ``npc_ai`` first on
the path), in a scratch directory that stands for the repository root: ``sample_game/`` there
links to the repository's, so the examples' persona paths resolve as they do from the root,
and whatever an example writes (a memory database, subtitle files) stays in the scratch
directory, so a run starts from nothing and leaves nothing. ``talk.wav``, the recording the
subtitle examples read, is made there with espeak-ng (``tests/speech_fixtures.py``).

A block that loads a real model is marked ``model``. No block can be skipped unnoticed: the
number of blocks in each file is pinned, and a snippet that is not meant to run has to be
fenced as another language (``text``, ``pycon``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.speech_fixtures import PHRASES, make_script

ROOT = Path(__file__).resolve().parents[1]
DOC_FILES = ["README.md", *(f"docs/{p.name}" for p in sorted((ROOT / "docs").glob("*.md")))]

# The ```python blocks in each file that has any. A block added, removed, or fenced as another
# language changes a count here, and so does a new file with blocks: none goes untested unseen.
BLOCK_COUNTS = {
    "README.md": 3,
    "docs/BRIDGE.md": 1,
    "docs/MEMORY.md": 1,
    "docs/MODELS.md": 1,
    "docs/PERSONA.md": 1,
    "docs/PYGAME.md": 1,
    "docs/RUNTIME.md": 2,
    "docs/SAVES.md": 1,
    "docs/SUBTITLES.md": 4,
}

# Text an example's output must contain, by (file, block number from 1): one piece or several.
EXPECTED_OUTPUT: dict[tuple[str, int], str | tuple[str, ...]] = {
    ("README.md", 3): "Ayla",
    ("docs/BRIDGE.md", 1): "Greyspur mine",
    ("docs/MEMORY.md", 1): "['player.name', 'quest.ore']",
    ("docs/PERSONA.md", 1): "Brakka Ironhand - village blacksmith",
    ("docs/PYGAME.md", 1): "Brakka Ironhand: Hmph. Leave it on the anvil",
    ("docs/RUNTIME.md", 2): "emotion:",
    ("docs/SAVES.md", 1): "['player.name']",
    ("docs/SUBTITLES.md", 1): "http://127.0.0.1:",
    ("docs/SUBTITLES.md", 2): "00:00:00,500 --> ",
    ("docs/SUBTITLES.md", 3): "{'es': ",
    ("docs/SUBTITLES.md", 4): ("partial: ", "final:  ", "es:      "),
}

# Names whose use loads a real dialogue or speech model.
LOADS_A_MODEL = re.compile(r"\b(from_default|from_model|LlamaCppGenerator|LiveSubtitles|serve)\b")

FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>```+|~~~+)[ \t]*(?P<lang>[^\s`]*)")
PYTHON = {"python", "py", "python3"}

# Seconds a block may take: loading a model and talking takes tens of seconds on 2 cores.
TIMEOUT = 60
MODEL_TIMEOUT = 600


@dataclass(frozen=True)
class Block:
    file: str
    number: int  # 1, 2, ... in its file
    line: int  # of the opening fence
    code: str

    @property
    def loads_model(self) -> bool:
        return LOADS_A_MODEL.search(self.code) is not None


def python_blocks(file: str) -> list[Block]:
    """The ```python blocks of ``file`` (relative to the repository root), in order."""
    lines = (ROOT / file).read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if opening is None:
            i += 1
            continue
        indent, fence = opening["indent"], opening["fence"]
        end = i + 1
        while end < len(lines) and not lines[end].strip().startswith(fence):
            end += 1
        if end == len(lines):
            raise AssertionError(f"{file}:{i + 1}: a code fence that is never closed")
        if opening["lang"].lower() in PYTHON:
            body = [
                line[len(indent) :] if line.startswith(indent) else line
                for line in lines[i + 1 : end]
            ]
            blocks.append(Block(file, len(blocks) + 1, i + 1, "\n".join(body) + "\n"))
        i = end + 1
    return blocks


BLOCKS = [block for file in DOC_FILES for block in python_blocks(file)]


def test_every_block_is_counted() -> None:
    found: dict[str, int] = {}
    for block in BLOCKS:
        found[block.file] = found.get(block.file, 0) + 1
    assert found == BLOCK_COUNTS


def test_every_expectation_names_a_block() -> None:
    blocks = {(b.file, b.number) for b in BLOCKS}
    assert set(EXPECTED_OUTPUT) <= blocks


@pytest.fixture(scope="session")
def talk_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A short recording of two spoken phrases (about 8 s)."""
    directory = tmp_path_factory.mktemp("talk")
    return make_script(directory, PHRASES[:2], gaps=1.0, tail=1.0, name="talk.wav").path


def _scratch_root(tmp_path: Path, block: Block, request: pytest.FixtureRequest) -> Path:
    (tmp_path / "sample_game").symlink_to(ROOT / "sample_game", target_is_directory=True)
    if "talk.wav" in block.code:
        shutil.copy(request.getfixturevalue("talk_wav"), tmp_path / "talk.wav")
    return tmp_path


@pytest.mark.parametrize(
    "block",
    [
        pytest.param(b, id=f"{b.file}:{b.line}", marks=[pytest.mark.model] if b.loads_model else [])
        for b in BLOCKS
    ],
)
def test_example_runs(block: Block, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    cwd = _scratch_root(tmp_path, block, request)
    script = cwd / "example.py"
    script.write_text(block.code, encoding="utf-8")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        "SDL_VIDEODRIVER": "dummy",  # the caption window opens headless
        "SDL_AUDIODRIVER": "dummy",
        "PYGAME_HIDE_SUPPORT_PROMPT": "1",
    }
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=MODEL_TIMEOUT if block.loads_model else TIMEOUT,
    )
    where = f"{block.file}:{block.line}"
    assert done.returncode == 0, f"{where} failed:\n{done.stdout}\n{done.stderr}"
    assert done.stdout.strip(), f"{where} printed nothing (an example shows what it does)"
    expected = EXPECTED_OUTPUT.get((block.file, block.number), ())
    for piece in (expected,) if isinstance(expected, str) else expected:
        assert piece in done.stdout, f"{where} printed:\n{done.stdout}"
