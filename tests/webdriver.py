"""Headless Chromium for tests and benchmarks, driven by Debian's chromedriver over WebDriver.

WebDriver is an HTTP/JSON protocol (W3C WebDriver); the handful of commands the caption page
tests need (open a page, run a script, open a tab, take a screenshot, send one DevTools
command) are a few lines over ``urllib``. Speaking it directly keeps the test free of a client
package, and of any client's habit of fetching a browser or driver: the browser and driver
used are exactly ``/usr/bin/chromium`` and ``/usr/bin/chromedriver`` (``./dev setup`` installs
them: ``apt-get install chromium chromium-driver``). Everything listens on 127.0.0.1.

    with Chromium.start() as browser:
        browser.open("http://127.0.0.1:8765/")
        print(browser.run("return document.title"))
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

CHROMIUM = Path(os.environ.get("NPC_AI_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("NPC_AI_CHROMEDRIVER", "/usr/bin/chromedriver"))

#: Chromium as root, headless, on a closed network: no sandbox (root), no GPU, and none of
#: the background traffic (updates, sync, QUIC probes) it otherwise starts on its own. The
#: backgrounding switches keep a tab that is not in front as live as an OBS Browser Source.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-dev-shm-usage",
    "--disable-background-timer-throttling",
    "--disable-renderer-backgrounding",
    "--disable-backgrounding-occluded-windows",
    "--hide-scrollbars",
    "--mute-audio",
)


def missing() -> str | None:
    """Why no Chromium can be driven here, or None when it can."""
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not (path.is_file() and os.access(path, os.X_OK)):
            return (
                f"{path} is missing: `./dev setup` installs it "
                f"(or `apt-get install chromium chromium-driver`; the Debian package {package})"
            )
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class WebDriverError(RuntimeError):
    """chromedriver answered with an error."""


class Chromium:
    """One chromedriver process and one browser session (a fresh profile, removed on close)."""

    def __init__(self, driver: subprocess.Popen[bytes], port: int, profile: Path) -> None:
        self._driver = driver
        self._base = f"http://127.0.0.1:{port}"
        self._profile = profile
        self.session = ""
        #: The browser's version, as the driver reports it.
        self.version = ""

    @classmethod
    def start(cls, *, width: int = 1280, height: int = 720, timeout: float = 30.0) -> Chromium:
        reason = missing()
        if reason:
            raise FileNotFoundError(reason)
        port = _free_port()
        profile = Path(tempfile.mkdtemp(prefix="npc-ai-chromium-"))
        driver = subprocess.Popen(
            [str(CHROMEDRIVER), f"--port={port}", "--allowed-ips=127.0.0.1"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self = cls(driver, port, profile)
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    if self._call("GET", "/status")["ready"]:
                        break
                except (OSError, WebDriverError):
                    pass
                if time.monotonic() > deadline or driver.poll() is not None:
                    raise WebDriverError("chromedriver did not start")
                time.sleep(0.05)
            options = {
                "binary": str(CHROMIUM),
                "args": [*FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}"],
            }
            caps = {"browserName": "chrome", "goog:chromeOptions": options}
            answer = self._call("POST", "/session", {"capabilities": {"alwaysMatch": caps}})
            self.session = answer["sessionId"]
            self.version = str(answer["capabilities"].get("browserVersion", "?"))
        except BaseException:
            self.close()
            raise
        return self

    # -- the protocol ---------------------------------------------------------------------

    def _call(self, method: str, path: str, body: Any = None, timeout: float = 60.0) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self._base + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                answer = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            answer = json.loads(exc.read() or b"{}")
            value = answer.get("value") or {}
            raise WebDriverError(
                f"{method} {path}: {value.get('error')}: {value.get('message', '')[:400]}"
            ) from None
        return answer.get("value")

    def command(self, method: str, path: str, body: Any = None) -> Any:
        """A command of this session (``path`` after ``/session/<id>``)."""
        return self._call(method, f"/session/{self.session}{path}", body)

    # -- what the tests use ---------------------------------------------------------------

    def open(self, url: str) -> None:
        """Load ``url`` in the current tab (returns once the page has loaded)."""
        self.command("POST", "/url", {"url": url})

    def run(self, script: str, *args: Any) -> Any:
        """Run ``script`` (a function body: ``return`` gives the result) in the current tab."""
        return self.command("POST", "/execute/sync", {"script": script, "args": list(args)})

    def new_tab(self) -> str:
        """Open an empty tab and switch to it; its handle."""
        handle = str(self.command("POST", "/window/new", {"type": "tab"})["handle"])
        self.switch(handle)
        return handle

    def current_tab(self) -> str:
        """The current tab's handle."""
        return str(self.command("GET", "/window"))

    def switch(self, handle: str) -> None:
        """Make the tab ``handle`` current."""
        self.command("POST", "/window", {"handle": handle})

    def cdp(self, cmd: str, params: dict[str, Any] | None = None) -> Any:
        """One Chrome DevTools Protocol command on the current tab (chromedriver's
        ``goog/cdp/execute``)."""
        return self.command("POST", "/goog/cdp/execute", {"cmd": cmd, "params": params or {}})

    def screenshot(self) -> bytes:
        """The current tab's viewport as PNG bytes."""
        return base64.b64decode(self.command("GET", "/screenshot"))

    def wait_for(self, script: str, *args: Any, timeout: float = 10.0) -> Any:
        """Poll ``script`` until it returns something truthy; that value."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.run(script, *args)
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out waiting for: {script}")
            time.sleep(0.02)

    def close(self) -> None:
        """End the session, the browser and the driver; remove the profile."""
        try:
            if self.session:
                self._call("DELETE", f"/session/{self.session}", timeout=15)
        except (OSError, WebDriverError):
            pass
        finally:
            self.session = ""
            if self._driver.poll() is None:
                self._driver.terminate()
                try:
                    self._driver.wait(10)
                except subprocess.TimeoutExpired:
                    self._driver.kill()
                    self._driver.wait()
            shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- the caption page ---------------------------------------------------------------------

#: Installed in a caption page: every change to the board's lines is recorded with the
#: wall-clock time it happened, in milliseconds (``performance.timeOrigin + now()``, the same
#: clock as the server's ``time.time()``), as ``[time, [[class, lang, text], ...]]``.
BOARD_PROBE = """
window.__seen = [];
const board = document.getElementById("board");
const record = () => window.__seen.push([performance.timeOrigin + performance.now(),
  Array.from(board.children, (d) => [d.className, d.lang, d.textContent])]);
new MutationObserver(record).observe(board, { childList: true, characterData: true,
  subtree: true });
record();
"""

#: True once the page has drawn its first message (the snapshot: its stream is open).
STREAM_OPEN = "return typeof messages !== 'undefined' && messages > 0"


def first_seen(
    seen: list[list[Any]], kind: str, text: str, after: float = 0.0
) -> tuple[float, list[list[str]]] | None:
    """The first recorded board (time, lines) at or after ``after`` with a ``kind`` line
    reading ``text``."""
    for when, lines in seen:
        if when >= after and any(k == kind and t == text for k, _, t in lines):
            return float(when), lines
    return None
