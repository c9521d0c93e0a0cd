"""Thornvale over the bridge (``python -m sample_game --bridge``).

The game plays as a client of a bridge server: the fast tests run a server on the scripted
fake generator in this process (the game reaches it over TCP, as through ``--bridge
HOST:PORT``); the last test lets the game start ``npc-ai serve --stdio`` on the real model
and plays a short script through it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import pygame

from npc_ai import MemoryStore
from npc_ai.translation import IdentityTranslator
from sample_game.cast import load_cast
from sample_game.game import SCREEN_SIZE, Game, GameOptions
from sample_game.languages import Languages
from sample_game.main import main
from sample_game.remote import BridgeAddress, RemoteHearsay, RemoteRuntime, parse_address
from sample_game.tilemap import tile_center
from tests.test_bridge_server import TOKEN, Running, serving
from tests.test_sample_game import LINES, acting, frames, play

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def screen(monkeypatch: pytest.MonkeyPatch) -> Iterator[pygame.Surface]:
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    pygame.init()
    surface = pygame.display.set_mode(SCREEN_SIZE)
    yield surface
    pygame.key.stop_text_input()
    pygame.quit()


@pytest.fixture
def server() -> Iterator[tuple[Running, MemoryStore]]:
    """A bridge server on the scripted fake, with a memory store and a tagging translator."""
    store = MemoryStore()
    translator = IdentityTranslator({("en", "es"), ("es", "en")}, tag=True)
    with serving(LINES, delay=0.002, choose=acting, memory=store, translator=translator) as srv:
        yield srv, store
    store.close()


@pytest.fixture
def remote_game(
    screen: pygame.Surface, server: tuple[Running, MemoryStore], tmp_path: Path
) -> Iterator[Callable[..., Game]]:
    """Games whose NPCs live in the bridge server; each connection is closed at the end."""
    opened: list[RemoteRuntime] = []

    def make(*, ambient: bool = False, translator: IdentityTranslator | None = None) -> Game:
        address = BridgeAddress(port=server[0].port, token=TOKEN)
        remote = RemoteRuntime(address.connect())
        remote.wait_ready(10)
        opened.append(remote)
        options = GameOptions(save_path=tmp_path / "slot1.json", ambient=ambient, seed=5)
        return Game(
            screen,
            remote,
            load_cast()[0],
            options,
            languages=Languages(translator),
            hearsay=RemoteHearsay(remote),
            notices=remote.problems,
        )

    yield make
    for remote in opened:
        remote.close()


def served(server: tuple[Running, MemoryStore]) -> Running:
    return server[0]


def test_the_smith_mends_the_sword_over_the_bridge(
    remote_game: Callable[..., Game], server: tuple[Running, MemoryStore]
) -> None:
    game = remote_game()
    play(game, "walk smith\nsay Can you mend my sword?\nwait-reply 20\nexpect mended sword\n")
    npc, reply, outcome = game.actions[-1]
    assert (npc, reply.action, dict(reply.args)) == ("blacksmith", "repair", {"item": "sword"})
    assert outcome is not None and outcome.changed_inventory
    assert any(line.startswith("Brakka: ") for line in game.transcript), game.transcript
    # the reply streamed into the smith's bubble through the same events as in-process
    assert game.view.bubbles["blacksmith"].text.strip() == LINES[0].strip()
    # the line reached the server's NPC, which now remembers the player
    remembered = served(server).server.runtime.memory("blacksmith").memories()
    assert any(m.text == "Can you mend my sword?" for m in remembered)


def test_npcs_within_earshot_overhear_over_the_bridge(
    remote_game: Callable[..., Game], server: tuple[Running, MemoryStore]
) -> None:
    game = remote_game()
    game.world.villagers["herbalist"].wander = 0.0
    game.world.player.x, game.world.player.y = tile_center((10, 11))  # next to Marta
    play(game, "say My name is Ayla.\nwait-reply 20\n")
    runtime = served(server).server.runtime
    assert "player.name" in runtime.memory("innkeeper").facts()
    overheard = runtime.memory("herbalist").memories()
    assert ("My name is Ayla.", "earshot:innkeeper") in {(m.text, m.source) for m in overheard}
    assert runtime.memory("guard").memories() == []  # too far away


def test_gossip_passes_facts_over_the_bridge(
    remote_game: Callable[..., Game], server: tuple[Running, MemoryStore]
) -> None:
    game = remote_game(ambient=True)
    play(game, "walk innkeeper\nsay My name is Ayla.\nwait-reply 20\nbye\n")
    game.ambient.exchange = None
    game.ambient.done.clear()
    game.world.player.x, game.world.player.y = tile_center((15, 8))  # near Marta and Aldric
    game.ambient.start("innkeeper", "guard", game.world)
    play(game, "wait-ambient 20\nwait 1\n")
    lines = game.ambient.done[-1]
    assert [speaker for speaker, _ in lines] == ["innkeeper", "guard", "innkeeper"]
    assert any("(Aldric, to a neighbour)" in line for line in game.transcript)
    guard = served(server).server.runtime.memory("guard").facts()
    assert "player.name" in guard and "Ayla" in guard["player.name"].text


def test_a_save_rolls_the_servers_memory_back(
    remote_game: Callable[..., Game], server: tuple[Running, MemoryStore]
) -> None:
    game = remote_game()
    runtime = served(server).server.runtime
    play(game, "walk smith\nsay My name is Ayla.\nwait-reply 20\nsave\n")
    at_save = [m.text for m in runtime.memory("blacksmith").memories()]
    saved_at = (game.world.player.x, game.world.player.y)
    play(game, "say Can you mend my sword?\nwait-reply 20\nbye\nwalk square\n")
    assert len(runtime.memory("blacksmith").memories()) > len(at_save)
    play(game, "load\n")
    assert [m.text for m in runtime.memory("blacksmith").memories()] == at_save
    assert (game.world.player.x, game.world.player.y) == saved_at
    assert any(line.startswith("* Loaded the save") for line in game.transcript)


def test_l_reloads_the_npcs_in_the_players_language(
    remote_game: Callable[..., Game], server: tuple[Running, MemoryStore]
) -> None:
    translator = IdentityTranslator({("en", "es"), ("es", "en")}, tag=True)
    game = remote_game(translator=translator)
    play(game, "key L\nwalk smith\nsay Hola.\nwait-reply 20\nbye\n")
    reply = next(line for line in game.transcript if line.startswith("Brakka:"))
    assert reply.startswith("Brakka: [es] ")  # translated by the server, into Spanish
    heard = served(server).server.runtime.memory("blacksmith").memories()
    assert any(m.text == "[en] Hola." for m in heard)  # the smith thinks in English
    assert not game.notices


def test_a_server_that_goes_away_is_said_and_the_game_goes_on(
    remote_game: Callable[..., Game], server: tuple[Running, MemoryStore]
) -> None:
    game = remote_game()
    play(game, "walk smith\nsay Hello.\nwait-reply 20\n")
    running = served(server)
    import asyncio

    asyncio.run_coroutine_threadsafe(running.server.close(), running.loop).result(10)
    deadline = time.monotonic() + 10
    while not any("server is gone" in line for line in game.transcript):
        assert time.monotonic() < deadline, game.transcript
        frames(game, 5)
        time.sleep(0.01)
    play(game, "say Are you there?\n")
    assert game.transcript[-1].startswith("* "), game.transcript  # said, not raised
    frames(game, 30)  # the village goes on
    assert game.running
    game.save()
    assert any("Not saved" in line for line in game.transcript)


def test_addresses_and_an_unreachable_server(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert parse_address("spawn").spawn
    assert parse_address("auto") == BridgeAddress()
    assert parse_address("127.0.0.1:7000", token="t") == BridgeAddress(port=7000, token="t")
    assert parse_address(str(tmp_path / "d.json")).discovery == tmp_path / "d.json"
    with pytest.raises(ValueError, match="bridge-token"):
        parse_address("localhost:7000")
    missing = tmp_path / "no-server.json"
    assert main(["--headless", "--bridge", str(missing)]) == 2
    err = capsys.readouterr().err
    assert "cannot reach the server of the discovery file" in err and str(missing) in err
    assert "Traceback" not in err


@pytest.mark.model
def test_the_game_starts_its_own_server_on_the_real_model(tmp_path: Path) -> None:
    script = tmp_path / "short.txt"
    script.write_text(
        "walk smith\nsay Can you mend my sword?\nwait-reply 60\nsave\nbye\n", encoding="utf-8"
    )
    env = {**os.environ, "SDL_VIDEODRIVER": "dummy", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "sample_game", "--bridge", "--headless", "--script", str(script)],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "* Playing over the bridge: npc-ai" in out, out
    reply = next(line for line in out.splitlines() if line.startswith("Brakka: "))
    assert len(reply) > len("Brakka: ") + 3 and "[" in reply  # a line with its emotion
    assert "* Saved to " in out, out
