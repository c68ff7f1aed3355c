"""Fixtures for the client-compatibility suite.

These tests drive a real swift-ironic server (API + conductor in one process,
``ironic standalone``) with the unmodified OpenStack clients from PyPI: the
``baremetal`` CLI (python-ironicclient) and openstacksdk.

Environment:
  IRONIC_BIN           server binary (default: <repo>/.build/debug/ironic)
  IRONIC_START_TIMEOUT seconds to wait for ``GET /`` to answer 200 (default 60)
  IRONIC_WAIT_TIMEOUT  seconds any single state change may take (default 120)

Each test module gets its own server with a fresh database, on a free
loopback port, in its own temporary directory.  The server's stdout/stderr go
to ``ironic.log`` in that directory; its tail is attached to every failing
test's report.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = float(os.environ.get("IRONIC_START_TIMEOUT", "60"))
WAIT_TIMEOUT = float(os.environ.get("IRONIC_WAIT_TIMEOUT", "120"))
LOG_TAIL_LINES = 80

# Environment variables that would point the clients at some other cloud.
_CLIENT_ENV_PREFIXES = ("OS_", "OPENSTACK_")


# --------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------

def _free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as e:
        return f"<cannot read {path}: {e}>"
    return "\n".join(text.splitlines()[-lines:])


def _server_binary() -> Path:
    env = os.environ.get("IRONIC_BIN")
    path = Path(env) if env else REPO_ROOT / ".build" / "debug" / "ironic"
    if not path.is_absolute():
        path = REPO_ROOT / path
    return path


class IronicServer:
    """One ``ironic standalone`` process on 127.0.0.1:<free port>."""

    def __init__(self, workdir: Path, options: dict[str, dict[str, str]] | None = None):
        self.workdir = workdir
        # Extra ironic.conf options per section, over the defaults below.
        self.options = options or {}
        self.port = _free_loopback_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.config_file = workdir / "ironic.conf"
        self.db_file = workdir / "ironic.sqlite"
        self.log_file = workdir / "ironic.log"
        self.proc: subprocess.Popen | None = None
        self.pid: int | None = None

    def write_config(self) -> None:
        sections: dict[str, dict[str, str]] = {
            "DEFAULT": {"enabled_hardware_types": "fake-hardware, ipmi"},
            "api": {"host_ip": "127.0.0.1", "port": str(self.port)},
            "database": {"connection": f"sqlite:///{self.db_file}"},
            "conductor": {"heartbeat_interval": "1", "automated_clean": "false"},
            "ipmi": {"min_command_interval": "0.05", "session_timeout": "2"},
            # The all-in-one's own console proxy on a free port (0), beside other servers.
            "ipmiproxy": {"port": "0"},
            # Boot files in the work directory; no boot file server unless a test asks.
            "deploy": {"http_root": str(self.config_file.parent / "httpboot"), "http_server_host": ""},
        }
        for section, values in self.options.items():
            # "{api_port}" in a value stands for this server's API port.
            sections.setdefault(section, {}).update(
                {key: value.replace("{api_port}", str(self.port)) for key, value in values.items()})
        self.config_file.write_text(render_ini(sections))

    def start(self) -> None:
        binary = _server_binary()
        if not (binary.is_file() and os.access(binary, os.X_OK)):
            pytest.fail(f"ironic server binary not found or not executable: {binary} "
                        "(build it with `swift build`, or set IRONIC_BIN)", pytrace=False)
        self.write_config()
        log = open(self.log_file, "wb")
        try:
            self.proc = subprocess.Popen(
                [str(binary), "standalone", "--config-file", str(self.config_file)],
                cwd=self.workdir, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True)
        finally:
            log.close()
        self.pid = self.proc.pid
        self._wait_until_up()

    def _wait_until_up(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        last = "no attempt yet"
        while time.monotonic() < deadline:
            rc = self.proc.poll()
            if rc is not None:
                pytest.fail(f"ironic server (pid {self.pid}) exited with status {rc} "
                            f"before answering GET / (log: {self.log_file})", pytrace=False)
            try:
                with urllib.request.urlopen(self.endpoint + "/", timeout=2) as resp:
                    if resp.status == 200:
                        return
                    last = f"HTTP {resp.status}"
            except urllib.error.HTTPError as e:
                last = f"HTTP {e.code}"
            except (urllib.error.URLError, OSError) as e:
                last = repr(e)
            time.sleep(0.2)
        self.stop()
        pytest.fail(f"ironic server did not answer 200 on GET {self.endpoint}/ within "
                    f"{START_TIMEOUT:.0f}s (last: {last}; log: {self.log_file})", pytrace=False)

    def stop(self) -> None:
        """Stop the process we started -- that PID only."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=15)

    def log_tail(self) -> str:
        return _tail(self.log_file)

    # Raw HTTP, for cross-checking what the clients show.
    def get_json(self, path: str, version: str | None = None) -> Any:
        req = urllib.request.Request(self.endpoint + path, headers={"Accept": "application/json"})
        if version:
            req.add_header("X-OpenStack-Ironic-API-Version", version)
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())


def render_ini(sections: dict[str, dict[str, str]]) -> str:
    """An ironic.conf-style file from {section: {key: value}}."""
    return "\n".join(f"[{name}]\n" + "".join(f"{k} = {v}\n" for k, v in values.items())
                     for name, values in sections.items())


@pytest.fixture(scope="module")
def ironic_server(request, tmp_path_factory):
    server = IronicServer(tmp_path_factory.mktemp("ironic"),
                          options=getattr(request.module, "IRONIC_OPTIONS", None))
    request.node.stash[_SERVER_KEY] = server
    try:
        server.start()
        yield server
    finally:
        server.stop()


_SERVER_KEY = pytest.StashKey[IronicServer]()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    # Attach the server log to failures.
    if report.failed:
        module = item.getparent(pytest.Module)
        server = module.stash.get(_SERVER_KEY, None) if module else None
        if server is not None:
            report.sections.append(
                (f"ironic server log (tail of {server.log_file})", server.log_tail()))
    # Incremental classes: once a step fails, later steps are skipped.
    if call.excinfo is not None and report.when == "call" and "incremental" in item.keywords:
        item.parent._previousfailed = item


def pytest_runtest_setup(item):
    if "incremental" in item.keywords:
        previous = getattr(item.parent, "_previousfailed", None)
        if previous is not None:
            pytest.skip(f"previous step failed ({previous.name})")


# --------------------------------------------------------------------------
# Waiting
# --------------------------------------------------------------------------

def wait_for(fetch: Callable[[], Any], done: Callable[[Any], bool],
             what: str, timeout: float = WAIT_TIMEOUT, interval: float = 0.5) -> Any:
    """Call ``fetch`` until ``done(result)``; fail with the last result."""
    deadline = time.monotonic() + timeout
    while True:
        result = fetch()
        if done(result):
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}; last value: {result!r}")
        time.sleep(interval)


# --------------------------------------------------------------------------
# The baremetal CLI
# --------------------------------------------------------------------------

class CLIError(AssertionError):
    def __init__(self, cmd: list[str], proc: subprocess.CompletedProcess):
        self.cmd, self.returncode = cmd, proc.returncode
        self.stdout, self.stderr = proc.stdout, proc.stderr
        super().__init__(f"command failed (exit {proc.returncode}): {' '.join(cmd)}\n"
                         f"--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}")


class BaremetalCLI:
    """Runs ``baremetal --os-auth-type none --os-endpoint URL ...``."""

    def __init__(self, endpoint: str, workdir: Path):
        exe = Path(sys.executable).parent / "baremetal"
        found = str(exe) if exe.exists() else shutil.which("baremetal")
        if not found:
            pytest.fail("the `baremetal` CLI is not installed; run Tests/Client/setup-venv.sh",
                        pytrace=False)
        self.exe = found
        self.endpoint = endpoint
        cache = workdir / "cache"
        cache.mkdir(exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith(_CLIENT_ENV_PREFIXES)}
        # ironicclient caches the negotiated API version per host:port under
        # the user cache dir; keep that inside this test's directory.
        env["XDG_CACHE_HOME"] = str(cache)
        env["HOME"] = str(workdir)
        # A clouds.yaml found in the working directory, ~/.config/openstack or
        # /etc/openstack can override --os-endpoint (a *_endpoint_override in
        # it wins), so point the CLI at an empty one and run it in workdir.
        empty = workdir / "cli-clouds.yaml"
        empty.write_text("clouds: {}\n")
        env["OS_CLIENT_CONFIG_FILE"] = str(empty)
        env["OS_CLIENT_SECURE_FILE"] = str(empty)
        self.env = env
        self.cwd = workdir

    def run(self, *args: str, check: bool = True, timeout: float = WAIT_TIMEOUT + 60
            ) -> subprocess.CompletedProcess:
        cmd = [self.exe, "--os-auth-type", "none", "--os-endpoint", self.endpoint, *args]
        proc = subprocess.run(cmd, env=self.env, cwd=self.cwd, capture_output=True, text=True,
                              timeout=timeout)
        if check and proc.returncode != 0:
            raise CLIError(cmd, proc)
        return proc

    def json(self, *args: str) -> Any:
        """Run a command with ``-f json`` and return the parsed output."""
        proc = self.run(*args, "-f", "json")
        try:
            return json.loads(proc.stdout)
        except ValueError as e:
            raise AssertionError(f"`baremetal {' '.join(args)} -f json` printed no JSON ({e}):\n"
                                 f"--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}")

    def fails(self, *args: str) -> subprocess.CompletedProcess:
        """Run a command that must fail; return the finished process."""
        proc = self.run(*args, check=False)
        assert proc.returncode != 0, (
            f"`baremetal {' '.join(args)}` succeeded but should have failed:\n{proc.stdout}")
        return proc


@pytest.fixture(scope="module")
def cli(ironic_server) -> BaremetalCLI:
    return BaremetalCLI(ironic_server.endpoint, ironic_server.workdir)


# --------------------------------------------------------------------------
# openstacksdk
# --------------------------------------------------------------------------

CLOUD_NAME = "swift-ironic-test"


@pytest.fixture(scope="module")
def sdk_conn(ironic_server):
    """An openstack.connection.Connection for the test server (no auth)."""
    import openstack
    import openstack.config

    clouds_yaml = ironic_server.workdir / "clouds.yaml"
    clouds_yaml.write_text(textwrap.dedent(f"""\
        clouds:
          {CLOUD_NAME}:
            auth_type: none
            baremetal_endpoint_override: {ironic_server.endpoint}
        """))
    config = openstack.config.OpenStackConfig(
        config_files=[str(clouds_yaml)], vendor_files=[], load_envvars=False,
        load_yaml_config=True)
    region = config.get_one(cloud=CLOUD_NAME)
    conn = openstack.connection.Connection(config=region)
    yield conn
    conn.close()


# --------------------------------------------------------------------------
# The lab (simulated servers) and raw console clients
# --------------------------------------------------------------------------

def run_ironic(*args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    """Runs the server binary's other commands (``ironic lab ...``)."""
    return subprocess.run([str(_server_binary()), *args], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=timeout)


@contextlib.contextmanager
def running_lab(directory: Path, endpoint: str, nodes: int = 1):
    """``ironic lab up`` + ``ironic lab enroll`` (nodes ``lab-node-<i>``); ``ironic lab down`` after."""
    up = run_ironic("lab", "up", "--nodes", str(nodes), "--directory", str(directory))
    assert up.returncode == 0, f"lab up failed:\n{up.stdout}\n{up.stderr}"
    try:
        enroll = run_ironic("lab", "enroll", "--directory", str(directory), "--os-endpoint", endpoint)
        assert enroll.returncode == 0, f"lab enroll failed:\n{enroll.stdout}\n{enroll.stderr}"
        yield directory
    finally:
        down = run_ironic("lab", "down", "--directory", str(directory), timeout=90)
        assert down.returncode == 0, f"lab down failed:\n{down.stdout}\n{down.stderr}"


class SerialViewer:
    """A raw TCP console client, as ``socat - TCP:host:port`` is: reads everything, types lines."""

    def __init__(self, url: str, timeout: float = 10):
        assert url.startswith("tcp://"), url
        host, port = url[len("tcp://"):].rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        self.received = b""
        self.closed = False  # the other end closed the connection

    def close(self) -> None:
        self.sock.close()

    @property
    def text(self) -> str:
        return self.received.decode(errors="replace")

    def wait_for(self, text: str, after: int = 0, timeout: float = 60) -> bool:
        """Reads until ``text`` shows up after the first ``after`` bytes, or ``timeout`` passes."""
        deadline = time.monotonic() + timeout
        wanted = text.encode()
        while wanted not in self.received[after:]:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                return False
            if not chunk:
                self.closed = True
                return False
            self.received += chunk
        return True

    def type_until_echoed(self, line: str, attempts: int = 5, timeout: float = 15) -> bool:
        """Types ``line`` + Enter until the serial port's echo comes back. A throwaway Enter goes
        first: the lab's SOL loses the first keystroke of every other session."""
        for _ in range(attempts):
            offset = len(self.received)
            self.sock.sendall(b"\r" + line.encode() + b"\r")
            if self.wait_for(line + "\r\n", after=offset, timeout=timeout):
                return True
        return False
