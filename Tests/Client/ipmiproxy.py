"""A separate ``ironic-ipmiproxy`` daemon process for the client tests.

It listens on 127.0.0.1 on a port chosen once, so it can be stopped and started
again at the same URL (``[ipmi] console_proxy_urls`` of the server under test).
Only the process this object started is ever signalled, by its PID.
"""
from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from conftest import _server_binary, render_ini


def free_port_below_ephemeral() -> int:
    """A free loopback port below the kernel's ephemeral range, so no later ``bind(0)`` gets it."""
    for _ in range(200):
        port = random.randint(22000, 31999)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    raise RuntimeError("no free port in 22000-31999")


def proxy_binary() -> Path:
    env = os.environ.get("IRONIC_IPMIPROXY_BIN")
    return Path(env) if env else _server_binary().parent / "ironic-ipmiproxy"


class ProxyDaemon:
    def __init__(self, workdir: Path, port: int, token: str):
        self.workdir = workdir
        self.port = port
        self.token = token
        self.url = f"http://127.0.0.1:{port}"
        self.config_file = workdir / "ipmiproxy.conf"
        self.log_file = workdir / "ipmiproxy.log"
        self.proc: subprocess.Popen | None = None
        # Console ports of its own, away from other proxies (which hand out ports from 10000 up),
        # so a restored console can get its old port back.
        base = 15000 + random.randrange(250) * 20
        self.port_range = f"{base}:{base + 19}"

    def start(self, timeout: float = 30) -> None:
        binary = proxy_binary()
        assert binary.is_file() and os.access(binary, os.X_OK), (
            f"{binary} not found: build it with `swift build --product ironic-ipmiproxy`")
        self.config_file.write_text(render_ini({"ipmiproxy": {
            "host_ip": "127.0.0.1", "port": str(self.port), "auth_token": self.token,
            "port_range": self.port_range}}))
        with open(self.log_file, "ab") as log:
            self.proc = subprocess.Popen([str(binary), "serve", "--config-file", str(self.config_file)],
                                         cwd=self.workdir, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"ironic-ipmiproxy exited: {self.log_tail()}"
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=2) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        raise AssertionError(f"ironic-ipmiproxy did not answer /healthz within {timeout:.0f}s: {self.log_tail()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> None:
        """Signals the daemon (its PID only) and waits for it to exit."""
        if self.proc is None or self.proc.poll() is not None:
            return
        os.kill(self.proc.pid, sig)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=timeout)

    def console(self, console_id: str) -> dict[str, Any]:
        request = urllib.request.Request(f"{self.url}/v1/consoles/{console_id}", headers={"X-Auth-Token": self.token})
        with urllib.request.urlopen(request, timeout=10) as resp:
            return json.loads(resp.read())

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "<no log>"


def process_gone(pid: int) -> bool:
    """True once ``pid`` no longer runs (a zombie counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return ") Z " in f.read()
    except OSError:
        return True
