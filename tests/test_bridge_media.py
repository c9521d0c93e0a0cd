"""Translation and live subtitles through the bridge, over fakes (scripted recogniser,
energy VAD, an upper-casing translator)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest

from bridge.client import Client
from bridge.errors import RemoteError
from bridge.media import event_message
from bridge.protocol import Notification, encode
from npc_ai.errors import InputError
from npc_ai.subtitles.live import LiveSubtitles, SubtitleOptions
from npc_ai.subtitles.speech.audio import PushSource
from npc_ai.subtitles.speech.events import Caption, CaptionTranslation, SubtitleError, Word
from npc_ai.subtitles.speech.fake import EnergyVad, ScriptedRecognizer, scripted_stream
from npc_ai.subtitles.speech.streaming import StreamingTranscriber
from tests.test_bridge_protocol import GOLDEN
from tests.test_bridge_server import serving

LINES = ["the smith is at the forge", "come back at dusk"]


def script(text: str, start: float) -> list[Word]:
    return [
        Word(text=w, start=round(start + 0.45 * i, 3), end=round(start + 0.45 * i + 0.35, 3))
        for i, w in enumerate(text.split())
    ]


def speech() -> tuple[np.ndarray, list[Word]]:
    """Scripted speech as the server will decode it from int16 PCM (so the scripted
    recogniser finds every buffer it is given in it)."""
    first = script(LINES[0], 0.3)
    second = script(LINES[1], first[-1].end + 1.0)
    words = [*first, *second]
    audio = scripted_stream(words, second[-1].end + 1.0)
    samples = np.clip(np.round(audio * 32768), -32768, 32767).astype("<i2")
    return samples.astype(np.float32) / 32768.0, words


class Upper:
    """A translator fake: knows en->es and en->de, upper-cases."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str]] = []

    def translate(self, text: str, source: str, target: str) -> str:
        self.calls.append((text, source, target))
        if (source, target) not in (("en", "es"), ("en", "de")):
            raise InputError(f"no {source}->{target} here", source=source, target=target)
        return f"{target}:{text.upper()}"

    def pairs(self) -> frozenset[tuple[str, str]]:
        return frozenset()

    def close(self) -> None:
        pass


def factory(audio: np.ndarray, words: list[Word], translator: Upper) -> Any:
    def make(source: PushSource, language: str | None, targets: tuple[str, ...]) -> LiveSubtitles:
        transcriber = StreamingTranscriber(
            ScriptedRecognizer(stream=audio, words=words), EnergyVad()
        )
        return LiveSubtitles(
            source,
            options=SubtitleOptions(targets=targets, language=language),
            transcriber=transcriber,
            translator=translator,
        )

    return make


def pcm(audio: np.ndarray) -> bytes:
    return np.round(audio * 32768).astype("<i2").tobytes()


def test_translate_text() -> None:
    translator = Upper()
    with serving(translator=translator) as srv, srv.client() as c:
        assert c.call("translate.text", text="Hello", source="en", target="es") == {
            "text": "es:HELLO"
        }
        with pytest.raises(RemoteError) as info:
            c.call("translate.text", text="Hello", source="en", target="xx")
        assert info.value.remote_code == 1300  # the translator's own error, passed on
        with pytest.raises(RemoteError) as info:
            c.call("translate.text", text="Hello", source="en")
        assert info.value.remote_code == 2005
        described = {m["name"]: m for m in c.call("rpc.describe")["methods"]}
        assert described["translate.text"]["available"] is True
        assert described["subtitle.start"]["available"] is False


def test_translate_text_with_the_identity_translator() -> None:
    from npc_ai.translation import IdentityTranslator

    translator = IdentityTranslator([("en", "es")], tag=True)
    with serving(translator=translator) as srv, srv.client() as c:
        result = c.call("translate.text", text="Hello", source="en", target="es")
        assert result == {"text": "[es] Hello"}
        with pytest.raises(RemoteError) as info:
            c.call("translate.text", text="Hello", source="en", target="fr")
        assert info.value.remote_code == 1701  # MissingLanguagePairError, passed on
        assert info.value.remote_data["installed"] == ["en->es"]


def test_subtitles_partials_finals_translations_in_order() -> None:
    audio, words = speech()
    translator = Upper()
    notes: list[tuple[str, dict[str, Any]]] = []
    subtitles = factory(audio, words, translator)
    with serving(translator=translator, subtitles=subtitles) as srv:  # noqa: SIM117
        with srv.client(on_notification=lambda m, p: notes.append((m, p))) as c:
            started = c.call("subtitle.start", language="en", translate=["es"])
            assert started["sample_rate"] == 16000
            session = started["session"]
            data = pcm(audio)
            for i in range(0, len(data), 3200):  # 100 ms chunks; every 2nd as a notification
                if (i // 3200) % 2:
                    c.notify("subtitle.push", session=session, pcm=data[i : i + 3200])
                else:
                    c.call("subtitle.push", session=session, pcm=data[i : i + 3200])
            assert c.call("subtitle.stop", session=session) == {}
            # The answer comes after the session's last captions.
            finals = [p for m, p in notes if m == "subtitle.final"]
            translations = [p for m, p in notes if m == "subtitle.translation"]
            assert [f["text"] for f in finals] == LINES
            assert [(t["segment"], t["text"]) for t in translations] == [
                (0, "es:" + LINES[0].upper()),
                (1, "es:" + LINES[1].upper()),
            ]
            assert all(p["session"] == session for _, p in notes)
            partials = [p for m, p in notes if m == "subtitle.partial"]
            assert partials and all(isinstance(p["start"], float) for p in partials)
            assert finals[0]["words"][0]["text"] == "the"
            methods = [m for m, _ in notes]
            for seg in (0, 1):  # within a segment, the final comes after its partials
                caps = [
                    i
                    for i, (m, p) in enumerate(notes)
                    if m in ("subtitle.partial", "subtitle.final") and p["segment"] == seg
                ]
                assert methods[caps[-1]] == "subtitle.final"
            with pytest.raises(RemoteError) as info:
                c.call("subtitle.push", session=session, pcm=b"\0\0")
            assert info.value.remote_code == 1300  # the session is gone


def test_subtitle_errors() -> None:
    audio, words = speech()
    translator = Upper()
    with serving(subtitles=factory(audio, words, translator)) as srv, srv.client() as c:
        with pytest.raises(RemoteError) as info:
            c.call("subtitle.start", translate=["es"])  # no translator on this server
        assert info.value.remote_code == 2011
        session = c.call("subtitle.start")["session"]
        with pytest.raises(RemoteError) as info:
            c.call("subtitle.push", session=session, pcm=b"\0\0\0")
        assert info.value.remote_code == 1603  # odd byte count
        with pytest.raises(RemoteError) as info:
            c.call("subtitle.push", session=session + 100, pcm=b"\0\0")
        assert info.value.remote_code == 1300
        c.call("subtitle.stop", session=session)


def test_disconnect_ends_caption_sessions() -> None:
    audio, words = speech()
    sessions: list[LiveSubtitles] = []
    inner = factory(audio, words, Upper())

    def make(source: PushSource, language: str | None, targets: tuple[str, ...]) -> LiveSubtitles:
        sessions.append(inner(source, language, targets))
        return sessions[-1]

    with serving(subtitles=make) as srv:
        c = Client.connect(port=srv.port, token="test-token")
        session = c.call("subtitle.start")["session"]
        c.call("subtitle.push", session=session, pcm=pcm(audio[:16000]))
        c.close()
        deadline = time.monotonic() + 5
        while not sessions[0].done:
            sessions[0].poll()
            assert time.monotonic() < deadline
            time.sleep(0.02)


@pytest.mark.model
def test_real_subtitles_through_npc_ai_serve() -> None:
    import sys
    from pathlib import Path

    from tests.speech_fixtures import have_espeak, speak, word_error_rate

    if not have_espeak():
        pytest.skip("espeak-ng is not installed")
    line = "The gate closes at sunset, so do not be late."
    audio = np.concatenate([np.zeros(8000, np.float32), speak(line), np.zeros(16000, np.float32)])
    data = np.round(np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes()
    notes: list[tuple[str, dict[str, Any]]] = []
    npc_ai = str(Path(sys.executable).with_name("npc-ai"))
    command = [npc_ai, "serve", "--stdio", "--threads", "1"]
    on_note = lambda m, p: notes.append((m, p))  # noqa: E731
    with Client.spawn(command, timeout=120, on_notification=on_note) as c:
        session = c.call("subtitle.start", language="en")["session"]
        for i in range(0, len(data), 6400):  # 200 ms chunks, as fast as they go
            c.notify("subtitle.push", session=session, pcm=data[i : i + 6400])
        c.call("subtitle.stop", session=session)
    finals = " ".join(p["text"] for m, p in notes if m == "subtitle.final")
    assert not [p for m, p in notes if m == "subtitle.error"]
    assert word_error_rate(line, finals) < 0.3, finals


@pytest.mark.model
def test_real_translation_through_npc_ai_serve() -> None:
    import shutil
    import sys
    from pathlib import Path

    if shutil.which("apertium") is None:
        pytest.skip("apertium is not installed")
    npc_ai = str(Path(sys.executable).with_name("npc-ai"))
    command = [npc_ai, "serve", "--stdio", "--translator", "apertium", "--no-subtitles"]
    with Client.spawn(command, timeout=120) as c:
        text = c.call("translate.text", text="The forge is hot.", source="en", target="es")
        assert "forja" in text["text"].lower() or "caliente" in text["text"].lower(), text


def test_event_messages_keep_the_wire_format() -> None:
    """The bridge's subtitle notifications, from the events' own to_dict(): the golden
    ``subtitle.final`` bytes, and the translation and error maps."""
    golden = next(v for v in GOLDEN["messages"] if v["name"] == "subtitle_final_notification")
    final = Caption(
        segment=3,
        revision=2,
        final=True,
        text="Hello there.",
        start=1.25,
        end=2.5,
        words=(Word(text="Hello", start=1.25, end=1.6, probability=0.98),),
    )
    assert encode(Notification(*event_message(1, final))) == bytes.fromhex(golden["payload"])
    partial = Caption(segment=3, revision=0, final=False, text="Hel", start=1, end=2)
    method, params = event_message(1, partial)
    assert method == "subtitle.partial" and "final" not in params
    assert event_message(
        2, CaptionTranslation(segment=3, target="es", text="Hola.", start=1.25, end=2.5)
    ) == (
        "subtitle.translation",
        {"session": 2, "segment": 3, "target": "es", "text": "Hola.", "start": 1.25, "end": 2.5},
    )
    lost = InputError("microphone lost")
    assert event_message(2, SubtitleError(error=lost, fatal=True)) == (
        "subtitle.error",
        {"session": 2, "error": lost.to_dict(), "fatal": True},
    )
