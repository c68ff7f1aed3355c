"""Headless Chromium (Debian's ``chromium``) driven over the DevTools protocol.

One browser per ``HeadlessChromium``: its own temporary profile, DevTools on a
port Chromium picks itself on 127.0.0.1 (read back from ``DevToolsActivePort``),
its own process group.  ``stop()`` ends that process group -- the browser we
started and its helpers -- and nothing else.

Every wait is bounded; conditions are polled, never assumed after a sleep.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import websocket  # websocket-client


class ChromiumError(AssertionError):
    pass


def chromium_binary() -> str:
    for name in (os.environ.get("CHROMIUM_BIN"), "chromium", "chromium-browser"):
        if name and shutil.which(name):
            return shutil.which(name)
    raise ChromiumError("chromium is not installed (Debian package `chromium`; `make deps` installs it)")


class HeadlessChromium:
    def __init__(self, workdir: Path):
        self.profile = workdir / "chromium-profile"
        self.log_file = workdir / "chromium.log"
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None

    def start(self, timeout: float = 60) -> None:
        self.profile.mkdir(parents=True, exist_ok=True)
        args = [
            chromium_binary(), "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--no-first-run", "--no-default-browser-check", "--disable-extensions", "--disable-sync",
            "--disable-background-networking", "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
            f"--user-data-dir={self.profile}", "about:blank",
        ]
        with open(self.log_file, "wb") as log:
            self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        active = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ChromiumError(f"chromium exited with {self.proc.returncode}: {self.log_tail()}")
            try:
                first = active.read_text().splitlines()[0]
                self.port = int(first)
                return
            except (OSError, IndexError, ValueError):
                time.sleep(0.1)
        self.stop()
        raise ChromiumError(f"chromium did not open its DevTools port within {timeout:.0f}s: {self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "<no log>"

    def open_page(self, url: str, timeout: float = 30) -> "Page":
        """The browser's first tab, navigated to ``url``."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/json/list", timeout=10) as resp:
            targets = json.loads(resp.read())
        pages = [t for t in targets if t.get("type") == "page"]
        if not pages:
            raise ChromiumError(f"no page target in {targets!r}")
        page = Page(pages[0]["webSocketDebuggerUrl"])
        page.call("Page.enable")
        page.call("Runtime.enable")
        page.call("Page.navigate", url=url)
        page.wait_for("document.readyState === 'complete' && location.href !== 'about:blank'",
                      "the page to load", timeout=timeout)
        return page

    def stop(self) -> None:
        """Ends the process group of the browser this object started (TERM, then KILL)."""
        if self.proc is None:
            return
        pgid = self.proc.pid  # start_new_session: the group is ours alone
        for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                break
            try:
                self.proc.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
        # Helpers (renderer, zygote) of our group may outlive the browser by a moment.
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc = None


class Page:
    """One DevTools session with a page: commands, script evaluation, typing."""

    def __init__(self, ws_url: str):
        # No Origin header: Chromium refuses DevTools WebSockets from unknown origins.
        self.ws = websocket.create_connection(ws_url, timeout=10, suppress_origin=True)
        self.next_id = 0

    def close(self) -> None:
        self.ws.close()

    def call(self, method: str, timeout: float = 30, **params: Any) -> dict:
        self.next_id += 1
        ident = self.next_id
        self.ws.send(json.dumps({"id": ident, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.ws.settimeout(max(0.1, deadline - time.monotonic()))
            message = json.loads(self.ws.recv())
            if message.get("id") != ident:
                continue  # an event
            if "error" in message:
                raise ChromiumError(f"{method} failed: {message['error']}")
            return message.get("result", {})
        raise ChromiumError(f"no answer to {method} within {timeout:.0f}s")

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise ChromiumError(f"{expression!r} threw: {result['exceptionDetails']}")
        return result.get("result", {}).get("value")

    def wait_for(self, expression: str, what: str, timeout: float = 60, interval: float = 0.2) -> Any:
        """Evaluates ``expression`` until it is truthy; fails with its last value."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while True:
            last = self.evaluate(expression)
            if last:
                return last
            if time.monotonic() > deadline:
                raise ChromiumError(f"timed out after {timeout:.0f}s waiting for {what}; last value: {last!r}")
            time.sleep(interval)

    def type(self, text: str) -> None:
        """Key presses as a user makes them (``\\r`` is the Enter key)."""
        for char in text:
            if char == "\r":
                key = {"key": "Enter", "code": "Enter", "windowsVirtualKeyCode": 13, "nativeVirtualKeyCode": 13}
            else:
                key = {"key": char}
            self.call("Input.dispatchKeyEvent", type="keyDown", text=char, unmodifiedText=char, **key)
            self.call("Input.dispatchKeyEvent", type="keyUp", **key)
