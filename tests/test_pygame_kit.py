"""The pygame kit's widgets, headless, fed with real events from a runtime on the scripted fake."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import pygame

import npc_ai.pygame as kit
from npc_ai.backends import ScriptedGenerator
from npc_ai.dialogue.npc import DialogueOptions
from npc_ai.dialogue.persona import Persona
from npc_ai.engine import SerialEngine
from npc_ai.pygame import (
    BubbleOptions,
    CaptionStrip,
    DialoguePanel,
    DialogueView,
    Hud,
    HudOptions,
    InputOptions,
    SpeechBubble,
    TextInput,
    emotion_color,
)
from npc_ai.runtime import Event, ReplyDelta, ReplyDone, ReplyError, Runtime, RuntimeOptions
from npc_ai.subtitles.speech.events import Caption

LONG = (
    " Hmph. Leave it on the anvil and come back by sundown, the blade needs a proper"
    " quench and I will not rush it for anyone, least of all a stranger."
)


@pytest.fixture(autouse=True)
def display(monkeypatch: pytest.MonkeyPatch) -> Iterator[pygame.Surface]:
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    pygame.display.init()
    pygame.font.init()
    screen = pygame.display.set_mode((320, 240))
    yield screen
    pygame.key.stop_text_input()
    pygame.display.quit()


def pick(prompt: str, choices: tuple[str, ...]) -> str:
    """The fake picks "annoyed" when asked for an emotion."""
    return " annoyed." if " annoyed." in choices else choices[-1]


def reply_events(
    persona: Persona, script: Sequence[str], *, structured: bool = False, say: str = "Hello"
) -> list[Event]:
    """The events of one reply, from a stepped runtime on the scripted fake."""
    generator = ScriptedGenerator(list(script), choose=pick)
    options = RuntimeOptions(threaded=False, budget_ms=50)
    dialogue = DialogueOptions(structured=structured, max_tokens=120, max_sentences=9)
    with Runtime(SerialEngine(generator), options=options) as runtime:
        npc = runtime.add_npc(persona, npc_id="smith", dialogue=dialogue)
        handle = runtime.say(npc, say)
        events: list[Event] = []
        deadline = time.monotonic() + 10
        while not handle.done and time.monotonic() < deadline:
            events += runtime.update()
    assert handle.done
    return events


def rgb(surface: pygame.Surface, rect: pygame.Rect | None = None) -> list[bytes]:
    """The pixels of ``rect`` (default: all) as 3-byte values, row by row."""
    area = surface.subsurface(rect) if rect is not None else surface
    raw = pygame.image.tobytes(area, "RGB")
    return [raw[i : i + 3] for i in range(0, len(raw), 3)]


def changed(before: pygame.Surface, after: pygame.Surface, rect: pygame.Rect) -> int:
    return sum(a != b for a, b in zip(rgb(before, rect), rgb(after, rect), strict=True))


def blank(size: tuple[int, int] = (320, 240)) -> pygame.Surface:
    surface = pygame.Surface(size)
    surface.fill((40, 60, 60))
    return surface


def state(bubble: SpeechBubble) -> tuple[str, str | None, bool, int]:
    return (bubble.text, bubble.emotion, bubble.done, bubble.alpha)


def key(k: int, mod: int = 0) -> pygame.event.Event:
    return pygame.event.Event(pygame.KEYDOWN, key=k, mod=mod, unicode="", scancode=0)


def typed(text: str) -> pygame.event.Event:
    return pygame.event.Event(pygame.TEXTINPUT, text=text)


# -- the speech bubble -------------------------------------------------------------------------


def test_a_streaming_reply_wraps_within_the_bubble_and_scrolls(blacksmith: Persona) -> None:
    events = reply_events(blacksmith, [LONG])
    deltas = [e for e in events if isinstance(e, ReplyDelta)]
    assert len(deltas) > 5
    bubble = SpeechBubble((160, 200), BubbleOptions(max_width=150, max_lines=3), npc="smith")
    assert bubble.handle(deltas[0]) and bubble.text == deltas[0].text  # shows the first piece
    seen_rows = 1
    for event in deltas[1:]:
        bubble.handle(event)
        seen_rows = max(seen_rows, len(bubble.lines))
    done = events[-1]
    assert isinstance(done, ReplyDone)
    assert bubble.text == "".join(e.text for e in deltas) == done.text
    assert len(bubble.lines) >= 5  # wrapped into several rows...
    assert all(bubble.font.size(row)[0] <= 150 for row in bubble.lines)  # ...each within
    assert " ".join(bubble.lines) == " ".join(done.text.split())  # nothing lost
    assert bubble.visible_lines == bubble.lines[-3:]  # scrolled: the newest rows show
    assert not bubble.handle(ReplyDelta(npc="guard", reply=1, text="Halt"))  # another NPC's


def test_the_bubble_fades_after_the_reply_and_shows_the_emotion(blacksmith: Persona) -> None:
    events = reply_events(blacksmith, [" Hmph. Leave it."], structured=True)
    done = events[-1]
    assert isinstance(done, ReplyDone) and done.structured is not None
    options = BubbleOptions(hold_seconds=2.0, fade_seconds=1.0)
    bubble = SpeechBubble((160, 200), options, npc="smith")
    for event in events:
        bubble.handle(event)
    assert bubble.done and bubble.emotion == "annoyed" and bubble.alpha == 255
    screen = blank()
    drawn = bubble.draw(screen)
    assert drawn is not None and drawn.bottom <= 200 and drawn.collidepoint(160, 190)
    dot = emotion_color("annoyed")
    assert bytes(dot) in rgb(screen, drawn)  # the emotion's dot
    bubble.update(1.5)
    assert bubble.alpha == 255  # still held
    bubble.update(1.0)  # 2.5 s: half way through the fade
    assert 120 <= bubble.alpha <= 135
    faded = blank()
    bubble.draw(faded)
    assert bytes(dot) not in rgb(faded, drawn)  # blended with the background
    bubble.update(0.6)
    assert bubble.alpha == 0 and not bubble.visible and bubble.draw(blank()) is None
    # the next reply starts afresh
    bubble.handle(ReplyDelta(npc="smith", reply=done.reply + 1, text="Back again?"))
    assert state(bubble) == ("Back again?", None, False, 255)


def test_the_bubble_follows_its_sprite_and_stays_on_screen() -> None:
    where = [(100, 150)]
    bubble = SpeechBubble(lambda: where[0])
    bubble.set_text("Over here!")
    screen = blank()
    first = bubble.draw(screen)
    where[0] = (200, 120)
    second = bubble.draw(blank())
    assert first is not None and second is not None
    assert second.centerx - first.centerx == 100 and first.bottom - second.bottom == 30
    where[0] = (5, 5)  # at the corner: pushed inside the screen
    third = bubble.draw(blank())
    assert third is not None and screen.get_rect().contains(third)


# -- the text input ----------------------------------------------------------------------------


def test_the_input_takes_text_input_events_edits_and_submits() -> None:
    submitted: list[str] = []
    line = TextInput((10, 10, 300, 30), on_submit=submitted.append)
    assert not line.process_event(typed("x"))  # not focused: the game gets it
    line.focus()
    assert line.process_event(typed("helo")) and (line.text, line.caret) == ("helo", 4)
    line.process_event(key(pygame.K_LEFT))
    line.process_event(typed("l"))
    assert (line.text, line.caret) == ("hello", 4)
    line.process_event(key(pygame.K_HOME))
    line.process_event(key(pygame.K_DELETE))
    line.process_event(key(pygame.K_END))
    line.process_event(key(pygame.K_BACKSPACE))
    assert (line.text, line.caret) == ("ell", 3)
    line.process_event(typed(" there  friend"))
    line.process_event(key(pygame.K_BACKSPACE, pygame.KMOD_LCTRL))  # a word
    assert line.text == "ell there  "
    line.process_event(key(pygame.K_LEFT, pygame.KMOD_LCTRL))
    assert line.caret == len("ell ")
    assert line.process_event(key(pygame.K_a))  # a letter's key press is the input's too
    assert line.text == "ell there  "  # ...but only TEXTINPUT types
    assert not line.process_event(key(pygame.K_F3))  # function keys reach the game
    line.process_event(key(pygame.K_RETURN))
    assert submitted == ["ell there"] and line.text == "" and line.take_submitted() == submitted
    assert line.take_submitted() == []
    line.process_event(key(pygame.K_RETURN))  # a blank line is not submitted
    assert submitted == ["ell there"]


def test_the_input_keeps_a_history_and_a_draft() -> None:
    line = TextInput((0, 0, 200, 30))
    line.focus()
    for text in ("first", "second"):
        line.process_event(typed(text))
        line.process_event(key(pygame.K_RETURN))
    line.process_event(typed("draft"))
    line.process_event(key(pygame.K_UP))
    assert line.text == "second"
    line.process_event(key(pygame.K_UP))
    line.process_event(key(pygame.K_UP))  # stays at the oldest
    assert line.text == "first"
    line.process_event(key(pygame.K_DOWN))
    assert line.text == "second"
    line.process_event(key(pygame.K_DOWN))
    assert line.text == "draft" and line.caret == 5
    assert line.history == ["first", "second"]


def test_ime_composition_is_shown_and_keys_go_to_the_ime() -> None:
    submitted: list[str] = []
    line = TextInput((0, 0, 300, 40), on_submit=submitted.append)
    line.focus()
    line.process_event(typed("I said "))
    editing = pygame.event.Event(pygame.TEXTEDITING, text="nihon", start=5, length=0)
    assert line.process_event(editing) and line.composition == "nihon"
    assert line.text == "I said "  # not part of the line until committed
    line.process_event(key(pygame.K_RETURN))  # the IME's Enter: it commits, no submit
    line.process_event(key(pygame.K_BACKSPACE))
    assert submitted == [] and line.text == "I said "
    screen = blank((300, 40))
    line.draw(screen)
    colour = pygame.Color(InputOptions().composition_color)
    assert bytes((colour.r, colour.g, colour.b)) in rgb(screen)  # drawn, underlined
    line.process_event(typed("日本"))
    assert (line.text, line.composition) == ("I said 日本", "")
    line.process_event(key(pygame.K_RETURN))
    assert submitted == ["I said 日本"]


def test_paste_max_length_and_no_clipboard(monkeypatch: pytest.MonkeyPatch) -> None:
    line = TextInput((0, 0, 300, 30), InputOptions(max_length=12))
    line.focus()
    line.process_event(key(pygame.K_v, pygame.KMOD_LCTRL))  # headless: no crash
    assert len(line.text) <= 12
    line.set_text("")
    import npc_ai.pygame.text_input as text_input

    monkeypatch.setattr(text_input, "clipboard_text", lambda: "two\nlines\tand more")
    line.process_event(key(pygame.K_v, pygame.KMOD_LCTRL))
    assert line.text == "two lines an"  # one line, cut to max_length
    line.process_event(typed("zzz"))
    assert len(line.text) == 12


def test_clipboard_text_without_a_window_is_empty() -> None:
    from npc_ai.pygame.text_input import clipboard_text

    pygame.display.quit()
    assert clipboard_text() == ""


def test_the_input_draws_text_and_a_blinking_caret() -> None:
    line = TextInput((0, 0, 300, 30), InputOptions(blink_seconds=0.5, placeholder=""))
    empty = blank((300, 30))
    line.draw(empty)
    line.focus()
    line.process_event(typed("Hello"))
    on = blank((300, 30))
    assert line.caret_visible
    line.draw(on)
    inner = pygame.Rect(8, 8, 280, 14)
    assert changed(empty, on, inner) > 20  # the text and the caret
    line.update(0.6)
    assert not line.caret_visible
    off = blank((300, 30))
    line.draw(off)
    assert 0 < changed(on, off, pygame.Rect(0, 0, 300, 30)) < changed(empty, on, inner)
    line.update(0.5)
    assert line.caret_visible
    # clicking elsewhere lets go of the keyboard; clicking it takes it back
    click = pygame.event.Event(pygame.MOUSEBUTTONDOWN, button=1, pos=(200, 200))
    assert not line.process_event(click) and not line.focused
    click = pygame.event.Event(pygame.MOUSEBUTTONDOWN, button=1, pos=(2, 10))
    assert line.process_event(click) and line.focused and line.caret == 0


def test_a_long_line_scrolls_to_keep_the_caret_in_view() -> None:
    line = TextInput((0, 0, 120, 30))
    line.focus()
    line.process_event(typed("a fairly long line that does not fit in the box"))
    screen = blank((120, 30))
    line.draw(screen)
    assert line._scroll > 0
    line.process_event(key(pygame.K_HOME))
    line.draw(blank((120, 30)))
    assert line._scroll == 0


# -- the dialogue panel ------------------------------------------------------------------------


def test_the_panel_streams_the_reply_into_its_transcript_and_draws_it(
    blacksmith: Persona,
) -> None:
    events = reply_events(blacksmith, [LONG])
    submitted: list[str] = []
    panel = DialoguePanel((0, 0, 320, 240), name="Brakka Ironhand", npc="smith")
    panel.input = TextInput((0, 0, 1, 1), on_submit=submitted.append)
    assert panel.input.rect == panel.input_rect
    empty = blank()
    panel.draw(empty)
    panel.add_line("You", "Can you mend my sword?", kind="player")
    first = next(e for e in events if isinstance(e, ReplyDelta))
    panel.handle(first)
    assert panel.lines[-1].text == first.text and panel.lines[-1].reply == first.reply
    for event in events:
        if event is not first:
            panel.handle(event)
    done = events[-1]
    assert isinstance(done, ReplyDone)
    assert [(line.speaker, line.text) for line in panel.lines] == [
        ("You", "Can you mend my sword?"),
        ("Brakka Ironhand", done.text),
    ]
    width = panel.transcript_rect.width
    assert len(panel.rows()) > 3 and all(panel.font.size(r)[0] <= width for r, _ in panel.rows())
    full = blank()
    panel.draw(full)
    area = panel.transcript_rect
    assert changed(empty, full, area) > 200  # text appears where the transcript is
    # the hosted input gets the player's typing
    panel.input.focus()
    assert panel.process_event(typed("Thanks"))
    panel.process_event(key(pygame.K_RETURN))
    assert submitted == ["Thanks"]
    # scrolling back shows older rows; a new line keeps them in view
    shown = panel.visible_rows
    panel.scroll_by(100)
    assert panel.scroll > 0 and panel.visible_rows[0] == panel.rows()[0]
    kept = panel.visible_rows
    panel.add_line("You", "One more thing.", kind="player")
    assert panel.visible_rows == kept
    panel.scroll_by(-1000)
    assert panel.scroll == 0 and panel.visible_rows[-1][0] == "You: One more thing."
    assert shown != kept


def test_the_panel_notes_an_error_and_draws_a_portrait() -> None:
    from npc_ai.errors import BackendError

    portrait = pygame.Surface((32, 32))
    portrait.fill((200, 20, 20))
    panel = DialoguePanel((0, 0, 320, 200), name="Brakka", npc="smith", portrait=portrait)
    panel.handle(ReplyDelta(npc="smith", reply=7, text="Hm"))
    panel.handle(ReplyError(npc="smith", reply=7, error=BackendError("model failed")))
    assert [line.kind for line in panel.lines] == ["npc", "note"]
    assert "model failed" in panel.lines[-1].text
    screen = blank((320, 200))
    panel.draw(screen)
    slot = pygame.Rect(12, 12, 60, 60)  # inside the 72 px slot's frame
    assert rgb(screen, slot).count(bytes((200, 20, 20))) > 3000  # scaled to the slot


# -- the caption strip -------------------------------------------------------------------------


def test_npc_lines_become_captions_with_the_subtitle_rules() -> None:
    strip = CaptionStrip(names={"smith": "Brakka"})
    cues = strip.say("Brakka", " ".join(LONG.split()))
    assert len(cues) >= 3
    assert cues[0].lines[0].startswith("Brakka: Hmph.")
    for cue in cues:
        assert 1 <= len(cue.lines) <= 2 and all(len(line) <= 42 for line in cue.lines)
    for a, b in itertools.pairwise(cues):
        assert b.start >= a.end  # one after another
    assert strip.cue == cues[0]
    assert [row for row, _ in strip.rows()] == list(cues[0].lines)
    strip.update(cues[1].start + 0.001)
    assert strip.cue == cues[1]
    # a second line waits for the first
    later = strip.say("Aldric", "Halt.")
    assert later[0].start >= cues[-1].end
    assert strip.handle(
        ReplyDone(npc="smith", reply=3, text="Fine.", finish_reason="stop")
    ) and not strip.handle(ReplyDelta(npc="smith", reply=3, text="x"))
    strip.update(60.0)
    assert strip.cue is None and strip.rows() == []


def test_the_strip_shows_the_board_and_draws_at_the_bottom() -> None:
    strip = CaptionStrip()
    empty = blank()
    assert strip.draw(empty) is None
    long = "and so we walked all the way from the river to the old mill before the sun went down"
    strip.feed([Caption(segment=0, revision=0, final=True, text=long, start=0.0, end=3.0)])
    rows = [row for row, _ in strip.rows()]
    assert rows and all(len(row) <= 42 for row in rows)
    screen = blank()
    drawn = strip.draw(screen)
    assert drawn is not None and drawn.bottom > 200
    assert changed(empty, screen, drawn) > 100
    top = pygame.Rect(0, 0, 320, 60)
    assert changed(empty, screen, top) == 0  # nothing above
    strip.update(10.0)  # the board lets the phrase go
    assert strip.rows() == []


# -- the HUD -----------------------------------------------------------------------------------


class FakeRuntime:
    """``update`` takes 4 ms of the fake clock and returns what it was given to return."""

    def __init__(self, now: list[float]) -> None:
        self.now = now
        self.batches: list[list[Event]] = []
        self.calls: list[str] = []

    def update(self, dt: float = 0.0) -> list[Event]:
        self.calls.append("update")
        self.now[0] += 0.004
        return self.batches.pop(0) if self.batches else []


def test_the_hud_numbers() -> None:
    now = [0.0]
    runtime = FakeRuntime(now)
    hud = Hud(HudOptions(frames=100, rate_seconds=2.0), clock=lambda: now[0])
    for i in range(100):
        runtime.batches.append([ReplyDelta(npc="a", reply=1, text="x" * 10)])
        hud.poll(runtime, 1 / 60)
        hud.update(0.05 if i in (10, 20) else 1 / 60)
    assert hud.fps == pytest.approx(100 / (98 / 60 + 0.1))
    assert hud.frame_p99_ms == pytest.approx(50.0)  # the 99th of 100, nearest rank
    assert hud.runtime_ms == pytest.approx(4.0) and hud.runtime_ms_max == pytest.approx(4.0)
    # tokens: characters / 4, over the last 2 s of game time (less than 2 s have gone by)
    assert hud.tokens_per_second == pytest.approx(1000 / 4 / (98 / 60 + 0.1))
    for _ in range(300):
        runtime.batches.append([ReplyDelta(npc="a", reply=1, text="x" * 10)])
        hud.poll(runtime, 1 / 60)
        hud.update(1 / 60)
    assert hud.tokens_per_second == pytest.approx(10 / 4 * 60, rel=0.02)  # 120 frames in 2 s
    for _ in range(200):
        hud.update(1 / 60)  # replies stopped
    assert hud.tokens_per_second == 0.0 and hud.runtime_ms == 0.0
    assert hud.visible and hud.draw(blank()) is not None
    assert hud.process_event(key(pygame.K_F3)) and not hud.visible
    assert hud.draw(blank()) is None
    assert "FPS" in hud.lines()[0]


# -- none of it blocks -------------------------------------------------------------------------


def test_widgets_only_consume_events(blacksmith: Persona) -> None:
    """The view calls ``runtime.update`` once a frame; the widgets never reach the runtime."""
    events = reply_events(blacksmith, [" Hmph. Leave it on the anvil."], structured=True)
    now = [0.0]
    runtime = FakeRuntime(now)
    runtime.batches = [[e] for e in events]
    view = DialogueView(runtime, hud=Hud(clock=lambda: now[0]))
    bubble = view.bubble("smith", (160, 200))
    panel = view.add(DialoguePanel((0, 120, 320, 120), name="Brakka", npc="smith"))
    strip = view.add(CaptionStrip(names={"smith": "Brakka"}))
    screen = blank()
    for _ in range(len(events) + 3):
        view.process_event(key(pygame.K_a))
        view.update(1 / 60)
        view.draw(screen)
    assert runtime.calls == ["update"] * (len(events) + 3)
    done = events[-1]
    assert isinstance(done, ReplyDone)
    assert bubble.text == panel.lines[-1].text == done.text and bubble.emotion == "annoyed"
    assert strip.cue is not None and strip.cue.lines[0].startswith("Brakka: Hmph.")
    for widget in (bubble, panel, strip, view.hud):
        assert not any(isinstance(v, FakeRuntime) for v in vars(widget).values())


def test_frames_stay_short_while_the_model_is_slow(blacksmith: Persona) -> None:
    generator = ScriptedGenerator([" Hmph. Leave it there."], delay=0.25)
    with Runtime(SerialEngine(generator), options=RuntimeOptions(budget_ms=1.0)) as runtime:
        smith = runtime.add_npc(blacksmith)
        view = DialogueView(runtime, hud=Hud())
        bubble = view.bubble(smith, (160, 200))
        view.add(DialoguePanel((0, 120, 320, 120), npc=smith))
        view.add(CaptionStrip())
        handle = runtime.say(smith, "Hello")
        screen = blank()
        longest = 0.0
        frames = 0
        deadline = time.monotonic() + 10
        while not handle.done and time.monotonic() < deadline:
            started = time.perf_counter()
            view.update(1 / 60)
            view.draw(screen)
            longest = max(longest, time.perf_counter() - started)
            frames += 1
            time.sleep(0.005)
        assert handle.done and bubble.text == handle.text == "Hmph. Leave it there."
        assert frames > 20  # many frames went by while the model worked
        assert longest < 0.15  # each far shorter than one 0.25 s model step


# -- the public face ---------------------------------------------------------------------------


def test_the_kits_names_are_pinned_and_load_on_first_use() -> None:
    assert sorted(kit.__all__) == sorted(
        [
            "BubbleOptions",
            "CaptionStrip",
            "CaptionWindow",
            "DialoguePanel",
            "DialogueView",
            "Hud",
            "HudOptions",
            "InputOptions",
            "PanelOptions",
            "SpeechBubble",
            "StripOptions",
            "TextInput",
            "WindowOptions",
            "emotion_color",
            "load_font",
        ]
    )
    for name in kit.__all__:
        assert getattr(kit, name) is not None
    with pytest.raises(AttributeError):
        kit.Nope  # type: ignore[attr-defined]  # noqa: B018
    code = (
        "import json, sys; import npc_ai.pygame, npc_ai.pygame.caption_window; "
        "print(json.dumps('pygame' in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) is False  # the subtitles command needs no pygame to start


def test_every_widget_has_the_frame_methods() -> None:
    from npc_ai.pygame.view import Widget

    widgets: list[Any] = [
        SpeechBubble((0, 0)),
        TextInput((0, 0, 10, 10)),
        DialoguePanel((0, 0, 200, 100)),
        CaptionStrip(),
        Hud(),
        DialogueView(FakeRuntime([0.0])),
    ]
    for widget in widgets:
        assert isinstance(widget, Widget), widget
        assert widget.process_event(pygame.event.Event(pygame.USEREVENT)) is False
        widget.update(0.016)
        widget.draw(blank())
