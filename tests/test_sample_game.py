"""Thornvale, the sample game: its world logic, saves, script runner and a scripted playthrough.

Every test but the last runs headless on the scripted fake generator (no model). The last
one plays a scripted session on the real model and checks that frames stay short while
up to four NPCs generate.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
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

from npc_ai import MemoryStore, Runtime, RuntimeOptions, ScriptedGenerator, StructuredReply
from npc_ai.engine import SerialEngine
from npc_ai.translation import IdentityTranslator
from sample_game.actions import Inventory, apply_action
from sample_game.cast import DEFAULT_PERSONAS, CastMember, load_cast
from sample_game.entities import Person, move
from sample_game.game import SCREEN_SIZE, Game, GameOptions
from sample_game.languages import Languages
from sample_game.main import DEFAULT_SCRIPT, run_loop
from sample_game.saves import SAVE_VERSION, read_save
from sample_game.script import ScriptError, ScriptRunner, load_script, parse_script
from sample_game.stats import FRAME_BUDGET_MS, FrameStats
from sample_game.tilemap import HOMES, PLACES, START, TILE, TileMap, tile_center
from sample_game.world import EARSHOT, TALK_RANGE

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def screen(monkeypatch: pytest.MonkeyPatch) -> Iterator[pygame.Surface]:
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    pygame.init()
    surface = pygame.display.set_mode(SCREEN_SIZE)
    yield surface
    pygame.key.stop_text_input()
    pygame.quit()


def acting(prompt: str, choices: tuple[str, ...]) -> str:
    """The fake's structured choice: the action the village acts on, when it is offered."""
    for wanted in ("repair sword", "rent room", "point to the inn"):
        for choice in choices:
            if choice.strip().startswith(wanted):
                return choice
    return choices[0]


LINES = [
    " Hmph. Leave it on the anvil.",
    " Aye, a room upstairs, love.",
    " Quiet as a graveyard.",
    " Busy as a beehive.",
    " The square, citizen.",
]


@pytest.fixture
def make_game(screen: pygame.Surface, tmp_path: Path) -> Iterator[Callable[..., Game]]:
    """Games on the scripted fake, with a memory store; closed at the end."""
    opened: list[tuple[Runtime, MemoryStore, Languages]] = []

    def make(
        cast: list[CastMember] | None = None,
        *,
        translator: IdentityTranslator | None = None,
        ambient: bool = True,
        problems: tuple[str, ...] = (),
        save_path: Path | None = None,
    ) -> Game:
        store = MemoryStore()
        generator = ScriptedGenerator(LINES, delay=0.002, choose=acting)
        runtime = Runtime(
            SerialEngine(generator), memory=store, options=RuntimeOptions(budget_ms=5)
        )
        languages = Languages(translator)
        opened.append((runtime, store, languages))
        options = GameOptions(
            save_path=save_path or tmp_path / "slot1.json", ambient=ambient, seed=5
        )
        members = cast if cast is not None else load_cast()[0]
        return Game(screen, runtime, members, options, languages=languages, problems=problems)

    yield make
    for runtime, store, languages in opened:
        runtime.close()
        languages.close()
        store.close()


def play(game: Game, script: str, *, fps: int = 200) -> ScriptRunner:
    """Run ``script`` on ``game`` to its end; fail on a script error."""
    runner = ScriptRunner(parse_script(script))
    run_loop(game, fps=fps, script=runner, stats=FrameStats(), speed=4.0)
    assert runner.error is None, "\n".join(game.transcript)
    return runner


def frames(game: Game, count: int, events: list[pygame.event.Event] | None = None) -> None:
    for i in range(count):
        game.frame(1 / 60, events if events and i == 0 else [])


# -- the map and moving -----------------------------------------------------------------------


def test_the_village_map_holds_together() -> None:
    tilemap = TileMap()
    assert (tilemap.width, tilemap.height) == (30, 20)
    for name, tile in {**PLACES, **HOMES, "start": START}.items():
        assert tilemap.walkable(*tile), name
    for name, tile in {**PLACES, **HOMES}.items():  # every spot can be walked to
        assert tilemap.path(START, tile) is not None, name
    assert not tilemap.walkable(-1, 0) and not tilemap.walkable(0, 99)  # outside is a wall
    with pytest.raises(ValueError, match="unknown tile"):
        TileMap(["..?"])


def test_walls_and_people_stop_a_walk() -> None:
    tilemap = TileMap()
    x, y = tile_center((2, 5))  # grass, with the town wall to the west
    person = Person(x, y)
    for _ in range(60):
        move(person, (-1, 0), 1 / 60, tilemap)
    assert person.x - 9 >= 2 * TILE  # its feet stop at the wall
    assert move(person, (1, 0), 1 / 60, tilemap) and person.x > x - TILE
    blocker = Person(person.x + 24, person.y)
    for _ in range(30):
        move(person, (1, 0), 1 / 60, tilemap, [blocker])
    assert person.x + 9 <= blocker.x - 9  # it stops at the other person's feet
    sliding = Person(*tile_center((2, 5)))
    move(sliding, (-1, 1), 0.1, tilemap)  # into the wall at a slant: slides down it
    assert sliding.y > tile_center((2, 5))[1]


def test_arrow_keys_and_wasd_walk_the_player(make_game: Callable[..., Game]) -> None:
    game = make_game()
    x0, y0 = game.world.player.x, game.world.player.y
    press = pygame.event.Event(pygame.KEYDOWN, key=pygame.K_d, mod=0, unicode="d")
    frames(game, 20, [press])
    assert game.world.player.x > x0 + TILE  # 4 tiles a second
    release = pygame.event.Event(pygame.KEYUP, key=pygame.K_d, mod=0)
    frames(game, 1, [release])
    x1 = game.world.player.x
    frames(game, 10)
    assert game.world.player.x == x1  # stopped
    frames(game, 10, [pygame.event.Event(pygame.KEYDOWN, key=pygame.K_UP, mod=0, unicode="")])
    assert game.world.player.y < y0


def test_who_is_near_whom(make_game: Callable[..., Game]) -> None:
    game = make_game()
    world = game.world
    world.player.x, world.player.y = tile_center((15, 8))  # the main road
    assert set(world.within(EARSHOT)) == {"guard", "innkeeper"}
    assert world.nearest(TALK_RANGE) is None
    smith = world.villagers["blacksmith"].person
    world.player.x, world.player.y = smith.x - TILE, smith.y
    assert world.nearest(TALK_RANGE) == "blacksmith"
    game.frame(1 / 60, [])
    generator = game.runtime.engine.generator  # type: ignore[attr-defined]
    deadline = time.monotonic() + 5.0  # prepare runs on the runtime's worker thread
    while not any("Brakka" in p for p in generator.prefilled) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert any("Brakka" in p for p in generator.prefilled)


def test_villagers_wander_near_home_and_stand_still_for_the_player(
    make_game: Callable[..., Game],
) -> None:
    game = make_game()
    smith = game.world.villagers["blacksmith"]
    home = tile_center(smith.home)
    for _ in range(600):  # ten seconds
        game.world.update(1 / 60, (0, 0), None)
        assert abs(smith.person.x - home[0]) <= 2 * TILE
        assert abs(smith.person.y - home[1]) <= 2 * TILE
    game.world.player.x, game.world.player.y = smith.person.x - TILE, smith.person.y
    game.world.update(1 / 60, (0, 0), None)
    assert smith.paused


# -- actions ----------------------------------------------------------------------------------


def test_actions_change_the_inventory_and_the_world() -> None:
    cast = {m.npc_id: m.persona for m in load_cast()[0]}
    inventory = Inventory.starting()
    assert inventory.has("notched sword")

    def act(npc: str, action: str, **args: str) -> str:
        reply = StructuredReply(say="...", emotion="calm", action=action, args=args)
        outcome = apply_action(npc, cast[npc], reply, inventory)
        assert outcome is not None
        if action == "point_to":
            assert outcome.pointer is not None and outcome.pointer.tile == PLACES[args["place"]]
        return outcome.message

    assert "mends your sword" in act("blacksmith", "repair", item="sword")
    assert inventory.has("mended sword") and not inventory.has("notched sword")
    assert "nothing to mend" in act("blacksmith", "repair", item="sword")
    assert "carry none" in act("blacksmith", "repair", item="plough")
    assert "hands you the key" in act("innkeeper", "rent_room")
    assert inventory.has("room key")
    assert "already have a room" in act("innkeeper", "rent_room")
    coins = inventory.coins
    act("innkeeper", "serve", item="stew")
    assert inventory.has("stew") and inventory.coins == coins - 2
    act("herbalist", "give", item="healing salve")
    assert inventory.has("healing salve")
    assert "points the way to the inn" in act("guard", "point_to", place="the inn")
    # an action the village gives no effect is told from the persona file
    assert act("blacksmith", "turn_away") == "Brakka goes back to her hammering."
    none = StructuredReply(say="...", emotion="calm")
    assert apply_action("guard", cast["guard"], none, inventory) is None


def test_the_smith_mends_the_sword_when_asked(make_game: Callable[..., Game]) -> None:
    game = make_game(ambient=False)
    play(
        game,
        "walk smith\nsay Can you mend my sword?\nwait-reply 20\nexpect mended sword\nbye\n",
    )
    npc, reply, outcome = game.actions[-1]
    assert (npc, reply.action, dict(reply.args)) == ("blacksmith", "repair", {"item": "sword"})
    assert outcome is not None and outcome.changed_inventory
    assert game.panel is None and game.talk.focus is None
    assert "You -> Brakka: Can you mend my sword?" in game.transcript
    # the guard and the herbalist were not within earshot; nobody overheard
    assert game.runtime.memory("guard").memories() == []


def test_the_guard_points_the_way_and_the_innkeeper_gives_a_key(
    make_game: Callable[..., Game],
) -> None:
    game = make_game(ambient=False)
    play(game, "walk guard\nsay Where is the inn?\nwait-reply 20\nbye\n")
    assert game.world.pointer is not None and game.world.pointer.place == "the inn"
    for _ in range(11 * 60):  # the arrow goes after ten seconds
        game.world.update(1 / 60, (0, 0), None)
    assert game.world.pointer is None
    play(game, "walk innkeeper\nsay A room, please.\nwait-reply 20\nexpect room key\n")


def test_npcs_within_earshot_overhear_the_player(make_game: Callable[..., Game]) -> None:
    game = make_game(ambient=False)
    game.world.villagers["herbalist"].wander = 0.0  # stays at home, 4.5 tiles away
    game.world.player.x, game.world.player.y = tile_center((10, 11))  # next to Marta
    play(game, "say My name is Ayla.\nwait-reply 20\n")
    assert "player.name" in game.runtime.memory("innkeeper").facts()
    overheard = game.runtime.memory("herbalist").memories()
    assert {(m.text, m.source) for m in overheard} == {
        ("My name is Ayla.", "earshot:innkeeper"),
        (game.talk.runtime.history("innkeeper")[-1].text, "earshot:innkeeper"),
    }
    assert "player.name" not in game.runtime.memory("herbalist").facts()  # heard, not told
    assert game.runtime.memory("guard").memories() == []  # too far away


# -- NPCs among themselves ----------------------------------------------------------------------


def test_npcs_near_the_player_chat_and_pass_on_what_they_heard(
    make_game: Callable[..., Game],
) -> None:
    game = make_game()
    play(game, "walk innkeeper\nsay I stole a horse from the mill.\nwait-reply 20\nbye\n")
    game.ambient.exchange = None  # whatever started on the way: start afresh
    game.ambient.done.clear()
    game.world.player.x, game.world.player.y = tile_center((15, 8))  # near Marta and Aldric
    game.ambient.start("innkeeper", "guard", game.world)
    play(game, "wait-ambient 20\n")
    lines = game.ambient.done[-1]
    assert [speaker for speaker, _ in lines] == ["innkeeper", "guard", "innkeeper"]
    assert "Aldric" in lines[0][1]  # Marta opens, to Aldric
    guard = game.runtime.memory("guard").memories()
    assert any(m.text == lines[1][1] and m.kind == "said" for m in guard)
    assert any(m.text == lines[0][1] and m.speaker == "innkeeper" for m in guard)
    told = [m for m in guard if m.source == "told:innkeeper"]
    assert any("stole a horse" in m.text for m in told)  # the secret reached the guard
    assert any("(Aldric, to a neighbour)" in line for line in game.transcript)
    # the neighbour-facing twins answered: Marta's transcript names Aldric where the player goes
    prompt = "".join(game.runtime.engine.generator.prompts[-1])  # type: ignore[attr-defined]
    assert "\nAldric: " in prompt and "\nPlayer: " not in prompt


def test_talking_to_an_npc_stops_its_small_talk(make_game: Callable[..., Game]) -> None:
    game = make_game()
    game.world.player.x, game.world.player.y = tile_center((15, 8))
    game.ambient.start("guard", "innkeeper", game.world)
    game.open_conversation("guard")
    assert game.ambient.exchange is None
    assert game.talk.focus == "guard"


# -- saves ----------------------------------------------------------------------------------------


def test_a_save_brings_back_the_world_and_the_npcs_memory(
    make_game: Callable[..., Game], tmp_path: Path
) -> None:
    game = make_game(ambient=False)
    play(game, "walk smith\nsay My name is Ayla.\nwait-reply 20\nsave\n")
    saved_at = (game.world.player.x, game.world.player.y)
    saved_items = dict(game.world.inventory.items)
    remembered = [m.text for m in game.runtime.memory("blacksmith").memories()]
    data = json.loads((tmp_path / "slot1.json").read_text())
    assert data["game"] == "thornvale" and data["version"] == SAVE_VERSION
    play(game, "say Can you mend my sword?\nwait-reply 20\nbye\nwalk square\n")
    assert game.world.inventory.has("mended sword")
    assert len(game.runtime.memory("blacksmith").memories()) > len(remembered)
    play(game, "load\n")
    assert (game.world.player.x, game.world.player.y) == saved_at
    assert game.world.inventory.items == saved_items
    assert [m.text for m in game.runtime.memory("blacksmith").memories()] == remembered
    assert game.runtime.history("blacksmith") == ()  # the session transcript goes too
    assert any(line.startswith("* Loaded the save") for line in game.transcript)


def _broken_saves(good: dict[str, object]) -> dict[str, bytes]:
    def edited(**changes: object) -> bytes:
        return json.dumps({**good, **changes}).encode()

    world = dict(good["world"])  # type: ignore[call-overload]
    return {
        "older Thornvale (save format 0)": edited(version=0),
        "newer Thornvale (save format 99)": edited(version=99),
        "no format version": edited(version="one"),
        "not a Thornvale save": edited(game="elsewhere"),
        "not readable JSON": b'{"game": "thornvale", "vers',
        "not base64": edited(npc_memory="%%%"),
        "NPCs' memory": edited(npc_memory=base64.b64encode(b"garbage").decode()),
        "'coins'": edited(world={**world, "coins": -3}),
        "inside a wall": edited(world={**world, "player": [5.0, 5.0]}),
        "'world' is missing": edited(world=None),
    }


def test_old_new_and_damaged_saves_are_refused_with_a_message(
    make_game: Callable[..., Game], tmp_path: Path
) -> None:
    game = make_game(ambient=False)
    play(game, "walk smith\nsay My name is Ayla.\nwait-reply 20\nsave\nwalk square\n")
    slot = tmp_path / "slot1.json"
    good = json.loads(slot.read_text())
    before = game.world.snapshot()
    remembered = game.runtime.memory("blacksmith").memories()
    for expected, content in _broken_saves(good).items():
        slot.write_bytes(content)
        assert game.load() is False
        assert game.messages.messages[-1].text.startswith("Not loaded:"), expected
        assert expected in game.messages.messages[-1].text, game.messages.messages[-1].text
        assert game.world.snapshot() == before  # nothing changed
        assert game.runtime.memory("blacksmith").memories() == remembered
    slot.unlink()
    assert game.load() is False
    assert "no save" in game.messages.messages[-1].text
    with pytest.raises(Exception, match="no save"):
        read_save(slot)


def test_a_save_that_cannot_be_written_says_so(
    make_game: Callable[..., Game], tmp_path: Path
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    game = make_game(ambient=False, save_path=blocker / "slot1.json")
    game.save()
    assert game.messages.messages[-1].text.startswith("Not saved: cannot write the save")


# -- personas, languages, captions, the menu -----------------------------------------------------


def test_a_broken_persona_is_left_out_and_named(
    make_game: Callable[..., Game], tmp_path: Path
) -> None:
    folder = tmp_path / "personas"
    folder.mkdir()
    for name in ("blacksmith.toml", "guard.toml"):
        shutil.copy(DEFAULT_PERSONAS / name, folder / name)
    (folder / "broken.toml").write_text('name = "Ann"\nrole = "miller"\ntrait = ["shy"]\n')
    cast, problems = load_cast(folder)
    assert [m.npc_id for m in cast] == ["blacksmith", "guard"]
    assert len(problems) == 1
    assert "broken.toml" in problems[0] and "'trait'" in problems[0] and "traits" in problems[0]
    game = make_game(cast, problems=tuple(problems))
    assert set(game.world.villagers) == {"blacksmith", "guard"}
    assert "broken.toml" in game.messages.messages[0].text
    assert load_cast(tmp_path / "nowhere")[0] == []


def test_every_sample_persona_loads() -> None:
    cast, problems = load_cast()
    assert problems == []
    assert [m.npc_id for m in cast] == ["blacksmith", "guard", "herbalist", "innkeeper"]
    herbalist = next(m.persona for m in cast if m.npc_id == "herbalist")
    assert herbalist.emotions and {a.name for a in herbalist.actions} >= {"give", "point_to"}


def test_l_switches_the_players_language(make_game: Callable[..., Game]) -> None:
    translator = IdentityTranslator({("en", "es"), ("es", "en")}, tag=True)
    game = make_game(translator=translator, ambient=False)
    assert game.languages.available == ["en", "es"]
    play(game, "key L\nwalk smith\nsay Hola.\nwait-reply 20\nbye\n")
    assert game.languages.current == "es"
    reply = next(line for line in game.transcript if line.startswith("Brakka:"))
    assert reply.startswith("Brakka: [es] ")  # shown in the player's language
    heard = game.runtime.history("blacksmith")[0].text
    assert heard == "[en] Hola."  # the smith thinks in English
    play(game, "key L\n")
    assert game.languages.current == "en"


def test_l_without_a_translator_says_english_only(make_game: Callable[..., Game]) -> None:
    game = make_game(ambient=False)
    play(game, "key L\n")
    assert "English only" in game.messages.messages[-1].text


def test_c_toggles_captions_of_npc_lines(make_game: Callable[..., Game]) -> None:
    game = make_game(ambient=False)
    play(game, "key C\nwalk smith\nsay Hello.\nwait-reply 20\n")
    assert game.captions_on
    assert game.captions.cue is not None and game.captions.cue.lines[0].startswith("Brakka:")
    play(game, "bye\nkey C\n")
    assert not game.captions_on


def test_escape_opens_the_menu_and_quit_ends_the_game(make_game: Callable[..., Game]) -> None:
    game = make_game(ambient=False)

    def key(k: int) -> pygame.event.Event:
        return pygame.event.Event(pygame.KEYDOWN, key=k, mod=0, unicode="")

    assert game.frame(1 / 60, [key(pygame.K_ESCAPE)])
    assert game.menu.open
    x = game.world.player.x
    game.frame(1 / 60, [key(pygame.K_d)])  # the menu takes the keys; nobody walks
    assert game.world.player.x == x
    assert not game.frame(1 / 60, [key(pygame.K_UP), key(pygame.K_RETURN)])  # Quit
    game = make_game(ambient=False)
    assert not game.frame(1 / 60, [pygame.event.Event(pygame.QUIT)])


def test_e_opens_a_conversation_without_typing_the_e(make_game: Callable[..., Game]) -> None:
    game = make_game(ambient=False)
    smith = game.world.villagers["blacksmith"].person
    game.world.player.x, game.world.player.y = smith.x - TILE, smith.y
    game.frame(
        1 / 60,
        [
            pygame.event.Event(pygame.KEYDOWN, key=pygame.K_e, mod=0, unicode="e"),
            pygame.event.Event(pygame.TEXTINPUT, text="e"),
        ],
    )
    assert game.panel is not None and game.panel.input is not None
    assert game.panel.input.text == ""
    assert game.talk.focus == "blacksmith"
    game.frame(1 / 60, [pygame.event.Event(pygame.KEYDOWN, key=pygame.K_ESCAPE, mod=0)])
    assert game.panel is None and not game.menu.open


# -- the script runner and the command line -------------------------------------------------------


def test_scripts_are_checked_before_they_run() -> None:
    commands = parse_script("# a tour\nwalk smith\nsay Is #1 the best? # kept\nwait-reply\n")
    assert [str(c) for c in commands] == ["walk smith", "say Is #1 the best? # kept", "wait-reply"]
    assert [c.line for c in commands] == [2, 3, 4]
    for bad, message in (
        ("dance\n", "<script>:1: unknown command 'dance'"),
        ("\nwalk\n", "<script>:2: 'walk' needs an argument"),
        ("wait soon\n", "'soon' is not a number"),
        ("key NOPE\n", "unknown key 'NOPE'"),
    ):
        with pytest.raises(ScriptError, match=message):
            parse_script(bad)
    assert load_script(DEFAULT_SCRIPT)  # the committed tour parses


def test_a_failing_step_stops_the_script_with_its_line(make_game: Callable[..., Game]) -> None:
    game = make_game(ambient=False)
    runner = ScriptRunner(parse_script("walk nowhere-at-all\nsave\n"))
    run_loop(game, fps=200, script=runner, stats=FrameStats(), speed=4.0)
    assert runner.error is not None and "line 1: no NPC or place" in runner.error
    runner = ScriptRunner(parse_script("walk smith\nexpect golden crown\n"))
    run_loop(game, fps=200, script=runner, stats=FrameStats(), speed=4.0)
    assert runner.error is not None and "line 2: expected the player to carry" in runner.error


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "sample_game", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )


def test_help_lists_the_options_and_the_keys() -> None:
    result = _cli("--help")
    assert result.returncode == 0
    for word in ("--model", "--headless", "--script", "--save", "F5 / F9", "arrows / WASD"):
        assert word in result.stdout


def test_a_bad_script_or_persona_folder_fails_with_a_message(tmp_path: Path) -> None:
    script = tmp_path / "bad.txt"
    script.write_text("jump\n")
    result = _cli("--headless", "--script", str(script))
    assert result.returncode == 2 and "bad.txt:1: unknown command 'jump'" in result.stderr
    result = _cli("--headless", "--personas", str(tmp_path))
    assert result.returncode == 2 and "no persona files" in result.stderr


# -- a playthrough on the real model ---------------------------------------------------------


PLAYTHROUGH = """
walk smith
say Can you mend my sword? It is notched.
wait-reply 60
bye
walk main road
wait-ambient 60
walk innkeeper
say My name is Ayla and I come from Eastmarch.
wait-reply 60
save
"""

TALK_MORE = """
say Do you have a room for the night?
wait-reply 60
bye
"""


@pytest.mark.model
def test_a_scripted_playthrough_on_the_real_model(screen: pygame.Surface, tmp_path: Path) -> None:
    store = MemoryStore()
    cast, _ = load_cast()
    with Runtime.from_default(memory=store) as runtime:
        options = GameOptions(save_path=tmp_path / "slot1.json", seed=11, ambient_cooldown=5)
        game = Game(screen, runtime, cast, options)
        stats = FrameStats()
        runner = ScriptRunner(parse_script(PLAYTHROUGH))
        run_loop(game, fps=60, script=runner, stats=stats)
        transcript = "\n".join(game.transcript)
        assert runner.error is None, transcript

        # an action from the smith's persona happened, and the world shows it
        _, reply, outcome = next(a for a in game.actions if a[0] == "blacksmith")
        actions = {a.name for a in game.cast["blacksmith"].persona.actions} | {"none"}
        assert reply.action in actions, transcript
        if reply.action == "repair" and reply.args.get("item") == "sword":
            assert game.world.inventory.has("mended sword"), transcript
        elif reply.action == "point_to":
            assert outcome is not None and outcome.pointer is not None
        elif reply.action != "none":
            assert outcome is not None and outcome.message in transcript
        # the NPCs chatted within earshot, live
        assert game.ambient.done and all(len(lines) >= 2 for lines in game.ambient.done)

        # talk more, then load: Marta remembers what the save remembers
        saved = json.loads((tmp_path / "slot1.json").read_text())
        assert base64.b64decode(saved["npc_memory"])
        at_save = [m.text for m in game.runtime.memory("innkeeper").memories()]
        assert "My name is Ayla and I come from Eastmarch." in at_save
        runner = ScriptRunner(parse_script(TALK_MORE))
        run_loop(game, fps=60, script=runner, stats=stats)
        assert runner.error is None, "\n".join(game.transcript)
        assert any("room for the night" in m.text for m in runtime.memory("innkeeper").memories())
        assert game.load()
        assert [m.text for m in runtime.memory("innkeeper").memories()] == at_save
        assert "player.name" in runtime.memory("innkeeper").facts()

        # four NPCs generate at once while the game runs its frames
        for member in cast:
            game.talk.replies[member.npc_id] = runtime.say(
                member.npc_id, "What news from the road today?"
            )
        run_loop(
            game, fps=60, script=ScriptRunner(parse_script("wait 1\nwait-reply 60\n")), stats=stats
        )
        assert max(stats.generating) >= 4, stats.summary()  # (and maybe some small talk)
        busy = stats.while_generating()
        assert len(busy) > 60, stats.summary()
        assert max(busy) < FRAME_BUDGET_MS, stats.summary()
        print(stats.summary())  # shown with pytest -s
