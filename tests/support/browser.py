"""A page opened in headless Chromium, driven over the DevTools protocol on a pipe (no websocket
library): whether every image loaded, the console's errors, a screenshot.

    python -m tests.support.browser PAGE.html SCREENSHOT.png [WIDTH]

writes the screenshot of the whole page (the docs' images are made so) and prints what ``open_page`` found.
"""
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional

# Debian's package names its binary chromium; other systems' builds, chromium-browser.
BROWSERS = ("chromium", "chromium-browser")
TIMEOUT_S = 60

# Every <img> complete and decoded (naturalWidth > 0 fails for a missing or broken file).
IMAGES_LOADED = "Array.from(document.images).map(i => [i.getAttribute('src'), i.complete && i.naturalWidth > 0])"


def find_browser() -> Optional[str]:
    return next((path for path in map(shutil.which, BROWSERS) if path), None)


@dataclass
class PageCheck:
    images: List[list] = field(default_factory=list)  # [src, loaded] per <img>
    console_errors: List[str] = field(default_factory=list)
    screenshot: bytes = b""


class _DevTools:
    """Chromium's ``--remote-debugging-pipe``: it reads commands on fd 3 and writes replies and
    events on fd 4, each a JSON message ended by a NUL byte."""

    def __init__(self, browser: str, profile: str):
        to_browser, self._commands = os.pipe()
        self._replies, from_browser = os.pipe()

        def onto_fds_3_and_4():
            os.dup2(to_browser, 3)
            os.dup2(from_browser, 4)

        self.process = subprocess.Popen(
            [browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe", "--disable-dev-shm-usage",
             "--no-first-run", "--no-default-browser-check", f"--user-data-dir={profile}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            pass_fds=(3, 4), preexec_fn=onto_fds_3_and_4,
        )
        os.close(to_browser)
        os.close(from_browser)
        self._buffer = b""
        self._next_id = 0
        self.events: List[dict] = []

    def _message(self) -> dict:
        while b"\0" not in self._buffer:
            chunk = os.read(self._replies, 1 << 16)
            if not chunk:
                raise RuntimeError("the browser closed its DevTools pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def send(self, method: str, session: Optional[str] = None, **params) -> dict:
        """The result of one command; the events that arrive meanwhile are kept in ``events``."""
        self._next_id += 1
        command = {"id": self._next_id, "method": method, "params": params}
        if session:
            command["sessionId"] = session
        os.write(self._commands, json.dumps(command).encode() + b"\0")
        while True:
            message = self._message()
            if message.get("id") == self._next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]
            self.events.append(message)

    def wait_for(self, method: str) -> dict:
        while True:
            found = next((e for e in self.events if e.get("method") == method), None)
            if found:
                return found
            self.events.append(self._message())

    def close(self):
        try:
            self.send("Browser.close")
        except (RuntimeError, OSError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._commands)
        os.close(self._replies)


def console_errors(events: List[dict]) -> List[str]:
    """The errors among DevTools events: console.error calls, uncaught exceptions, and the
    browser's own log entries of level error (a resource that failed to load, for one)."""
    errors = []
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
            errors.append(" ".join(str(a.get("value", a.get("description", ""))) for a in params["args"]))
        elif method == "Runtime.exceptionThrown":
            errors.append(params["exceptionDetails"].get("exception", {}).get("description", params["exceptionDetails"]["text"]))
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            errors.append(f"{params['entry']['text']} ({params['entry'].get('url', '')})")
    return errors


def open_page(page: Path, width: int = 1280) -> PageCheck:
    """Opens ``page`` (a file) in headless Chromium ``width`` pixels wide, waits for its load
    event, and returns its images' state, its console errors and a screenshot of the whole page."""
    browser = find_browser()
    if browser is None:
        raise FileNotFoundError(f"no Chromium on PATH (tried {BROWSERS}): `make test-browser` installs Debian's")
    with tempfile.TemporaryDirectory() as profile:
        devtools = _DevTools(browser, profile)
        try:
            target = devtools.send("Target.createTarget", url="about:blank")["targetId"]
            session = devtools.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
            for domain in ("Page", "Runtime", "Log"):
                devtools.send(f"{domain}.enable", session)
            devtools.send("Emulation.setDeviceMetricsOverride", session, width=width, height=800,
                          deviceScaleFactor=1, mobile=False)
            devtools.send("Page.navigate", session, url=page.resolve().as_uri())
            devtools.wait_for("Page.loadEventFired")
            images = devtools.send("Runtime.evaluate", session, expression=IMAGES_LOADED, returnByValue=True)
            height = devtools.send("Runtime.evaluate", session, expression="document.documentElement.scrollHeight",
                                   returnByValue=True)["result"]["value"]
            shot = devtools.send("Page.captureScreenshot", session, format="png", captureBeyondViewport=True,
                                 clip={"x": 0, "y": 0, "width": width, "height": height, "scale": 1})
            return PageCheck(images=images["result"]["value"], console_errors=console_errors(devtools.events),
                             screenshot=base64.b64decode(shot["data"]))
        finally:
            devtools.close()


if __name__ == "__main__":
    check = open_page(Path(sys.argv[1]), *(int(a) for a in sys.argv[3:4]))
    Path(sys.argv[2]).write_bytes(check.screenshot)
    print(f"images: {check.images}\nconsole errors: {check.console_errors}")
