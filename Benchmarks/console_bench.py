#!/usr/bin/env python3
"""Serial consoles at scale: the console figures `make bench` prints.

One run, side by side, against the same lab of simulated servers (ipmi_sim BMCs,
`ironic lab up`), every server powered on and printing a short line every
--tick-ms (the lab's `serial-tick` request):

  swift-ironic   `ironic standalone` (API + conductor) driving one
                 `ironic-ipmiproxy` (one worker process per console). --sessions
                 ipmi nodes with console_interface ipmi-proxy; all consoles
                 enabled at once with PUT /v1/nodes/{node}/states/console; for
                 each, the time from its PUT to the first byte on the TCP
                 endpoint its console_info names; then the memory of the proxy
                 and its workers; then the throughput of one session.
  reference      FreeIPMI's `ipmiconsole`, one process per BMC under a pty of
                 its own, started after the proxy's sessions have ended (a BMC
                 has one SOL session): time from spawn to the first byte of
                 serial output, memory per process, throughput of one session.

Throughput: the lab server of the first node prints a burst (the lab's
`serial-burst` request) and the bytes/s arriving on the TCP endpoint, or on
ipmiconsole's pty, are measured.

Plain Python 3 (standard library). Only processes started here are signalled,
by PID; everything binds 127.0.0.1. See Benchmarks/README.md.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import errno
import fcntl
import json
import os
import platform
import pty
import re
import secrets
import selectors
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import termios
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import (  # noqa: E402
    LOOPBACK, BenchError, Client, free_loopback_port, log, log_tail, memory_report, percentile)

WORKAROUNDS = "opensesspriv,solchannelsupport,solstatus,solpayloadsize"
SOL_ESTABLISHED = b"[SOL established]"
BURST_LINE = re.compile(rb"lab-node-\d+ burst \d{10} \.*\r{1,2}\n")
BURST_LINE_LENGTH = 64


class Interrupted(Exception):
    """SIGINT or SIGTERM arrived."""


def on_signal(signum: int, _frame: Any) -> None:
    raise Interrupted(signal.Signals(signum).name)


def now() -> float:
    return time.monotonic()


def summary_ms(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    if not ordered:
        return {"median": float("nan"), "p95": float("nan"), "max": float("nan"), "min": float("nan")}
    return {"median": statistics.median(ordered) * 1000, "p95": percentile(ordered, 95) * 1000,
            "max": ordered[-1] * 1000, "min": ordered[0] * 1000}


# --------------------------------------------------------------------------
# Processes we start
# --------------------------------------------------------------------------

class Started:
    """One process this script started (its own session), stopped by its PID only."""

    def __init__(self, name: str, argv: list[str], log_path: Path, cwd: Path, **popen: Any):
        self.name = name
        self.log_path = log_path
        with open(log_path, "ab") as out:
            self.proc = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True, **popen)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 20) -> None:
        """SIGTERM, SIGKILL after `timeout`; waits for the exit."""
        if self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


def wait_until(what: str, condition: Callable[[], bool], timeout: float, interval: float = 0.1,
               alive: Started | None = None) -> None:
    deadline = now() + timeout
    while not condition():
        if alive is not None and not alive.alive():
            raise BenchError(f"{alive.name} exited (status {alive.proc.returncode}) while waiting for {what}:\n"
                             f"{log_tail(alive.log_path)}")
        if now() > deadline:
            raise BenchError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


# --------------------------------------------------------------------------
# The lab
# --------------------------------------------------------------------------

class LabRun:
    """`ironic lab up --foreground` as a child of ours: SIGTERM to its PID stops every BMC."""

    def __init__(self, ironic: Path, workdir: Path, count: int, base_port: int, timeout: float):
        self.directory = workdir / "lab"
        self.keeper = Started(
            "ironic lab up", [str(ironic), "lab", "up", "--foreground", "--nodes", str(count),
                              "--directory", str(self.directory), "--base-port", str(base_port)],
            workdir / "lab-up.log", workdir)
        wait_until("the lab", lambda: "Stop:" in log_tail(self.keeper.log_path, 5), timeout, 0.2, self.keeper)
        state = json.loads((self.directory / "lab.json").read_text())
        self.username: str = state["username"]
        self.password: str = state["password"]
        self.servers: list[dict[str, Any]] = sorted(state["servers"], key=lambda s: int(s["name"].rsplit("-", 1)[1]))

    def request(self, server: dict[str, Any], name: str, content: str | None) -> None:
        """Writes (or with None removes) a serial request file of the lab, atomically."""
        path = Path(server["chassisDirectory"]) / name
        if content is None:
            path.unlink(missing_ok=True)
            return
        temporary = path.with_name(f".{name}.{os.getpid()}")
        temporary.write_text(content)
        temporary.rename(path)

    def power_on_all(self, ipmipower: str, timeout: float) -> None:
        """`ipmipower --on` over every BMC at once; BMCs that timed out (a busy machine) are
        asked again, at most 3 times in all."""
        def off() -> list[dict[str, Any]]:
            return [s for s in self.servers if (Path(s["chassisDirectory"]) / "power").read_text().strip() != "1"]

        for _ in range(3):
            todo = off()
            if not todo:
                return
            hosts = ",".join(f"{LOOPBACK}:{s['bmcPort']}" for s in todo)
            subprocess.run(
                [ipmipower, "-D", "LAN_2_0", "-u", self.username, "-p", self.password, "-W", "opensesspriv",
                 "--session-timeout", "10000", "-h", hosts, "--on"], capture_output=True, text=True, timeout=timeout)
        if off():
            raise BenchError(f"{len(off())} servers did not power on: {[s['name'] for s in off()][:10]}")

    def stop(self) -> None:
        self.keeper.stop(timeout=30)


# --------------------------------------------------------------------------
# Reading many streams at once
# --------------------------------------------------------------------------

class Stream:
    """One console stream (a TCP connection or a pty master): when its first serial bytes
    arrived, and, while `capture` is set, every byte with its arrival time."""

    def __init__(self, index: int, fd: int, owner: Any, skip_banner: bool):
        self.index = index
        self.fd = fd
        self.owner = owner  # the socket (kept alive) or the ipmiconsole process
        self.skip_banner = skip_banner  # ipmiconsole prints "[SOL established]" first
        self.pending = b""
        self.established_at: float | None = None
        self.first_byte_at: float | None = None
        self.bytes = 0
        self.closed = False
        self.capture: list[tuple[float, bytes]] | None = None
        self.tail = b""

    def feed(self, data: bytes, at: float) -> None:
        self.bytes += len(data)
        self.tail = (self.tail + data)[-160:]
        if self.capture is not None:
            self.capture.append((at, data))
        if self.first_byte_at is not None:
            return
        if not self.skip_banner:
            self.first_byte_at = at
            return
        # ipmiconsole's own banner is not serial output: the first byte after it is.
        self.pending += data
        marker = self.pending.find(SOL_ESTABLISHED)
        if marker < 0:
            self.pending = self.pending[-64:]
            return
        if self.established_at is None:
            self.established_at = at
        rest = self.pending[marker + len(SOL_ESTABLISHED):].lstrip(b"\r\n")
        if rest:
            self.first_byte_at = at


class Reader:
    """One selector over every stream, serviced from the calling thread."""

    def __init__(self) -> None:
        self.selector = selectors.DefaultSelector()
        self.streams: dict[int, Stream] = {}
        self.lock = threading.Lock()

    def add(self, stream: Stream) -> None:
        os.set_blocking(stream.fd, False)
        with self.lock:
            self.streams[stream.fd] = stream
            self.selector.register(stream.fd, selectors.EVENT_READ, stream)

    def pump(self, timeout: float) -> None:
        for key, _ in self.selector.select(timeout):
            stream: Stream = key.data
            at = now()
            for _ in range(64):
                try:
                    data = os.read(stream.fd, 65536)
                except BlockingIOError:
                    break
                except OSError as e:  # EIO: the pty's process ended
                    if e.errno not in (errno.EIO, errno.ECONNRESET):
                        raise
                    data = b""
                if not data:
                    self.drop(stream)
                    break
                stream.feed(data, at)
                if len(data) < 65536:
                    break

    def drop(self, stream: Stream) -> None:
        with self.lock:
            if stream.closed:
                return
            stream.closed = True
            self.selector.unregister(stream.fd)
            del self.streams[stream.fd]

    def pump_until(self, condition: Callable[[], bool], timeout: float, tick: Callable[[], None] | None = None,
                   tick_every: float = 0.05) -> bool:
        deadline = now() + timeout
        next_tick = now()
        while not condition():
            if now() > deadline:
                return False
            if tick is not None and now() >= next_tick:
                tick()
                next_tick = now() + tick_every
            self.pump(min(tick_every, max(0.0, deadline - now())))
        return True

    def close(self) -> None:
        self.selector.close()


def measure_burst(reader: Reader, stream: Stream, start_burst: Callable[[], None], burst_bytes: int,
                  silence: float, timeout: float) -> dict[str, Any]:
    """Starts a burst and reads `stream` until `silence` seconds pass without data after it
    began (or `timeout`). The rate counts whole burst lines (64 bytes each, however the line
    ends arrive) between the first and the last read that carried any."""
    reader.pump_until(lambda: False, 0.3)  # drain whatever was under way
    stream.capture = []
    start_burst()
    requested_at = now()
    deadline = requested_at + timeout

    def quiet() -> bool:
        if not stream.capture:
            return stream.closed
        return stream.closed or now() - stream.capture[-1][0] >= silence

    reader.pump_until(quiet, timeout)
    capture, stream.capture = stream.capture or [], None
    data = b"".join(chunk for _, chunk in capture)
    lines = len(BURST_LINE.findall(data))
    first_at = next((at for at, chunk in capture if b" burst " in chunk), None)
    last_at = capture[-1][0] if capture else None
    timeline: dict[int, int] = {}
    for at, chunk in capture:
        slot = int((at - requested_at) * 10)
        timeline[slot] = timeline.get(slot, 0) + len(chunk)
    result: dict[str, Any] = {"timeline_kib_per_100ms": {f"{k / 10:.1f}": v // 1024 for k, v in sorted(timeline.items())},
                              "requested_bytes": burst_bytes, "received_bytes": len(data), "burst_lines": lines,
                              "delivered_fraction": lines * BURST_LINE_LENGTH / burst_bytes,
                              "timed_out": now() > deadline, "reads": len(capture),
                              "session_ended": stream.closed,
                              "last_output": data[-120:].decode(errors="replace")}
    if first_at is not None and last_at is not None and last_at > first_at and lines > 1:
        first_chunk = next(chunk for at, chunk in capture if at == first_at)
        carried = (lines - len(BURST_LINE.findall(first_chunk))) * BURST_LINE_LENGTH
        result.update({"window_s": last_at - first_at, "bytes_per_s": carried / (last_at - first_at),
                       "start_delay_s": first_at - requested_at})
    return result


# --------------------------------------------------------------------------
# swift-ironic: ironic-ipmiproxy + ironic standalone
# --------------------------------------------------------------------------

class SwiftIronicPath:
    def __init__(self, args: argparse.Namespace, workdir: Path, lab: LabRun):
        self.args = args
        self.workdir = workdir
        self.lab = lab
        self.token = secrets.token_hex(16)
        self.proxy: Started | None = None
        self.api: Started | None = None
        self.api_port = 0
        self.proxy_port = 0
        self.streams: list[Stream | None] = []
        self.extra_streams: list[Stream] = []

    def start(self) -> None:
        bindir = Path(self.args.bindir)
        for attempt in range(3):
            self.proxy_port = free_loopback_port()
            conf = self.workdir / "ipmiproxy.conf"
            conf.write_text(
                "[ipmiproxy]\n"
                f"host_ip = {LOOPBACK}\n"
                f"port = {self.proxy_port}\n"
                f"port_range = {self.args.proxy_port_range}\n"
                f"auth_token = {self.token}\n")
            self.proxy = Started("ironic-ipmiproxy", [str(bindir / "ironic-ipmiproxy"), "serve", "--config-file", str(conf)],
                                 self.workdir / "ipmiproxy.log", self.workdir)
            try:
                wait_until("ironic-ipmiproxy", lambda: self._proxy_get("/healthz")[0] == 200, self.args.start_timeout,
                           0.1, self.proxy)
                break
            except BenchError:
                self.proxy.stop()
                if attempt == 2 or "in use" not in log_tail(self.proxy.log_path, 5).lower():
                    raise
        for attempt in range(3):
            self.api_port = free_loopback_port()
            conf = self.workdir / "ironic.conf"
            conf.write_text(
                "[DEFAULT]\n"
                "host = bench-console\n"
                "enabled_hardware_types = ipmi\n"
                "[api]\n"
                f"host_ip = {LOOPBACK}\n"
                f"port = {self.api_port}\n"
                "max_limit = 1000\n"
                "[database]\n"
                f"connection = sqlite:///{self.workdir / 'ironic.sqlite'}\n"
                "[conductor]\n"
                "heartbeat_interval = 5\n"
                "sync_power_state_interval = 0\n"
                "[deploy]\n"
                "http_server_host =\n"
                "[ipmi]\n"
                f"console_proxy_urls = http://{LOOPBACK}:{self.proxy_port}\n"
                f"console_proxy_auth_token = {self.token}\n"
                # the proxy that `ironic standalone` always runs in-process stays idle: free port, no clash
                "[ipmiproxy]\n"
                "port = 0\n")
            self.api = Started("ironic standalone", [str(bindir / "ironic"), "standalone", "--config-file", str(conf)],
                               self.workdir / "ironic.log", self.workdir)
            try:
                wait_until("ironic standalone", lambda: self._api_up(), self.args.start_timeout, 0.2, self.api)
                break
            except BenchError:
                self.api.stop()
                if attempt == 2 or "in use" not in log_tail(self.api.log_path, 5).lower():
                    raise

    def _api_up(self) -> bool:
        try:
            return Client(self.api_port, timeout=2).request("GET", "/")[0] == 200
        except OSError:
            return False

    def _proxy_get(self, path: str) -> tuple[int, Any]:
        import http.client
        try:
            conn = http.client.HTTPConnection(LOOPBACK, self.proxy_port, timeout=30)
            conn.request("GET", path, headers={"X-Auth-Token": self.token})
            resp = conn.getresponse()
            body = resp.read()
            conn.close()
            return resp.status, (json.loads(body) if body and resp.getheader("Content-Type", "").startswith("application/json") else body)
        except (OSError, http.client.HTTPException):
            return 0, None

    def proxy_consoles(self) -> list[dict[str, Any]] | None:
        """The proxy's consoles, or None when it does not answer."""
        status, body = self._proxy_get("/v1/consoles")
        return body.get("consoles", []) if status == 200 and isinstance(body, dict) else None

    def _proxy_delete(self, console_id: str) -> int:
        import http.client
        try:
            conn = http.client.HTTPConnection(LOOPBACK, self.proxy_port, timeout=30)
            conn.request("DELETE", f"/v1/consoles/{console_id}", headers={"X-Auth-Token": self.token})
            status = conn.getresponse().status
            conn.close()
            return status
        except (OSError, http.client.HTTPException):
            return 0

    def enroll(self, servers: list[dict[str, Any]]) -> list[str]:
        client = Client(self.api_port)
        uuids = []
        for server in servers:
            info = {"ipmi_address": LOOPBACK, "ipmi_port": str(server["bmcPort"]), "ipmi_username": self.lab.username,
                    "ipmi_password": self.lab.password, "ipmi_workarounds": WORKAROUNDS}
            node = client.json("POST", "/v1/nodes", {"name": server["name"], "driver": "ipmi",
                                                     "console_interface": "ipmi-proxy", "driver_info": info},
                               expect=(201,))
            uuids.append(node["uuid"])
        client.close()
        return uuids

    def enable_all(self, uuids: list[str], reader: Reader, timeout: float) -> dict[str, Any]:
        """PUTs every console on at once, then, as each node reports console_enabled, reads its
        console_info and connects to the TCP endpoint; returns once every stream has its first
        byte (or a node failed, or `timeout`)."""
        count = len(uuids)
        put_at: list[float | None] = [None] * count
        put_done: list[float | None] = [None] * count
        put_status: list[int | None] = [None] * count
        enabled_seen: list[float | None] = [None] * count
        streams: list[Stream | None] = [None] * count
        failures: dict[int, str] = {}
        start = threading.Barrier(count + 1)

        def put(i: int) -> None:
            client = Client(self.api_port, timeout=120)
            client.request("GET", "/v1")  # the connection is open before the clock starts
            start.wait(timeout=60)
            for _ in range(100):
                put_at[i] = put_at[i] or now()
                status, body = client.request("PUT", f"/v1/nodes/{uuids[i]}/states/console", {"enabled": True})
                put_status[i] = status
                if status not in (409, 503):
                    break
                time.sleep(0.05)
            put_done[i] = now()
            if status != 202:
                failures[i] = f"PUT states/console -> HTTP {status}: {body[:200]!r}"
            client.close()

        pool = concurrent.futures.ThreadPoolExecutor(max_workers=count)
        futures = [pool.submit(put, i) for i in range(count)]
        start.wait(timeout=60)
        t0 = now()
        index_of = {u: i for i, u in enumerate(uuids)}
        proxy_running: list[float | None] = [None] * count
        claimed: set[int] = set()
        polls = 0
        done = threading.Event()
        # The reader (this thread) only reads and timestamps; listing, console_info and
        # connecting run on threads of their own, so they never delay a timestamp.
        connectors = concurrent.futures.ThreadPoolExecutor(max_workers=8)
        local = threading.local()

        def connect(i: int) -> None:
            client = getattr(local, "client", None) or Client(self.api_port)
            local.client = client
            state = client.json("GET", f"/v1/nodes/{uuids[i]}/states/console")
            url = (state.get("console_info") or {}).get("url", "")
            parts = urllib.parse.urlsplit(url)
            if parts.scheme != "tcp" or parts.hostname != LOOPBACK:
                failures[i] = f"unexpected console_info {state!r}"
                return
            sock = socket.create_connection((LOOPBACK, parts.port), timeout=5)
            stream = Stream(i, sock.fileno(), sock, skip_banner=False)
            streams[i] = stream
            reader.add(stream)

        def poll_loop() -> None:
            nonlocal polls
            poller = Client(self.api_port)
            while not done.is_set():
                polls += 1
                nodes = poller.json("GET", "/v1/nodes?fields=uuid,console_enabled,last_error&limit=1000")["nodes"]
                for node in nodes:
                    i = index_of.get(node["uuid"])
                    if i is None or i in claimed or i in failures:
                        continue
                    if node.get("console_enabled"):
                        enabled_seen[i] = now()
                        claimed.add(i)
                        connectors.submit(connect, i)
                    elif node.get("last_error") and put_done[i] is not None:
                        failures[i] = node["last_error"]
                # When the proxy itself reports each console running (SOL established).
                for console in self.proxy_consoles() or []:
                    i = index_of.get(console.get("node_uuid"))
                    if i is not None and proxy_running[i] is None and console.get("state") == "running":
                        proxy_running[i] = now()
                done.wait(self.args.poll_interval)
            poller.close()

        poller_thread = threading.Thread(target=poll_loop, name="console-poller", daemon=True)
        poller_thread.start()

        def all_settled() -> bool:
            return all(i in failures or (streams[i] is not None and streams[i].first_byte_at is not None)
                       for i in range(count))

        last_report = now()

        def tick() -> None:
            nonlocal last_report
            if now() - last_report >= 5:
                last_report = now()
                log(f"  {sum(1 for x in proxy_running if x)} running on the proxy, {len(claimed)} enabled, "
                    f"{sum(1 for s in streams if s is not None and s.first_byte_at is not None)} with output, "
                    f"{len(failures)} failed, {now() - t0:.1f}s")

        finished = reader.pump_until(all_settled, timeout, tick, 0.02)
        done.set()
        poller_thread.join(timeout=30)
        connectors.shutdown(wait=True)
        concurrent.futures.wait(futures, timeout=5)
        pool.shutdown(wait=False, cancel_futures=True)
        running = [proxy_running[i] - put_at[i] for i in range(count) if proxy_running[i] is not None and put_at[i] is not None]
        firsts = [s.first_byte_at - put_at[s.index] for s in streams if s is not None and s.first_byte_at is not None
                  and put_at[s.index] is not None]
        enabled = [enabled_seen[i] - put_at[i] for i in range(count) if enabled_seen[i] is not None and put_at[i] is not None]
        put_latency = [put_done[i] - put_at[i] for i in range(count) if put_done[i] is not None and put_at[i] is not None]
        self.streams = streams
        return {
            "sessions": count, "with_output": len(firsts), "failed": len(failures), "timed_out": not finished,
            "failures": {uuids[i]: f for i, f in list(failures.items())[:20]},
            "first_byte_ms": summary_ms(firsts), "console_enabled_seen_ms": summary_ms(enabled),
            "put_response_ms": summary_ms(put_latency), "proxy_running_seen_ms": summary_ms(running), "polls": polls,
            "wall_s": (max((s.first_byte_at for s in streams if s is not None and s.first_byte_at is not None), default=t0) - t0),
        }

    def memory(self) -> dict[str, Any] | None:
        return memory_report(self.proxy.pid) if self.proxy else None

    def open_one(self, uuid: str, index: int, reader: Reader, timeout: float) -> Stream:
        """Enables one console, connects to its TCP endpoint and waits for its first byte."""
        client = Client(self.api_port)
        client.json("PUT", f"/v1/nodes/{uuid}/states/console", {"enabled": True}, expect=(202,))
        url = ""
        deadline = now() + timeout
        while not url:
            if now() > deadline:
                raise BenchError(f"console of {uuid} not enabled within {timeout:.0f}s")
            time.sleep(0.05)
            state = client.json("GET", f"/v1/nodes/{uuid}/states/console")
            url = (state.get("console_info") or {}).get("url", "") if state.get("console_enabled") else ""
        client.close()
        sock = socket.create_connection((LOOPBACK, urllib.parse.urlsplit(url).port), timeout=5)
        stream = Stream(index, sock.fileno(), sock, skip_banner=False)
        self.extra_streams.append(stream)
        reader.add(stream)
        if not reader.pump_until(lambda: stream.first_byte_at is not None or stream.closed, timeout):
            raise BenchError(f"no output from the console of {uuid} within {timeout:.0f}s")
        return stream

    def disable_all(self, uuids: list[str], reader: Reader, timeout: float) -> dict[str, Any]:
        """PUTs every console off (32 at a time), waits until the API shows them all disabled,
        then checks the proxy: consoles it still runs were lost by the conductor (reported,
        then deleted here so the BMCs are free for the reference)."""
        for stream in self.streams + self.extra_streams:
            if stream is not None and not stream.closed:
                reader.drop(stream)
            if stream is not None:
                stream.owner.close()

        def put(uuid: str) -> None:
            client = Client(self.api_port, timeout=60)
            for _ in range(100):
                status, _ = client.request("PUT", f"/v1/nodes/{uuid}/states/console", {"enabled": False})
                if status not in (409, 503):
                    break
                time.sleep(0.05)
            client.close()

        t0 = now()
        with concurrent.futures.ThreadPoolExecutor(max_workers=32) as pool:
            list(pool.map(put, uuids))
        poller = Client(self.api_port)
        wanted = set(uuids)

        def all_disabled() -> bool:
            nodes = poller.json("GET", "/v1/nodes?fields=uuid,console_enabled&limit=1000")["nodes"]
            return not any(n.get("console_enabled") for n in nodes if n["uuid"] in wanted)

        wait_until("every console disabled through the API", all_disabled, timeout, 0.2, self.api)
        disabled_s = now() - t0
        poller.close()
        listing: list[list[dict[str, Any]]] = []

        def listed() -> bool:
            consoles = self.proxy_consoles()
            if consoles is not None:
                listing.append(consoles)
            return consoles is not None

        wait_until("the proxy's console list", listed, 120, 0.5, self.proxy)
        left = listing[-1]
        if left:
            log(f"  the conductor disabled every console, but the proxy still runs {len(left)} of them: deleting them")
            with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
                list(pool.map(lambda c: self._proxy_delete(c["id"]), left))
        wait_until("the proxy to stop every console", lambda: self.proxy_consoles() == [], timeout, 0.5, self.proxy)

        def workers_gone() -> bool:
            from bench import descendants
            return all((Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
                        if Path(f"/proc/{p}/stat").exists() else True) for p in descendants(self.proxy.pid))

        wait_until("every worker process to exit", workers_gone, timeout, 0.2)
        return {"disabled_through_api_s": disabled_s, "left_on_proxy": len(left), "wall_s": now() - t0}

    def stop(self) -> None:
        for started in (self.api, self.proxy):
            if started is not None:
                started.stop()


# --------------------------------------------------------------------------
# Reference: ipmiconsole processes
# --------------------------------------------------------------------------

class IPMIConsolePath:
    def __init__(self, args: argparse.Namespace, lab: LabRun):
        self.args = args
        self.lab = lab
        self.procs: list[subprocess.Popen] = []
        self.masters: list[int] = []
        self.streams: list[Stream] = []
        self.extra_streams: list[Stream] = []

    def start_all(self, reader: Reader, timeout: float) -> dict[str, Any]:
        spawned_at: list[float] = []
        t0 = now()
        for i, server in enumerate(self.lab.servers[:self.args.sessions]):
            spawned_at.append(now())
            self.streams.append(self.spawn(server, i, reader))
            reader.pump(0)
        spawn_wall = now() - t0

        last_report = now()

        def settled() -> bool:
            return all(s.first_byte_at is not None or s.closed for s in self.streams)

        def tick() -> None:
            nonlocal last_report
            if now() - last_report >= 5:
                last_report = now()
                log(f"  {sum(1 for s in self.streams if s.established_at)} established, "
                    f"{sum(1 for s in self.streams if s.first_byte_at)} with output, "
                    f"{sum(1 for s in self.streams if s.closed)} ended, {now() - t0:.1f}s")

        finished = reader.pump_until(settled, timeout, tick, 0.05)
        firsts = [s.first_byte_at - spawned_at[s.index] for s in self.streams if s.first_byte_at is not None]
        established = [s.established_at - spawned_at[s.index] for s in self.streams if s.established_at is not None]
        failed = [s.index for s in self.streams if s.first_byte_at is None]
        return {
            "sessions": len(self.streams), "with_output": len(firsts), "failed": len(failed), "timed_out": not finished,
            "failures": {self.lab.servers[i]["name"]: f"ended={self.streams[i].closed} exit={self.procs[i].poll()} "
                         f"last output {self.streams[i].tail[-100:]!r}" for i in failed[:20]},
            "ended_after_output": [f"{self.lab.servers[s.index]['name']}: {s.tail[-100:]!r}"
                                   for s in self.streams if s.closed and s.first_byte_at is not None][:10],
            "first_byte_ms": summary_ms(firsts), "sol_established_ms": summary_ms(established),
            "spawn_wall_s": spawn_wall,
            "wall_s": max((s.first_byte_at for s in self.streams if s.first_byte_at is not None), default=t0) - t0,
        }

    def spawn(self, server: dict[str, Any], index: int, reader: Reader) -> Stream:
        """ipmiconsole for `server` under a new pty (a usual 80x24 terminal)."""
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, b"\x18\x00\x50\x00\x00\x00\x00\x00")
        proc = subprocess.Popen(
            [self.args.ipmiconsole, "-h", f"{LOOPBACK}:{server['bmcPort']}", "-u", self.lab.username,
             "-p", self.lab.password, "-W", WORKAROUNDS],
            stdin=slave, stdout=slave, stderr=slave, start_new_session=True, close_fds=True)
        os.close(slave)
        self.procs.append(proc)
        self.masters.append(master)
        stream = Stream(index, master, proc, skip_banner=True)
        reader.add(stream)
        return stream

    def open_one(self, server: dict[str, Any], index: int, reader: Reader, timeout: float) -> Stream:
        stream = self.spawn(server, index, reader)
        self.extra_streams.append(stream)
        if not reader.pump_until(lambda: stream.first_byte_at is not None or stream.closed, timeout) or stream.closed:
            raise BenchError(f"no output from ipmiconsole for {server['name']} within {timeout:.0f}s")
        return stream

    def memory(self) -> dict[str, Any] | None:
        reports = [memory_report(p.pid) for p in self.procs if p.poll() is None]
        reports = [r for r in reports if r is not None]
        if not reports:
            return None
        processes = [p for r in reports for p in r["processes"]]
        return {
            "vmrss_mib": sum(p["vmrss_kib"] for p in processes) / 1024.0,
            "vmhwm_mib": sum(p["vmhwm_kib"] for p in processes) / 1024.0,
            "pss_mib": (sum(p["pss_kib"] for p in processes) / 1024.0
                        if all(p["pss_kib"] is not None for p in processes) else None),
            "processes": processes,
        }

    def stop(self, reader: Reader) -> None:
        """`&.` (ipmiconsole's own way out, which deactivates SOL) to each, then SIGTERM and
        SIGKILL by PID for any still running."""
        for proc, master in zip(self.procs, self.masters):
            if proc.poll() is None:
                try:
                    os.write(master, b"&.")
                except OSError:
                    pass
        deadline = now() + 10
        while any(p.poll() is None for p in self.procs) and now() < deadline:
            reader.pump(0.05)
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        deadline = now() + 5
        while any(p.poll() is None for p in self.procs) and now() < deadline:
            time.sleep(0.05)
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=5)
        for stream in self.streams + self.extra_streams:
            reader.drop(stream)
        for master in self.masters:
            try:
                os.close(master)
            except OSError:
                pass
        self.masters = []


# --------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------

def per_session(memory: dict[str, Any] | None, sessions: int) -> dict[str, float | None]:
    if not memory or sessions <= 0:
        return {"vmrss_mib": None, "pss_mib": None}
    return {"vmrss_mib": memory["vmrss_mib"] / sessions,
            "pss_mib": memory["pss_mib"] / sessions if memory["pss_mib"] is not None else None}


def fmt(value: float | None, unit_digits: int = 3) -> str:
    if value is None or value != value:
        return "-"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.{unit_digits - 1}f}"


def print_table(results: dict[str, Any]) -> None:
    swift, ref = results.get("swift_ironic", {}), results.get("ipmiconsole", {})
    n = results["sessions"]

    def get(d: dict[str, Any], *path: str) -> float | None:
        for key in path:
            if not isinstance(d, dict) or key not in d:
                return None
            d = d[key]
        return d  # type: ignore[return-value]

    rows: list[tuple[str, float | None, float | None, str]] = [
        # (figure, swift, reference, how the ratio reads: "lower" better or "higher" better)
        ("sessions with output", get(swift, "start", "with_output"), get(ref, "start", "with_output"), "count"),
        ("SOL established, median (ms)", get(swift, "start", "proxy_running_seen_ms", "median"),
         get(ref, "start", "sol_established_ms", "median"), "lower"),
        ("first byte, median (ms)", get(swift, "start", "first_byte_ms", "median"),
         get(ref, "start", "first_byte_ms", "median"), "lower"),
        ("first byte, p95 (ms)", get(swift, "start", "first_byte_ms", "p95"), get(ref, "start", "first_byte_ms", "p95"),
         "lower"),
        ("first byte, max (ms)", get(swift, "start", "first_byte_ms", "max"), get(ref, "start", "first_byte_ms", "max"),
         "lower"),
        ("memory per session, Pss (MiB)", get(swift, "per_session", "pss_mib"), get(ref, "per_session", "pss_mib"), "lower"),
        ("memory per session, VmRSS (MiB)", get(swift, "per_session", "vmrss_mib"), get(ref, "per_session", "vmrss_mib"),
         "lower"),
        ("memory in all, Pss (MiB)", get(swift, "memory", "pss_mib"), get(ref, "memory", "pss_mib"), "lower"),
        ("processes", get(swift, "processes"), get(ref, "processes"), "count"),
        ("SOL throughput, one session, median (KiB/s)",
         (get(swift, "throughput", "bytes_per_s") or 0) / 1024 or None,
         (get(ref, "throughput", "bytes_per_s") or 0) / 1024 or None, "higher"),
        ("  runs where the session ended", get(swift, "throughput", "sessions_ended_mid_burst"),
         get(ref, "throughput", "sessions_ended_mid_burst"), "count"),
        ("  burst delivered (%)",
         (get(swift, "throughput", "delivered_fraction") or 0) * 100 or None,
         (get(ref, "throughput", "delivered_fraction") or 0) * 100 or None, "count"),
    ]
    title = f"{n} console sessions, tick {results['tick_ms']} ms, burst {results['burst_bytes']:,} bytes"
    if results.get("burst_rate"):
        title += f" at up to {results['burst_rate']:,} bytes/s"
    log("")
    log(title)
    header = f"{'figure':<44}{'swift-ironic proxy':>20}{'ipmiconsole procs':>20}{'ratio':>9}"
    log(header)
    log("-" * len(header))
    for name, a, b, better in rows:
        ratio = ""
        if a and b and better == "lower":
            ratio = f"{b / a:.2f}x"
        elif a and b and better == "higher":
            ratio = f"{a / b:.2f}x"
        log(f"{name:<44}{fmt(a):>20}{fmt(b):>20}{ratio:>9}")
    log("(ratio: how many times better swift-ironic is; above 1 favours swift-ironic, below 1 the reference)")


def run(args: argparse.Namespace, workdir: Path, results: dict[str, Any]) -> None:
    bindir = Path(args.bindir)
    ironic = bindir / "ironic"
    for binary in (ironic, bindir / "ironic-ipmiproxy"):
        if not binary.exists():
            raise BenchError(f"{binary} not found: swift build -c release")
    reader = Reader()
    spares = args.throughput_runs
    total = args.sessions + 2 * spares
    log(f"lab: {args.sessions} servers for the sessions + {2 * spares} for the throughput runs "
        f"(ports {args.base_port}...{args.base_port + 3 * total - 1})")
    t = now()
    lab = LabRun(ironic, workdir, total, args.base_port, args.start_timeout)
    sessions_servers = lab.servers[:args.sessions]
    swift_spares = lab.servers[args.sessions:args.sessions + spares]
    ref_spares = lab.servers[args.sessions + spares:]
    results["cleanup"].append(lab.stop)
    log(f"  up in {now() - t:.1f}s; powering on")
    lab.power_on_all(args.ipmipower, 60)
    set_ticks(lab, args.tick_ms)
    time.sleep(3.5)  # the boot log (2.5 s), then the ticks

    # swift-ironic
    log("swift-ironic: ironic-ipmiproxy + ironic standalone")
    swift = SwiftIronicPath(args, workdir, lab)
    results["cleanup"].append(swift.stop)
    swift.start()
    idle = swift.memory()
    uuids = swift.enroll(sessions_servers)
    spare_uuids = swift.enroll(swift_spares)
    log(f"  {len(uuids)} + {len(spare_uuids)} nodes enrolled (console_interface ipmi-proxy); enabling every console at once")
    start = swift.enable_all(uuids, reader, args.first_byte_timeout)
    log(f"  {start['with_output']}/{start['sessions']} with output in {start['wall_s']:.1f}s, {start['failed']} failed; "
        f"first byte median {start['first_byte_ms']['median']:.0f} ms, p95 {start['first_byte_ms']['p95']:.0f} ms")
    if start["failures"]:
        log(f"  failures: {json.dumps(start['failures'])[:1500]}")
    reader.pump_until(lambda: False, args.settle)
    memory = swift.memory()
    workers = len(memory["processes"]) - 1 if memory else 0
    consoles = swift.proxy_consoles()
    states: dict[str, int] = {}
    for console in consoles or []:
        states[console.get("state", "?")] = states.get(console.get("state", "?"), 0) + 1
    sessions = sum(1 for s in swift.streams if s is not None and s.first_byte_at is not None)
    results["swift_ironic"] = {"start": start, "memory_idle": idle, "memory": memory, "processes": len(memory["processes"]) if memory else None,
                               "workers": workers, "proxy_console_states": states,
                               "per_session": per_session(memory, sessions)}
    if memory:
        log(f"  memory: proxy + {workers} workers: VmRSS {memory['vmrss_mib']:.0f} MiB, Pss {memory['pss_mib']:.0f} MiB "
            f"(daemon idle before: VmRSS {idle['vmrss_mib']:.1f} MiB); consoles on the proxy: {states}")
    runs = []
    for k, (server, uuid) in enumerate(zip(swift_spares, spare_uuids)):
        stream = swift.open_one(uuid, args.sessions + k, reader, args.phase_timeout)
        runs.append(burst_run(args, lab, reader, server, stream, "its TCP endpoint"))
    results["swift_ironic"]["throughput"] = throughput_summary(runs)
    # Quiet serial ports while the sessions end: ipmi_sim keeps waiting for the acknowledgement
    # of a packet in flight when its session ends, and then sends that BMC's next session nothing.
    set_ticks(lab, None)
    reader.pump_until(lambda: False, 1.5)
    log("  disabling every console")
    stop = swift.disable_all(uuids + spare_uuids, reader, args.phase_timeout)
    results["swift_ironic"]["disable"] = stop
    log(f"  every console disabled through the API in {stop['disabled_through_api_s']:.1f}s")
    swift.stop()

    # Reference
    set_ticks(lab, args.tick_ms)
    time.sleep(1)
    log(f"reference: {args.sessions} ipmiconsole processes, one pty each")
    ref = IPMIConsolePath(args, lab)
    results["cleanup"].append(lambda: ref.stop(reader))
    start = ref.start_all(reader, args.first_byte_timeout)
    log(f"  {start['with_output']}/{start['sessions']} with output in {start['wall_s']:.1f}s, {start['failed']} failed; "
        f"first byte median {start['first_byte_ms']['median']:.0f} ms, p95 {start['first_byte_ms']['p95']:.0f} ms")
    if start["failures"]:
        log(f"  failures: {json.dumps(start['failures'])[:1500]}")
    reader.pump_until(lambda: False, args.settle)
    memory = ref.memory()
    sessions = sum(1 for s in ref.streams if s.first_byte_at is not None)
    results["ipmiconsole"] = {"start": start, "memory": memory, "processes": len(memory["processes"]) if memory else None,
                              "per_session": per_session(memory, sessions)}
    if memory:
        log(f"  memory: {len(memory['processes'])} processes: VmRSS {memory['vmrss_mib']:.0f} MiB, Pss {memory['pss_mib']:.0f} MiB")
    runs = []
    for k, server in enumerate(ref_spares):
        stream = ref.open_one(server, args.sessions + spares + k, reader, args.phase_timeout)
        runs.append(burst_run(args, lab, reader, server, stream, "ipmiconsole's pty"))
    results["ipmiconsole"]["throughput"] = throughput_summary(runs)
    ref.stop(reader)
    reader.close()


def set_ticks(lab: LabRun, tick_ms: int | None) -> None:
    for server in lab.servers:
        lab.request(server, "serial-tick", f"{tick_ms}\n" if tick_ms else None)


def burst_run(args: argparse.Namespace, lab: LabRun, reader: Reader, server: dict[str, Any], stream: Stream,
              where: str) -> dict[str, Any]:
    """One throughput run on a server of its own: its ticks stop, then the burst."""
    lab.request(server, "serial-tick", None)
    log(f"  throughput: {args.burst_bytes:,}-byte burst from {server['name']} to {where}")
    tp = measure_burst(reader, stream, lambda: lab.request(server, "serial-burst", burst_spec(args)),
                       args.burst_bytes, args.burst_silence, args.phase_timeout)
    log_throughput(tp)
    return tp


def throughput_summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The median run by rate, among runs whose burst lasted at least 0.25 s at the receiver
    (a session that ended sooner gives no rate worth the name)."""
    rates = sorted((r["bytes_per_s"], i) for i, r in enumerate(runs) if r.get("window_s", 0) >= 0.25)
    if not rates:
        return {"runs": runs, "sessions_ended_mid_burst": sum(1 for r in runs if r.get("session_ended"))}
    median = runs[rates[len(rates) // 2][1]]
    return {"bytes_per_s": median.get("bytes_per_s"), "delivered_fraction": median.get("delivered_fraction"),
            "rates": [r.get("bytes_per_s") for r in runs],
            "sessions_ended_mid_burst": sum(1 for r in runs if r.get("session_ended")), "runs": runs}


def burst_spec(args: argparse.Namespace) -> str:
    return f"{args.burst_bytes} {args.burst_rate}\n" if args.burst_rate else f"{args.burst_bytes}\n"


def log_throughput(tp: dict[str, Any]) -> None:
    if "bytes_per_s" in tp:
        log(f"  {tp['bytes_per_s'] / 1024:,.0f} KiB/s over {tp['window_s']:.2f}s; "
            f"{tp['delivered_fraction'] * 100:.1f}% of the burst delivered ({tp['burst_lines']:,} lines)")
    else:
        log(f"  no throughput figure: {json.dumps(tp)[:300]}")
    if tp.get("session_ended"):
        log("  (the session ended during the burst)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bindir", default=".build/release", help="where ironic and ironic-ipmiproxy are (release build)")
    parser.add_argument("--sessions", type=int, default=200, help="console sessions, one lab server each (default 200)")
    parser.add_argument("--base-port", type=int, default=20000,
                        help="lab ports: server i uses BASE+3i..BASE+3i+2 (default 20000; BMC ports must stay <= 32767)")
    parser.add_argument("--proxy-port-range", default="10000:19999",
                        help="[ipmiproxy] port_range of the proxy (two ports per console; default 10000:19999)")
    parser.add_argument("--tick-ms", type=int, default=100, help="every server prints a line this often (default 100)")
    parser.add_argument("--burst-bytes", type=int, default=4 * 1024 * 1024, help="throughput burst size (default 4 MiB)")
    parser.add_argument("--burst-rate", type=int, default=4 * 1024 * 1024,
                        help="the burst's pace at the serial port, bytes/s; 0 for as fast as ipmi_sim reads (default 4 MiB/s)")
    parser.add_argument("--throughput-runs", type=int, default=3,
                        help="throughput runs per path, each on a lab server of its own; the median is reported (default 3)")
    parser.add_argument("--burst-silence", type=float, default=1.5, help="a burst is over after this much silence (s)")
    parser.add_argument("--settle", type=float, default=3.0, help="seconds between the last first byte and the memory reading")
    parser.add_argument("--poll-interval", type=float, default=0.05, help="node listing interval while consoles start (s)")
    parser.add_argument("--first-byte-timeout", type=float, default=60,
                        help="sessions without output by then count as failed (s)")
    parser.add_argument("--phase-timeout", type=float, default=180, help="bound of each phase (s)")
    parser.add_argument("--start-timeout", type=float, default=120, help="bound of each service start (s)")
    parser.add_argument("--ipmiconsole", default=shutil.which("ipmiconsole") or "/usr/sbin/ipmiconsole")
    parser.add_argument("--ipmipower", default=shutil.which("ipmipower") or "/usr/sbin/ipmipower")
    parser.add_argument("--json", help="also write every figure to this file")
    parser.add_argument("--keep-workdir", action="store_true", help="keep logs and configuration")
    args = parser.parse_args()
    args.bindir = str(Path(args.bindir).resolve())
    if not 1 <= args.sessions <= 1000:
        parser.error("--sessions must be 1...1000")
    if not 1 <= args.throughput_runs <= 9:
        parser.error("--throughput-runs must be 1...9")
    if args.base_port + 3 * (args.sessions + 2 * args.throughput_runs) - 1 > 32767:
        parser.error("BMC ports must stay at or below 32767 (libipmiconsole): lower --base-port or --sessions")
    low, high = (int(p) for p in args.proxy_port_range.split(":"))
    lab_top = args.base_port + 3 * (args.sessions + 2 * args.throughput_runs) - 1
    if not (high < args.base_port or low > lab_top) or high - low + 1 < 2 * (args.sessions + args.throughput_runs):
        parser.error("--proxy-port-range must hold two ports per session and stay clear of the lab's ports")
    for tool in (args.ipmiconsole, args.ipmipower):
        if not Path(tool).exists():
            parser.error(f"{tool} not found: install freeipmi-tools (make deps)")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    workdir = Path(tempfile.mkdtemp(prefix="ironic-bench-console-"))
    results: dict[str, Any] = {
        "sessions": args.sessions, "tick_ms": args.tick_ms, "burst_bytes": args.burst_bytes, "burst_rate": args.burst_rate,
        "host": platform.node(), "cpus": os.cpu_count(), "args": vars(args), "cleanup": []}
    status = 0
    log(f"console benchmark: {args.sessions} sessions, {os.cpu_count()} CPUs, work dir {workdir}")
    try:
        run(args, workdir, results)
    except Interrupted as e:
        log(f"interrupted ({e})")
        status = 130
    except (BenchError, OSError, subprocess.SubprocessError) as e:
        log(f"FAILED: {e}")
        status = 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for step in reversed(results.pop("cleanup")):
            try:
                step()
            except Exception as e:  # noqa: BLE001 - cleanup goes on
                log(f"cleanup: {e}")
        if status == 0 and not args.keep_workdir:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            log(f"(files kept in {workdir})")
    if "swift_ironic" in results or "ipmiconsole" in results:
        print_table(results)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=str))
    return status


if __name__ == "__main__":
    sys.exit(main())
