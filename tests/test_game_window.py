"""Thornvale in a real X window (Xvfb): a screenshot mid-conversation is not blank, and the
NPC's speech bubble holds text.

The test starts its own Xvfb on a free display (``-displayfd``: the server picks it), runs
tools/game_screenshot.py there on the scripted fake generator (SDL's x11 driver, the game's
own frame loop), and reads the PNG back. It skips only where Xvfb is not installed
(Debian: ``apt-get install xvfb``; ``./dev setup`` installs it).
"""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import pygame

ROOT = Path(__file__).resolve().parent.parent
TOOL = ROOT / "tools" / "game_screenshot.py"
BUBBLE_INK = (0x1E, 0x1E, 0x1E)
BUBBLE_PAPER = (0xFF, 0xFD, 0xF5)


@pytest.fixture
def display() -> Iterator[str]:
    """A fresh Xvfb server; its display name (":N"). Killed at the end."""
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        pytest.skip("Xvfb is not installed (Debian: apt-get install xvfb; ./dev setup does it)")
    read, write = os.pipe()
    server = subprocess.Popen(
        [xvfb, "-displayfd", str(write), "-screen", "0", "1024x768x24", "-nolisten", "tcp"],
        pass_fds=(write,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    os.close(write)
    try:
        number = b""
        while not number.endswith(b"\n"):
            ready, _, _ = select.select([read], [], [], 15)
            chunk = os.read(read, 16) if ready else b""
            if not chunk:
                server.kill()
                _, err = server.communicate(timeout=5)
                pytest.fail(f"Xvfb did not start: {err.decode(errors='replace')[-500:]}")
            number += chunk
        yield f":{number.decode().strip()}"
    finally:
        os.close(read)
        if server.poll() is None:
            server.terminate()
            try:
                server.wait(timeout=5)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def _luma(color: pygame.Color | tuple[int, ...]) -> float:
    return 0.299 * color[0] + 0.587 * color[1] + 0.114 * color[2]


def test_a_real_window_screenshot_shows_the_village_and_the_bubbles_text(
    display: str, tmp_path: Path
) -> None:
    shot, info_path = tmp_path / "thornvale.png", tmp_path / "info.json"
    env = {
        **os.environ,
        "DISPLAY": display,
        "PYTHONPATH": str(ROOT),
        "SDL_AUDIODRIVER": "dummy",
    }
    env.pop("SDL_VIDEODRIVER", None)  # the tool asks for x11 itself
    done = subprocess.run(
        [sys.executable, str(TOOL), "--fake", "--out", str(shot), "--info", str(info_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    info = json.loads(info_path.read_text())
    assert info["driver"] == "x11"  # a real window, not SDL's dummy driver
    assert "Can you mend my sword?" in "\n".join(info["transcript"])

    image = pygame.image.load(str(shot))
    assert image.get_size() == tuple(info["size"])

    # not blank: many colours, light and dark, over the whole window
    step = 4
    pixels = [
        image.get_at((x, y))
        for x in range(0, image.get_width(), step)
        for y in range(0, image.get_height(), step)
    ]
    colors = {tuple(p)[:3] for p in pixels}
    lumas = [_luma(p) for p in pixels]
    assert len(colors) > 50, f"only {len(colors)} colours: a blank or flat screenshot"
    assert max(lumas) - min(lumas) > 150

    # the bubble: paper inside its border, and dark text pixels on it
    assert info["bubble"] is not None, "the bubble was not drawn on the last frame"
    assert info["bubble_text"].strip()
    x, y, w, h = info["bubble"]
    inner = pygame.Rect(x, y, w, h).inflate(-8, -8)
    inner.height -= 10  # the tail under the body
    region = [
        image.get_at((i, j))
        for i in range(inner.left, inner.right)
        for j in range(inner.top, inner.bottom)
    ]
    paper = sum(all(abs(p[k] - BUBBLE_PAPER[k]) <= 12 for k in range(3)) for p in region)
    ink = sum(_luma(p) < 90 for p in region)
    assert paper > len(region) // 2, (
        f"the bubble's region is not the bubble ({paper}/{len(region)} paper)"
    )
    assert ink > 150, f"only {ink} text pixels in the bubble's region"
