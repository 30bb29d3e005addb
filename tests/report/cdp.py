"""A minimal Chrome DevTools Protocol driver for headless Debian chromium (tests only).

Starts ``chromium --headless --remote-debugging-port=0`` with a throw-away profile and every
background download switched off, reads the port from ``DevToolsActivePort``, and speaks CDP
over the browser's websocket (loopback only) with flattened target sessions.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection, connect

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-features=Translate,MediaRouter,OptimizationHints",
    "--metrics-recording-only",
    "--mute-audio",
    "--hide-scrollbars",
    "--window-size=1400,1000",
)


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


class CDPError(RuntimeError):
    pass


class Browser:
    """One headless browser; ``page()`` opens a tab with a CDP session."""

    def __init__(self, binary: str, timeout: float = 60.0):
        self.profile = Path(tempfile.mkdtemp(prefix="pgolf-chromium-"))
        self.proc = subprocess.Popen(
            [binary, *FLAGS, f"--user-data-dir={self.profile}", "--remote-debugging-port=0", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env={**os.environ, "HOME": str(self.profile)},
        )
        port_file = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + timeout
        while not port_file.exists() or len(port_file.read_text().splitlines()) < 2:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                raise CDPError(f"chromium exited with {self.proc.returncode}: {err[-2000:]}")
            if time.monotonic() > deadline:
                self.close()
                raise CDPError("chromium did not open its DevTools port in time")
            time.sleep(0.1)
        port, path = port_file.read_text().splitlines()[:2]
        # used as a context manager (entered here, exited in close()), as websockets asks
        self.ws: ClientConnection = connect(
            f"ws://127.0.0.1:{port}{path}", max_size=None, open_timeout=timeout
        ).__enter__()
        self._id = 0
        self.events: list[dict[str, Any]] = []

    # ------------------------------------------------------------------ protocol
    def send(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        session: str | None = None,
        timeout: float = 60.0,
    ) -> dict[str, Any]:
        self._id += 1
        msg: dict[str, Any] = {"id": self._id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        self.ws.send(json.dumps(msg))
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise CDPError(f"no reply to {method} in {timeout} s")
            reply = json.loads(self.ws.recv(timeout=left))
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise CDPError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            if "method" in reply:
                self.events.append(reply)

    def wait_event(self, method: str, session: str | None, timeout: float = 60.0) -> dict[str, Any]:
        for i, ev in enumerate(self.events):
            if ev["method"] == method and ev.get("sessionId") == session:
                return self.events.pop(i)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise CDPError(f"no {method} event in {timeout} s")
            ev = json.loads(self.ws.recv(timeout=left))
            if ev.get("method") == method and ev.get("sessionId") == session:
                return ev
            if "method" in ev:
                self.events.append(ev)

    def page(self) -> Page:
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        return Page(self, session)

    def close(self) -> None:
        try:
            if hasattr(self, "ws"):
                with contextlib.suppress(Exception):
                    self.send("Browser.close", timeout=5)
                self.ws.__exit__(None, None, None)
        finally:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(5)
            shutil.rmtree(self.profile, ignore_errors=True)


class Page:
    def __init__(self, browser: Browser, session: str):
        self.b = browser
        self.session = session
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.send(f"{domain}.enable")
        self.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": 1400, "height": 1000, "deviceScaleFactor": 1, "mobile": False},
        )

    def send(
        self, method: str, params: dict[str, Any] | None = None, timeout: float = 60.0
    ) -> dict[str, Any]:
        return self.b.send(method, params, self.session, timeout)

    def goto(self, url: str, timeout: float = 60.0) -> None:
        self.send("Page.navigate", {"url": url})
        self.b.wait_event("Page.loadEventFired", self.session, timeout)

    def eval(self, expression: str) -> Any:
        res = self.send(
            "Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True}
        )
        if "exceptionDetails" in res:
            raise CDPError(f"page threw: {res['exceptionDetails']}")
        return res["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 30.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.eval(expression)
            if value:
                return value
            time.sleep(0.1)
        raise CDPError(f"timed out waiting for {expression}")

    def click(self, selector: str) -> None:
        """A real mouse click (pressed and released) at the centre of the element."""
        box = self.eval(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)}); if (!e) return null;"
            " e.scrollIntoView({block: 'center'}); const r = e.getBoundingClientRect();"
            " return [r.left + r.width / 2, r.top + r.height / 2]; })()"
        )
        if not box:
            raise CDPError(f"no element {selector}")
        x, y = box
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.send(
                "Input.dispatchMouseEvent",
                {
                    "type": kind,
                    "x": x,
                    "y": y,
                    "button": "left",
                    "clickCount": 1 if kind != "mouseMoved" else 0,
                },
            )

    def events(self, method: str) -> list[dict[str, Any]]:
        return [e for e in self.b.events if e["method"] == method and e.get("sessionId") == self.session]

    def problems(self) -> list[str]:
        """Console errors/warnings, uncaught exceptions and browser log errors seen so far."""
        out: list[str] = []
        for e in self.events("Runtime.exceptionThrown"):
            out.append("exception: " + json.dumps(e["params"]["exceptionDetails"])[:500])
        for e in self.events("Runtime.consoleAPICalled"):
            if e["params"]["type"] in ("error", "warning", "assert"):
                out.append("console: " + json.dumps(e["params"]["args"])[:500])
        for e in self.events("Log.entryAdded"):
            if e["params"]["entry"]["level"] in ("error", "warning"):
                out.append("log: " + e["params"]["entry"].get("text", "")[:500])
        return out

    def request_urls(self) -> list[str]:
        return [e["params"]["request"]["url"] for e in self.events("Network.requestWillBeSent")]

    def screenshot(self, path: Path) -> Path:
        data = self.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path
