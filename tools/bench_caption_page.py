"""Caption page benchmark: publish-to-DOM delay of the OBS page in headless Chromium.

    .venv/bin/python tools/bench_caption_page.py                    # 1 and 8 pages open
    .venv/bin/python tools/bench_caption_page.py --pages 1,4,16 --interval 0.05
    .venv/bin/python tools/bench_caption_page.py --screenshot docs/img/caption_page.png

A CaptionServer publishes a session's events as they come from live subtitles (partials of
each phrase growing a word at a time, the final, its Spanish translation) every
``--interval`` seconds to ``--pages`` tabs of one headless Chromium (Debian's ``chromium``,
driven by ``chromedriver`` over WebDriver: tests/webdriver.py). A MutationObserver in each
page records when each line first appears in the DOM, on the page's wall clock
(``performance.timeOrigin + performance.now()``), which is compared with the server's
``time.time()`` when it published the event (the two clocks are checked to agree within the
WebDriver round trip). The delay covers the board update, the JSON message, the socket, the
browser's EventSource and the page's redraw of the DOM (not the paint that follows).
Partials a page falls behind on may be dropped by design; they are counted as "dropped".
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from bridge.caption_page import CaptionServer, WebOptions  # noqa: E402
from npc_ai.subtitles.speech.events import Caption, CaptionTranslation, SubtitleEvent  # noqa: E402
from tests.speech_fixtures import PHRASES  # noqa: E402
from tests.webdriver import BOARD_PROBE, STREAM_OPEN, Chromium, first_seen, missing  # noqa: E402

SPANISH = {
    "The blacksmith mended the old sword.": "El herrero reparó la vieja espada.",
}


def session_events(phrases: int) -> list[SubtitleEvent]:
    """What a live session publishes for ``phrases`` phrases, each line's text unique."""
    events: list[SubtitleEvent] = []
    used: set[tuple[str, str]] = set()
    for segment, text in enumerate((PHRASES * (1 + phrases // len(PHRASES)))[:phrases]):
        text = f"{text} ({segment})"  # a phrase repeated later is still a new line
        words = text.split()
        start, end = 3.0 * segment, 3.0 * segment + 2.5
        for revision in range(2, len(words)):
            partial = " ".join(words[:revision])
            if ("partial", partial) in used:
                continue
            used.add(("partial", partial))
            events.append(
                Caption(
                    segment=segment,
                    revision=revision - 2,
                    final=False,
                    text=partial,
                    start=start,
                    end=end,
                )
            )
        events.append(
            Caption(
                segment=segment, revision=len(words), final=True, text=text, start=start, end=end
            )
        )
        events.append(
            CaptionTranslation(
                segment=segment, target="es", text=f"[es] {text}", start=start, end=end
            )
        )
    return events


def line(event: SubtitleEvent) -> tuple[str, str]:
    assert isinstance(event, (Caption, CaptionTranslation))
    return event.kind, event.text


def clock_skew(browser: Chromium) -> float:
    """How far outside [before, after] of a WebDriver call the page's clock read (ms)."""
    worst = 0.0
    for _ in range(5):
        before = time.time() * 1000
        page = float(browser.run("return performance.timeOrigin + performance.now()"))
        after = time.time() * 1000
        worst = max(worst, before - page, page - after)
    return worst


def run(
    browsers: list[Chromium], tabs: int, query: str, events: list[SubtitleEvent], interval: float
) -> dict[str, Any]:
    """``tabs`` pages in each of ``browsers``, each page opened at ``url + query``."""
    with CaptionServer(WebOptions(max_clients=64)) as server:
        pages: list[tuple[Chromium, str]] = []
        for browser in browsers:
            for i in range(tabs):
                pages.append((browser, browser.new_tab() if i else browser.current_tab()))
                browser.open(server.url + query)
                browser.wait_for(STREAM_OPEN)
                browser.run(BOARD_PROBE)
        streams = server.client_count
        skew = max(clock_skew(browser) for browser in browsers)
        time.sleep(0.5)
        stamps = []
        for event in events:
            stamps.append(time.time() * 1000)
            server.publish([event])
            time.sleep(interval)
        time.sleep(1.0)  # the last lines reach every page
        delays: list[float] = []
        dropped = {"partial": 0, "final": 0, "translation": 0}
        for browser, handle in pages:
            browser.switch(handle)
            seen = browser.run("return window.__seen")
            for event, stamp in zip(events, stamps, strict=True):
                kind, text = line(event)
                found = first_seen(seen, kind, text)
                if found is None:
                    dropped[kind] += 1
                else:
                    delays.append(found[0] - stamp)
        for browser in browsers:  # back to one tab each
            handles = [h for b, h in pages if b is browser]
            for handle in handles[1:]:
                browser.switch(handle)
                browser.command("DELETE", "/window")
            browser.switch(handles[0])
    return {
        "pages": len(pages),
        "browsers": len(browsers),
        "streams": streams,
        "events": len(events),
        "p50": float(np.percentile(delays, 50)),
        "p95": float(np.percentile(delays, 95)),
        "max": max(delays),
        "min": min(delays),
        "dropped": dropped,
        "skew_ms": skew,
    }


def screenshot(browser: Chromium, out: Path, width: int, height: int) -> None:
    """The page over a transparent background, as OBS composites it, into ``out``."""
    with CaptionServer(WebOptions()) as server:
        browser.cdp(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )
        browser.cdp(
            "Emulation.setDefaultBackgroundColorOverride",
            {"color": {"r": 0, "g": 0, "b": 0, "a": 0}},
        )
        browser.open(server.url)
        browser.wait_for(STREAM_OPEN)
        final = "The blacksmith mended the old sword."
        server.publish(
            [
                Caption(segment=0, revision=6, final=True, text=final, start=0.5, end=2.6),
                CaptionTranslation(segment=0, target="es", text=SPANISH[final], start=0.5, end=2.6),
                Caption(
                    segment=1, revision=1, final=False, text="Come back at", start=3.4, end=4.2
                ),
            ]
        )
        browser.wait_for("return document.querySelectorAll('#board div').length === 3")
        time.sleep(0.2)  # the frame after the DOM change is painted
        out.write_bytes(browser.screenshot())
    print(f"wrote {out} ({width}x{height}, transparent background)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--pages", default="1,8", help="pages open at once, per run (default 1,8)")
    ap.add_argument("--phrases", type=int, default=16, help="phrases per run (default 16)")
    ap.add_argument("--interval", type=float, default=0.1, help="seconds between events")
    ap.add_argument("--screenshot", type=Path, help="write the page's PNG here and stop")
    ap.add_argument("--size", default="1280x360", help="screenshot size (default 1280x360)")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()
    reason = missing()
    if reason:
        sys.exit(f"bench_caption_page: {reason}")

    if args.screenshot:
        width, height = (int(v) for v in args.size.split("x"))
        with Chromium.start(width=width, height=height) as browser:
            screenshot(browser, args.screenshot, width, height)
        return

    events = session_events(args.phrases)
    results = []
    # (browsers, tabs in each, query): one page; N tabs of one browser (one stream through the
    # pages' SharedWorker); N pages with their own streams, 4 tabs to a browser (a browser
    # holds at most 6 connections to one server).
    layouts: list[tuple[int, int, str]] = []
    for n in (int(p) for p in args.pages.split(",")):
        layouts.append((1, n, ""))
        if n > 1:
            layouts.append((-(-n // 4), min(n, 4), "?shared=0"))
    with contextlib.ExitStack() as stack:
        browsers = [stack.enter_context(Chromium.start())]
        for count, tabs, query in layouts:
            while len(browsers) < count:
                browsers.append(stack.enter_context(Chromium.start()))
            results.append(run(browsers[:count], tabs, query, events, args.interval))
        version = browsers[0].version
    print(
        f"\nChromium {version} headless, {len(events)} events every {args.interval * 1000:.0f} ms "
        f"per run, {os.cpu_count()} CPUs; load average at the end {os.getloadavg()[0]:.1f}\n"
    )
    print(
        "| pages open | browsers | event streams | delay p50 | p95 | max | lines measured "
        "| dropped partials | dropped finals/translations | clocks agree within |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        d = r["dropped"]
        measured = r["events"] * r["pages"] - sum(d.values())
        print(
            f"| {r['pages']} | {r['browsers']} | {r['streams']} | {r['p50']:.1f} ms | "
            f"{r['p95']:.1f} ms | {r['max']:.1f} ms | {measured} | {d['partial']} | "
            f"{d['final'] + d['translation']} | {max(r['skew_ms'], 0):.1f} ms |"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
