from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PERSONAS

NPC_AI = [sys.executable, "-m", "npc_ai"]


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*NPC_AI, *args], capture_output=True, text=True, input=stdin, timeout=300
    )


def test_help_lists_the_commands() -> None:
    out = run("--help")
    assert out.returncode == 0
    assert "chat" in out.stdout and "models" in out.stdout
    chat = run("chat", "--help")
    assert "--once" in chat.stdout and "--seed" in chat.stdout


def test_bad_persona_names_file_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "Pip"\nrole = "stable boy"\ntrait = ["shy"]\n')
    out = run("chat", str(bad), "--once", "hi")
    assert out.returncode == 2
    assert "bad.toml" in out.stderr and "'traits'" in out.stderr
    assert "Traceback" not in out.stderr


def test_missing_model_file_is_a_clear_error(tmp_path: Path) -> None:
    out = run(
        "chat", str(PERSONAS / "guard.toml"), "--model", str(tmp_path / "x.gguf"), "--once", "hi"
    )
    assert out.returncode == 2
    assert "x.gguf" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.model
def test_once_with_a_seed_is_reproducible() -> None:
    args = (
        "chat",
        str(PERSONAS / "innkeeper.toml"),
        "--once",
        "Any rooms free tonight?",
        "--seed",
        "5",
    )
    first, second = run(*args), run(*args)
    assert first.returncode == 0, first.stderr
    reply = first.stdout.strip()
    assert reply and "\n" not in reply
    assert second.stdout == first.stdout


@pytest.mark.model
def test_interactive_chat_streams_and_ends_on_eof() -> None:
    out = run(
        "chat",
        str(PERSONAS / "guard.toml"),
        "--seed",
        "3",
        stdin="Who goes there?\n\n/reset\nI am a traveller.\n",
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("Captain Aldric Venn: ")  # the greeting
    replies = [line for line in lines[1:] if line.startswith("Captain Aldric Venn: ")]
    assert len(replies) == 2 and all(len(r) > len("Captain Aldric Venn: ") for r in replies)
    assert "(conversation forgotten)" in out.stdout
