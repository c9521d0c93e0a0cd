"""Thornvale's push-to-talk: V held, the player's voice becomes their line to the NPC.

The fast tests run the voice path on the scripted fake recognizer (audio pushed as a
microphone would deliver it) and a microphone that is not there; the last test speaks a
line with espeak-ng into a WAV file and plays it through the real speech model, as a
script's ``speak`` command does, to the real dialogue model.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import pygame

from npc_ai import (
    LiveSubtitles,
    MemoryStore,
    MicSource,
    PushSource,
    Runtime,
    RuntimeOptions,
    ScriptedGenerator,
    SubtitleOptions,
)
from npc_ai.engine import SerialEngine
from npc_ai.subtitles.speech.events import Word
from npc_ai.subtitles.speech.fake import EnergyVad, ScriptedRecognizer, scripted_stream
from npc_ai.subtitles.speech.streaming import StreamingTranscriber
from sample_game.cast import load_cast
from sample_game.game import SCREEN_SIZE, Game, GameOptions
from sample_game.main import run_loop
from sample_game.script import ScriptRunner, parse_script
from sample_game.stats import FrameStats
from sample_game.voice import Voice
from tests import speech_fixtures

SPOKEN = "can you mend my sword"


def _words(text: str, start: float) -> list[Word]:
    return [
        Word(text=w, start=round(start + 0.45 * i, 3), end=round(start + 0.45 * i + 0.35, 3))
        for i, w in enumerate(text.split())
    ]


WORDS = _words(SPOKEN, 0.3)
AUDIO = scripted_stream(WORDS, WORDS[-1].end + 1.0)


def fake_session(source: Any) -> LiveSubtitles:
    """A speech session over the scripted fake: it hears :data:`SPOKEN` in :data:`AUDIO`."""
    transcriber = StreamingTranscriber(ScriptedRecognizer(stream=AUDIO, words=WORDS), EnergyVad())
    return LiveSubtitles(source, options=SubtitleOptions(targets=()), transcriber=transcriber)


def spoken_source() -> PushSource:
    """The fake's audio, as a microphone would have delivered it while V was held."""
    source = PushSource()
    source.push(AUDIO)
    source.close()
    return source


class NoMicrophone(MicSource):
    """A microphone that is not there: opening it fails as MicSource's does."""

    def __init__(self) -> None:
        super().__init__(device="thornvale-no-such-device")


@pytest.fixture
def make_game(tmp_path: Path) -> Iterator[Callable[..., Game]]:
    pygame.init()
    screen = pygame.display.set_mode(SCREEN_SIZE)
    opened: list[tuple[Runtime, MemoryStore, Voice]] = []

    def make(voice: Voice) -> Game:
        store = MemoryStore()
        generator = ScriptedGenerator([" Hmph. Leave it on the anvil."], delay=0.002)
        runtime = Runtime(
            SerialEngine(generator), memory=store, options=RuntimeOptions(budget_ms=5)
        )
        opened.append((runtime, store, voice))
        options = GameOptions(save_path=tmp_path / "slot1.json", ambient=False, seed=5)
        return Game(screen, runtime, load_cast()[0], options, voice=voice)

    yield make
    for runtime, store, voice in opened:
        voice.close()
        runtime.close()
        store.close()
    pygame.key.stop_text_input()
    pygame.quit()


def key(kind: int, code: int) -> pygame.event.Event:
    return pygame.event.Event(kind, key=code, mod=0, unicode="", scancode=0)


def run_until(game: Game, done: Callable[[], bool], *, seconds: float = 20.0) -> None:
    end = time.monotonic() + seconds
    while not done():
        assert time.monotonic() < end, "\n".join(game.transcript)
        game.frame(1 / 60, [])
        time.sleep(0.005)


def walk_to_smith(game: Game) -> None:
    runner = ScriptRunner(parse_script("walk smith\n"))
    run_loop(game, fps=200, script=runner, stats=FrameStats(), speed=4.0)
    assert runner.error is None


def test_v_held_speaks_to_the_npc_and_it_answers(make_game: Callable[..., Game]) -> None:
    game = make_game(Voice(session=fake_session, keep_loaded=False))
    walk_to_smith(game)
    game.voice_source = spoken_source()
    # V down opens the conversation with the NPC next to the player, and listens
    game.frame(
        1 / 60, [key(pygame.KEYDOWN, pygame.K_v), pygame.event.Event(pygame.TEXTINPUT, text="v")]
    )
    assert game.panel is not None and game.talk.focus == "blacksmith"
    assert game.panel.input is not None and game.panel.input.text == ""  # V typed nothing
    run_until(game, lambda: not game.voice.busy)
    game.frame(1 / 60, [key(pygame.KEYUP, pygame.K_v)])
    run_until(game, lambda: any(line.startswith("Brakka: ") for line in game.transcript))
    assert f"You -> Brakka: {SPOKEN}" in game.transcript
    assert game.panel.lines[-2].text == SPOKEN  # the player's line, in the panel
    heard = [m.text for m in game.runtime.memory("blacksmith").memories() if m.kind == "heard"]
    assert heard == [SPOKEN]


def test_v_is_a_letter_once_a_line_is_begun(make_game: Callable[..., Game]) -> None:
    voice = Voice(session=fake_session, keep_loaded=False)
    game = make_game(voice)
    walk_to_smith(game)
    game.frame(1 / 60, [key(pygame.KEYDOWN, pygame.K_e)])
    game.frame(1 / 60, [pygame.event.Event(pygame.TEXTINPUT, text="I")])
    game.frame(
        1 / 60, [key(pygame.KEYDOWN, pygame.K_v), pygame.event.Event(pygame.TEXTINPUT, text="v")]
    )
    assert game.panel is not None and game.panel.input is not None
    assert game.panel.input.text == "Iv" and not voice.busy


def test_v_with_nobody_near_says_so(make_game: Callable[..., Game]) -> None:
    game = make_game(Voice(session=fake_session, keep_loaded=False))
    game.frame(1 / 60, [key(pygame.KEYDOWN, pygame.K_v)])
    assert any("Nobody is close enough to hear you" in line for line in game.transcript)
    assert not game.voice.busy


def test_no_microphone_is_said_once_and_the_game_goes_on(make_game: Callable[..., Game]) -> None:
    sessions: list[object] = []

    def session(source: Any) -> LiveSubtitles:
        sessions.append(source)
        return fake_session(source)

    game = make_game(Voice(microphone=NoMicrophone, session=session, keep_loaded=False))
    walk_to_smith(game)
    for _ in range(2):
        game.frame(1 / 60, [key(pygame.KEYDOWN, pygame.K_v)])
        run_until(game, lambda: not game.voice.busy)
        game.frame(1 / 60, [key(pygame.KEYUP, pygame.K_v)])
        game.frame(1 / 60, [])
    notes = [line for line in game.transcript if "No microphone" in line]
    assert len(notes) == 1, game.transcript
    assert game.voice.unavailable is not None
    assert sessions == []  # said before a speech model was loaded
    # the game goes on: the player types instead, and the smith answers
    game.frame(1 / 60, [pygame.event.Event(pygame.TEXTINPUT, text="Hello")])
    game.frame(1 / 60, [key(pygame.KEYDOWN, pygame.K_RETURN)])
    run_until(game, lambda: any(line.startswith("Brakka: ") for line in game.transcript))
    assert game.running


def test_nothing_understood_is_said(make_game: Callable[..., Game]) -> None:
    game = make_game(Voice(session=fake_session, keep_loaded=False))
    walk_to_smith(game)
    quiet = PushSource()
    quiet.push(np.zeros(16000, np.float32))
    quiet.close()
    game.voice_source = quiet
    game.frame(1 / 60, [key(pygame.KEYDOWN, pygame.K_v)])
    run_until(game, lambda: not game.voice.busy)
    game.frame(1 / 60, [key(pygame.KEYUP, pygame.K_v)])
    game.frame(1 / 60, [])
    assert any("Nothing was understood" in line for line in game.transcript)
    assert game.talk.generating == 0


# -- on the real models -----------------------------------------------------------------------


@pytest.mark.model
@pytest.mark.skipif(not speech_fixtures.have_espeak(), reason="needs espeak-ng")
def test_a_spoken_line_reaches_the_npc_on_the_real_models(tmp_path: Path) -> None:
    line = "Can you mend my sword?"
    audio = speech_fixtures.speak(line)
    silence = np.zeros(speech_fixtures.SAMPLE_RATE // 2, np.float32)
    speech_fixtures.write_wav(tmp_path / "mend.wav", np.concatenate([silence, audio, silence]))
    pygame.init()
    screen = pygame.display.set_mode(SCREEN_SIZE)
    store = MemoryStore()
    voice = Voice()
    try:
        with Runtime.from_default(memory=store) as runtime:
            options = GameOptions(save_path=tmp_path / "slot1.json", ambient=False, seed=5)
            game = Game(screen, runtime, load_cast()[0], options, voice=voice)
            script = "walk smith\nspeak mend.wav\nwait-reply 60\nbye\n"
            runner = ScriptRunner(parse_script(script), folder=tmp_path)
            run_loop(game, fps=60, script=runner, stats=FrameStats())
            transcript = "\n".join(game.transcript)
            assert runner.error is None, transcript
            said = [t for t in game.transcript if t.startswith("You -> Brakka: ")]
            assert len(said) == 1, transcript
            heard = said[0].removeprefix("You -> Brakka: ")
            assert speech_fixtures.word_error_rate(line, heard) <= 0.34, transcript
            memories = [m.text for m in runtime.memory("blacksmith").memories()]
            assert heard in memories
            answers = [t for t in game.transcript if t.startswith("Brakka: ")]
            assert answers and answers[-1].removeprefix("Brakka: ").strip(), transcript
    finally:
        voice.close()
        store.close()
        pygame.quit()
