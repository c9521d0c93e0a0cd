from __future__ import annotations

import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bridge import subtitles_cli as subtitles
from bridge.subtitles_cli import stop_on_interrupt
from npc_ai.cli import main
from npc_ai.errors import AudioDecodeError
from npc_ai.subtitles.output import TerminalPrinter, pump
from npc_ai.subtitles.speech.events import Caption, CaptionTranslation, SubtitleError, SubtitleEvent
from tests.test_overlay import SseReader


def cap(
    segment: int,
    text: str,
    *,
    final: bool = False,
    revision: int = 0,
    start: float = 0.0,
    end: float = 1.0,
) -> Caption:
    return Caption(segment=segment, revision=revision, final=final, text=text, start=start, end=end)


def tr(
    segment: int, target: str, text: str, start: float = 0.0, end: float = 1.0
) -> CaptionTranslation:
    return CaptionTranslation(segment=segment, target=target, text=text, start=start, end=end)


SCRIPT: list[list[SubtitleEvent]] = [
    [cap(0, "hello")],
    [cap(0, "hello there", revision=1)],
    [
        cap(0, "Hello there.", final=True, revision=2, start=0.5, end=1.5),
        tr(0, "es", "Hola.", 0.5, 1.5),
    ],
    [cap(1, "general")],
    [
        cap(1, "General Kenobi.", final=True, revision=1, start=2.0, end=3.2),
        tr(1, "es", "General Kenobi.", 2.0, 3.2),
    ],
]


class FakeSession:
    """Hands out scripted batches; ``live`` keeps making partials until stopped, and stop()
    flushes the phrase under way as a final, as LiveSubtitles does."""

    def __init__(
        self,
        batches: list[list[SubtitleEvent]],
        *,
        live: bool = False,
        gate: threading.Event | None = None,
    ) -> None:
        self.batches: deque[list[SubtitleEvent]] = deque(batches)
        self.gate = gate
        self.live = live
        self.stopped = False
        self.entered = self.exited = False
        self.started = False
        self._segment = 100
        self._revision = 0

    def __enter__(self) -> FakeSession:
        self.entered = True
        return self

    def __exit__(self, *exc: object) -> None:
        self.exited = True

    def start(self) -> None:
        self.started = True

    def _next(self) -> list[SubtitleEvent]:
        if self.gate is not None and not self.gate.is_set():
            return []
        if self.batches:
            return self.batches.popleft()
        if self.live and not self.stopped:
            self._revision += 1
            return [cap(self._segment, "and " * self._revision, revision=self._revision)]
        return []

    def poll(self, max_events: int | None = None) -> list[SubtitleEvent]:
        return self._next()

    def events(self, timeout: float | None = None) -> Iterator[SubtitleEvent]:
        batch = self._next()
        if not batch:
            time.sleep(min(timeout or 0.0, 0.01))
        yield from batch

    def stop(self) -> None:
        if not self.stopped and self.live:
            self.batches.append([cap(self._segment, "and then.", final=True, revision=99)])
        self.stopped = True

    @property
    def done(self) -> bool:
        gated = self.gate is not None and not self.gate.is_set()
        return (self.stopped or not self.live) and not self.batches and not gated


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_printer_prints_finals_and_translations_but_not_partials_off_a_terminal() -> None:
    out = io.StringIO()
    printer = TerminalPrinter(out, live=False)
    for batch in SCRIPT:
        for event in batch:
            printer(event)
    printer.close()
    assert out.getvalue().splitlines() == [
        "[0:00:00.5] Hello there.",
        "            es: Hola.",
        "[0:00:02.0] General Kenobi.",
        "            es: General Kenobi.",
    ]


def test_printer_rewrites_the_partial_on_a_terminal() -> None:
    out = Tty()
    printer = TerminalPrinter(out, live=True)
    printer(cap(0, "hello"))
    printer(cap(0, "hello there", revision=1))
    printer(cap(0, "Hello there.", final=True))
    printer(cap(1, "gen"))
    printer(tr(0, "es", "Hola."))
    printer.close()
    text = out.getvalue()
    assert "\r\x1b[K\x1b[2mhello\x1b[0m\r\x1b[K\x1b[2mhello there\x1b[0m\r\x1b[K" in text
    # a translation arriving while a partial shows: clear it, print, show it again
    assert text.endswith("\r\x1b[K            es: Hola.\n\r\x1b[K\x1b[2mgen\x1b[0m\r\x1b[K")
    assert "\n" not in text.split("[0:00:00.0] Hello there.\n")[0]


def test_printer_logs_pipeline_errors(caplog: pytest.LogCaptureFixture) -> None:
    out = io.StringIO()
    TerminalPrinter(out, live=False)(
        SubtitleError(error=AudioDecodeError("bad frame at 3.2 s"), fatal=False)
    )
    assert out.getvalue() == "" and "bad frame at 3.2 s" in caplog.text


def test_pump_feeds_every_event_to_every_sink_until_the_file_ends() -> None:
    session = FakeSession([list(b) for b in SCRIPT])
    seen: list[SubtitleEvent] = []
    also: list[SubtitleEvent] = []
    assert pump(session, [seen.append, also.append], poll_seconds=0.01) is False
    assert seen == also == [e for batch in SCRIPT for e in batch]
    assert session.stopped and session.done


def test_pump_stops_a_live_source_and_keeps_the_flushed_final() -> None:
    session = FakeSession([], live=True)
    stop = threading.Event()
    seen: list[SubtitleEvent] = []

    def sink(event: SubtitleEvent) -> None:
        seen.append(event)
        if len(seen) == 5:
            stop.set()

    assert pump(session, [sink], stop=stop, poll_seconds=0.01) is True
    assert isinstance(seen[-1], Caption) and seen[-1].final and seen[-1].text == "and then."
    assert len(seen) == 6


def test_ctrl_c_sets_the_stop_event_then_a_second_one_interrupts() -> None:
    before = signal.getsignal(signal.SIGINT)  # SIG_IGN when the suite runs in the background
    with stop_on_interrupt() as stop:
        os.kill(os.getpid(), signal.SIGINT)
        deadline = time.monotonic() + 2
        while not stop.is_set() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert stop.is_set()
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)
    assert signal.getsignal(signal.SIGINT) is before  # the previous handler is back


def test_pump_draws_the_window_and_ends_when_done_and_empty(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    from npc_ai.pygame.caption_window import CaptionWindow, WindowOptions
    from npc_ai.subtitles.board import BoardOptions

    now = [0.0]
    window = CaptionWindow(
        WindowOptions(fps=240), board_options=BoardOptions(max_seconds=1.0), clock=lambda: now[0]
    )
    session = FakeSession([list(b) for b in SCRIPT])
    seen: list[SubtitleEvent] = []
    frames: list[tuple[str, ...]] = []
    real_frame = window.frame

    def frame(events: Any = ()) -> bool:
        running = real_frame(events)
        frames.append(tuple(line.text for line in window.board.lines))
        now[0] += 0.25
        return running

    monkeypatch.setattr(window, "frame", frame)
    window.open()
    try:
        assert pump(session, [seen.append], window=window) is False
    finally:
        window.close()
    assert ("Hello there.", "Hola.", "general") in frames
    assert frames[-1] == ()
    assert len(seen) == 7


# -- the command, in process with a fake session ----------------------------------------------

SRT_BLOCK = re.compile(
    r"(\d+)\n(\d\d:\d\d:\d\d,\d\d\d) --> (\d\d:\d\d:\d\d,\d\d\d)\n((?:.+\n)+)(?:\n|$)"
)
VTT_BLOCK = re.compile(
    r"(\d\d:\d\d:\d\d\.\d\d\d) --> (\d\d:\d\d:\d\d\.\d\d\d)\n((?:.+\n)+)(?:\n|$)"
)


def parse_srt(text: str) -> list[tuple[str, str, str]]:
    """(start, end, text) of each block; fails on anything that is not a well-formed SRT."""
    blocks = SRT_BLOCK.findall(text)
    assert "".join(m.group(0) for m in SRT_BLOCK.finditer(text)) == text, text
    assert [int(b[0]) for b in blocks] == list(range(1, len(blocks) + 1))
    return [(b[1], b[2], " ".join(b[3].split())) for b in blocks]


def parse_vtt(text: str) -> list[tuple[str, str, str]]:
    assert text.startswith("WEBVTT\n\n"), text[:20]
    body = text[len("WEBVTT\n\n") :]
    assert "".join(m.group(0) for m in VTT_BLOCK.finditer(body)) == body, body
    return [(b[0], b[1], " ".join(b[2].split())) for b in VTT_BLOCK.findall(body)]


@pytest.fixture
def fake_session(monkeypatch: pytest.MonkeyPatch) -> list[FakeSession]:
    made: list[FakeSession] = []

    def open_session(args: Any, targets: tuple[str, ...], closing: Any) -> FakeSession:
        made.append(FakeSession([list(b) for b in SCRIPT]))
        return made[-1]

    monkeypatch.setattr(subtitles, "_open_session", open_session)
    return made


def test_command_prints_and_writes_srt_and_vtt(
    fake_session: list[FakeSession], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    srt, vtt = tmp_path / "out.srt", tmp_path / "out.vtt"
    code = main(
        [
            "subtitles",
            "--source",
            "x.wav",
            "--translate",
            "es",
            "--srt",
            str(srt),
            "--vtt",
            str(vtt),
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert out.splitlines() == [
        "[0:00:00.5] Hello there.",
        "            es: Hola.",
        "[0:00:02.0] General Kenobi.",
        "            es: General Kenobi.",
    ]
    cues = parse_srt(srt.read_text())
    assert [c[2] for c in cues] == ["Hello there.", "General Kenobi."]
    assert cues[0][0] == "00:00:00,500" and cues[1][0] == "00:00:02,000"
    assert parse_vtt(vtt.read_text()) == [
        (a.replace(",", "."), b.replace(",", "."), t) for a, b, t in cues
    ]
    # each translation gets its own files, timed like the original
    spanish = parse_srt((tmp_path / "out.es.srt").read_text())
    assert [c[2] for c in spanish] == ["Hola.", "General Kenobi."]
    assert [c[0] for c in spanish] == [c[0] for c in cues]
    assert [c[2] for c in parse_vtt((tmp_path / "out.es.vtt").read_text())] == [
        "Hola.",
        "General Kenobi.",
    ]
    assert fake_session[0].started and fake_session[0].stopped


def test_command_serves_the_page_until_the_last_lines_expire(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    gate = threading.Event()
    monkeypatch.setattr(
        subtitles, "_open_session", lambda *a: FakeSession([list(b) for b in SCRIPT], gate=gate)
    )
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    args = ["subtitles", "--source", "x.wav", "--web", str(port), "--quiet", "--max-cps", "400"]
    result: list[int] = []
    command = threading.Thread(target=lambda: result.append(main(args)))
    command.start()
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                page = SseReader(port)
                break
            except OSError:
                assert time.monotonic() < deadline, "the page never came up"
                time.sleep(0.05)
        assert page.until("snapshot")["lines"] == []
        gate.set()
        assert page.until("final")["event"]["text"] == "Hello there."
        last = page.until("translation")
        while last["event"]["segment"] != 1:
            last = page.until("translation")
        assert [line["text"] for line in last["lines"]][-1] == "General Kenobi."
        started = time.monotonic()
        while page.until("expire")["lines"]:  # the last lines stay for their time
            pass
        assert time.monotonic() - started > 0.3
        page.close()
    finally:
        gate.set()
        command.join(timeout=30)
    assert result == [0]
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"Browser Source: http://127.0.0.1:{port}/" in captured.err


def test_command_with_the_window(
    fake_session: list[FakeSession],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    code = main(
        [
            "subtitles",
            "--source",
            "x.wav",
            "--overlay",
            "--font-size",
            "40",
            "--position",
            "top",
            "--window-pos",
            "10,20",
            "--max-cps",
            "400",
        ]
    )
    assert code == 0
    assert "General Kenobi." in capsys.readouterr().out


# -- the command's errors, as a user sees them ------------------------------------------------

NPC_AI = [sys.executable, "-m", "npc_ai"]


def run(
    *args: str, timeout: float = 300, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*NPC_AI, "subtitles", *args], capture_output=True, text=True, timeout=timeout, env=env
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--source", "/nonexistent/talk.wav"], "no audio file at /nonexistent/talk.wav"),
        (["--source", "x.wav", "--translator", "whisper"], "needs --model base"),
        (["--source", "x.wav", "--model", "tiny.en", "--language", "de"], "only understands"),
        (["--source", "x.wav", "--web", "--text-color", "red"], "not #RRGGBB"),
        (["--source", "x.wav", "--overlay", "--window-pos", "left"], "--window-pos wants X,Y"),
    ],
)
def test_clear_errors_without_a_traceback(args: list[str], message: str) -> None:
    out = run(*args)
    assert out.returncode == 2, out.stderr
    assert message in out.stderr and "Traceback" not in out.stderr


def test_help_lists_the_options() -> None:
    out = run("--help")
    for option in (
        "--source",
        "--model",
        "--translate",
        "--translator",
        "--realtime",
        "--overlay",
        "--web",
        "--srt",
        "--vtt",
        "--max-cps",
        "--font-size",
    ):
        assert option in out.stdout


# -- the real path: espeak-ng speech, the real model, the real command ------------------------

SPOKEN = (
    "The blacksmith mended the old sword. ",
    "The guard opened the northern gate at dawn. ",
    "Bring me three wolf pelts before the winter.",
)


def words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]+", text.lower()))


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The phrases spoken by espeak-ng with a second of silence between them, 16 kHz mono."""
    folder = tmp_path_factory.mktemp("speech")
    parts = []
    for i, phrase in enumerate(SPOKEN):
        raw = folder / f"raw{i}.wav"
        subprocess.run(
            ["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(raw), phrase],
            check=True,
            timeout=60,
        )
        parts.append(str(raw))
    out = folder / "speech.wav"
    pads = []
    for i, part in enumerate(parts):
        padded = folder / f"pad{i}.wav"
        subprocess.run(
            ["sox", part, "-r", "16000", "-c", "1", str(padded), "pad", "0", "1"],
            check=True,
            timeout=60,
        )
        pads.append(str(padded))
    subprocess.run(["sox", *pads, str(out)], check=True, timeout=60)
    return out


@pytest.mark.model
def test_real_speech_to_srt_and_vtt(speech: Path, tmp_path: Path) -> None:
    srt, vtt = tmp_path / "speech.srt", tmp_path / "speech.vtt"
    out = run("--source", str(speech), "--srt", str(srt), "--vtt", str(vtt), "--translate", "es")
    assert out.returncode == 0, out.stderr
    cues = parse_srt(srt.read_text(encoding="utf-8"))
    assert len(cues) >= 2
    assert [c[2] for c in parse_vtt(vtt.read_text(encoding="utf-8"))] == [c[2] for c in cues]
    heard = words(" ".join(c[2] for c in cues))
    expected = words(" ".join(SPOKEN))
    assert len(heard & expected) >= 0.7 * len(expected), (heard, expected)
    assert {"sword", "gate", "winter"} <= heard
    assert words(out.stdout) >= {"sword", "gate", "winter"}  # finals printed as they came
    spanish = parse_srt((tmp_path / "speech.es.srt").read_text(encoding="utf-8"))
    assert len(spanish) >= 2
    assert len(words(" ".join(c[2] for c in spanish)) & {"espada", "puerta", "invierno"}) >= 2
    # cue times stay inside the audio (3 phrases ~ 2.5 s each plus 3 s of pauses)
    last_end = cues[-1][1]
    assert last_end < "00:00:15,000"


@pytest.mark.model
def test_ctrl_c_ends_cleanly_and_leaves_valid_files(speech: Path, tmp_path: Path) -> None:
    srt, vtt = tmp_path / "cut.srt", tmp_path / "cut.vtt"
    proc = subprocess.Popen(
        [
            *NPC_AI,
            "subtitles",
            "--source",
            str(speech),
            "--realtime",
            "--srt",
            str(srt),
            "--vtt",
            str(vtt),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()  # the first final: the command is well under way
    assert "sword" in first.lower(), first
    proc.send_signal(signal.SIGINT)
    rest, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    cues = parse_srt(srt.read_text(encoding="utf-8"))
    assert cues and "sword" in cues[0][2].lower()
    assert [c[2] for c in parse_vtt(vtt.read_text(encoding="utf-8"))] == [c[2] for c in cues]
    # it stopped early: not every phrase was heard
    assert "winter" not in (first + rest).lower()


def test_a_long_partial_keeps_its_end_within_the_terminal_width(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "30")
    out = Tty()
    text = "one two three four five six seven eight nine ten"
    TerminalPrinter(out, live=True)(cap(0, text))
    shown = out.getvalue().removeprefix("\r\x1b[K\x1b[2m").removesuffix("\x1b[0m")
    assert shown == "…" + text[-28:] and len(shown) == 29


@pytest.mark.model
def test_real_speech_on_the_page_and_in_the_window(speech: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "SDL_VIDEODRIVER": "dummy"}
    proc = subprocess.Popen(
        [
            *NPC_AI,
            "subtitles",
            "--source",
            str(speech),
            "--realtime",
            "--overlay",
            "--web",
            str(port),
            "--translate",
            "es",
            "--quiet",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                page = SseReader(port)
                break
            except OSError:
                assert proc.poll() is None, proc.communicate()[1]
                assert time.monotonic() < deadline, "the page never came up"
                time.sleep(0.1)
        page.sock.settimeout(120)
        messages = []
        while line := page.file.readline():  # until the command ends and closes the stream
            if line.startswith(b"data: "):
                messages.append(json.loads(line[6:]))
        page.close()
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    finals = [m["event"]["text"] for m in messages if m["kind"] == "final"]
    assert {"sword", "gate", "winter"} <= words(" ".join(finals))
    spanish = [m["event"]["text"] for m in messages if m["kind"] == "translation"]
    assert len(spanish) == len([f for f in finals if f.strip()]) and all(spanish)
    assert messages[-1]["kind"] == "expire" and messages[-1]["lines"] == []  # shown, then gone


def test_the_output_library_needs_neither_the_bridge_nor_pygame() -> None:
    """pump and the sinks live in npc_ai.subtitles.output, which the bridge server and the
    command share; importing it loads no bridge module, no pygame and no speech stack."""
    code = (
        "import sys, npc_ai.subtitles.output\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('bridge', 'pygame', 'faster_whisper', 'ctranslate2')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_translation_files_sit_next_to_the_original(tmp_path: Path) -> None:
    from npc_ai.subtitles.output import SubtitleFile, translation_path

    path = tmp_path / "talk.srt"
    assert translation_path(path, "es") == tmp_path / "talk.es.srt"
    spanish = SubtitleFile(translation_path(path, "es"), "srt", max_cps=17.0, language="es")
    try:
        spanish(cap(0, "Hello.", final=True))  # not a Spanish translation: left out
        spanish(tr(0, "es", "Hola.", 0.5, 1.5))
    finally:
        spanish.close()
    assert "Hola." in (tmp_path / "talk.es.srt").read_text(encoding="utf-8")
    assert "Hello." not in (tmp_path / "talk.es.srt").read_text(encoding="utf-8")
