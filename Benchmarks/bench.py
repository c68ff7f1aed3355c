#!/usr/bin/env python3
"""The swift-ironic benchmark that `make bench` runs.

Plain Python 3 standard library (http.client over keep-alive connections,
threads for concurrency), so it needs nothing installed. Against one server it:

  1. enrolls --nodes fake-hardware nodes one after another   -> create rate
  2. lists them with GET /v1/nodes?detail=True               -> median time
  3. GETs one node from --concurrency clients for
     --get-seconds (Python threads, and wrk when installed)  -> req/s, p99
  4. takes --deploy of those nodes manage -> provide -> deploy
     in parallel until they are all active                   -> wall time
  5. reads VmRSS / VmHWM from /proc/PID/status (and Pss)     -> memory

Servers:
  --ironic PATH         start PATH (`ironic standalone`) on a free loopback port
                        in a temp dir with a fresh SQLite database
  --endpoint URL        use a server that is already running on 127.0.0.1
                        (memory only with --pid)
  --reference-ironic    also start upstream OpenStack Ironic from PyPI
                        (Benchmarks/reference-ironic.sh) and print ratios

Servers run one after another, never at the same time. Only servers started
here are stopped here, by their PID (and, for the reference, its worker
processes), also when the run fails or is interrupted.

See Benchmarks/README.md for how to read the figures.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import http.client
import json
import math
import os
import platform
import re
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any, Callable

API_VERSION = "1.78"
HEADERS = {"X-OpenStack-Ironic-API-Version": API_VERSION, "Accept": "application/json"}
LOOPBACK = "127.0.0.1"
HERE = Path(__file__).resolve().parent
REFERENCE_SCRIPT = HERE / "reference-ironic.sh"


class BenchError(Exception):
    """A benchmark step failed; the message says which and why."""


def log(message: str) -> None:
    print(message, flush=True)


def percentile(sorted_values: list[float], pct: float) -> float:
    """Nearest-rank percentile of an ascending list (pct in 0..100)."""
    if not sorted_values:
        return float("nan")
    rank = max(1, math.ceil(pct / 100.0 * len(sorted_values)))
    return sorted_values[rank - 1]


# --------------------------------------------------------------------------
# HTTP
# --------------------------------------------------------------------------

# A connection that breaks (reset, closed) before the response was read.
CONNECTION_ERRORS = (ConnectionError, http.client.HTTPException)


class Client:
    """One keep-alive HTTP/1.1 connection to 127.0.0.1:port (not thread-safe:
    one per thread)."""

    GET_ATTEMPTS = 4

    def __init__(self, port: int, timeout: float = 60.0):
        self.port = port
        self.timeout = timeout
        self.conn: http.client.HTTPConnection | None = None
        self.used = False  # has the current connection carried a request yet?
        self.retries = 0  # requests sent again after a broken connection

    def _connect(self) -> http.client.HTTPConnection:
        # An idle keep-alive connection that has become readable was closed by
        # the server (or holds junk): drop it before sending, as urllib3 does.
        if self.conn is not None and self.conn.sock is not None:
            readable, _, _ = select.select([self.conn.sock], [], [], 0)
            if readable:
                self.close()
        if self.conn is None:
            self.conn = http.client.HTTPConnection(LOOPBACK, self.port, timeout=self.timeout)
            self.used = False
        return self.conn

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, bytes]:
        """Sends one request and reads the whole response.

        When the connection breaks before the response is read, the request
        is sent again on a new connection (counted in `retries`):
        - a GET, up to GET_ATTEMPTS times in all, since it changes nothing
          (servers with a small listen backlog reset some of a burst of new
          connections);
        - any other method only once, and only when the connection had
          already carried a request: then the server had closed it while it
          was idle, and it cannot have processed this request. Otherwise the
          error is raised, and the caller decides (see phase_deploy).
        """
        headers = dict(HEADERS)
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        attempts = self.GET_ATTEMPTS if method == "GET" else 2
        for attempt in range(1, attempts + 1):
            conn = self._connect()
            reused = self.used
            try:
                conn.request(method, path, body=payload, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                self.used = True
                if resp.will_close:
                    self.close()
                return resp.status, data
            except CONNECTION_ERRORS:
                self.close()
                if attempt == attempts or not (method == "GET" or reused):
                    raise
                self.retries += 1
                time.sleep(0.01 * attempt)
        raise AssertionError("unreachable")

    def json(self, method: str, path: str, body: Any = None, expect: tuple[int, ...] = (200,)) -> Any:
        status, data = self.request(method, path, body)
        if status not in expect:
            raise BenchError(f"{method} {path} -> HTTP {status}: {data[:300]!r}")
        return json.loads(data) if data else None


def path_of(url: str) -> str:
    """Path and query of a `next` link (the host part is ignored: we only ever
    talk to 127.0.0.1 on the port we already use)."""
    parts = urllib.parse.urlsplit(url)
    return parts.path + ("?" + parts.query if parts.query else "")


# --------------------------------------------------------------------------
# Processes and memory
# --------------------------------------------------------------------------

def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def proc_stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, start time in clock ticks) of a live process, else None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()  # the command name may contain spaces and ')'
    return int(fields[1]), int(fields[19])


def descendants(pid: int) -> list[int]:
    """Every live process below pid (children, grandchildren, ...)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = proc_stat(int(entry))
            if st is not None:
                children.setdefault(st[0], []).append(int(entry))
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return sorted(found)


def proc_memory_kib(pid: int) -> dict[str, int] | None:
    """VmRSS and VmHWM (KiB) from /proc/PID/status, plus Pss from
    /proc/PID/smaps_rollup when readable; None if the process is gone."""
    values: dict[str, int] = {}
    for name, keys in (("status", ("VmRSS", "VmHWM")), ("smaps_rollup", ("Pss",))):
        try:
            lines = Path(f"/proc/{pid}/{name}").read_text().splitlines()
        except OSError:
            if name == "status":
                return None
            continue
        for line in lines:
            key, _, rest = line.partition(":")
            if key in keys:
                values[key] = int(rest.split()[0])
    return values


def memory_report(pid: int) -> dict[str, Any] | None:
    """Memory of pid and, if it has any, its descendants (the reference runs a
    master process and a forked worker). Totals are sums over the tree. Pages
    a fork shares are counted in every VmRSS, and the VmHWM peaks need not
    coincide, so for a tree those sums overstate; the Pss sum (each shared page
    split between the processes mapping it) is the fairer total for a tree."""
    pids = [pid] + descendants(pid)
    processes = []
    for p in pids:
        mem = proc_memory_kib(p)
        if mem is not None:
            try:
                cmd = Path(f"/proc/{p}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                cmd = "?"
            processes.append({"pid": p, "cmd": cmd.strip(), "vmrss_kib": mem.get("VmRSS", 0),
                              "vmhwm_kib": mem.get("VmHWM", 0), "pss_kib": mem.get("Pss")})
    if not processes:
        return None
    return {
        "vmrss_mib": sum(p["vmrss_kib"] for p in processes) / 1024.0,
        "vmhwm_mib": sum(p["vmhwm_kib"] for p in processes) / 1024.0,
        "pss_mib": (sum(p["pss_kib"] for p in processes) / 1024.0
                    if all(p["pss_kib"] is not None for p in processes) else None),
        "processes": processes,
    }


def log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as e:
        return f"<cannot read {path}: {e}>"


class ManagedServer:
    """A server process this script starts in its own temp dir and stops by PID."""

    label = "server"

    def __init__(self, start_timeout: float, keep_workdir: bool):
        self.start_timeout = start_timeout
        self.keep_workdir = keep_workdir
        self.workdir = Path(tempfile.mkdtemp(prefix=f"ironic-bench-{self.label}-"))
        self.log_path = self.workdir / "server.log"
        self.proc: subprocess.Popen | None = None
        self.port = 0
        self.failed = False

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def command(self, port: int) -> list[str]:
        raise NotImplementedError

    def start(self) -> None:
        # A port picked by binding to :0 could be taken again before the server
        # binds it; on "address in use" try another one.
        for _ in range(3):
            self.port = free_loopback_port()
            with open(self.log_path, "ab") as out:
                self.proc = subprocess.Popen(
                    self.command(self.port), cwd=self.workdir, stdin=subprocess.DEVNULL,
                    stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
            if self._wait_until_up():
                return
            if "in use" not in log_tail(self.log_path, 10).lower():
                break
        self.failed = True
        how = (f"exited with status {self.proc.returncode}" if self.proc and self.proc.returncode is not None
               else f"did not answer GET / with 200 within {self.start_timeout:.0f}s")
        raise BenchError(f"{self.label} {how} (log {self.log_path}):\n{log_tail(self.log_path)}")

    def _wait_until_up(self) -> bool:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                conn = http.client.HTTPConnection(LOOPBACK, self.port, timeout=2)
                conn.request("GET", "/", headers=HEADERS)
                status = conn.getresponse().status
                conn.close()
                if status == 200:
                    return True
            except (OSError, http.client.HTTPException):
                pass
            time.sleep(0.2)
        self.stop()
        return False

    def stop(self) -> None:
        """SIGTERM to our PID, SIGKILL after 20 s; the PID's own descendants are
        noted first and, if still alive (same start time) after the master is
        gone, killed too. Nothing else is signalled."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            family = [(p, proc_stat(p)) for p in descendants(proc.pid)]
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
            deadline = time.monotonic() + 10
            for p, st in family:
                while st is not None and proc_stat(p) is not None and proc_stat(p)[1] == st[1]:
                    if time.monotonic() > deadline:
                        os.kill(p, signal.SIGKILL)
                        break
                    time.sleep(0.1)

    def cleanup(self) -> None:
        self.stop()
        if self.failed or self.keep_workdir:
            log(f"  ({self.label} files kept in {self.workdir})")
        else:
            shutil.rmtree(self.workdir, ignore_errors=True)


class SwiftIronic(ManagedServer):
    label = "swift-ironic"

    def __init__(self, binary: Path, **kw):
        self.binary = binary
        super().__init__(**kw)

    def command(self, port: int) -> list[str]:
        config = self.workdir / "ironic.conf"
        config.write_text(
            "[DEFAULT]\n"
            "host = bench-conductor\n"
            "enabled_hardware_types = fake-hardware\n"
            "[api]\n"
            f"host_ip = {LOOPBACK}\n"
            f"port = {port}\n"
            "max_limit = 1000\n"
            "[database]\n"
            f"connection = sqlite:///{self.workdir / 'ironic.sqlite'}\n"
            "[conductor]\n"
            "heartbeat_interval = 5\n"
            "automated_clean = false\n"
            # no boot file server: nothing here network-boots, and its port would clash
            "[deploy]\n"
            "http_server_host =\n")
        return [str(self.binary), "standalone", "--config-file", str(config)]


class ReferenceIronic(ManagedServer):
    """Upstream Ironic via reference-ironic.sh, which execs the service, so the
    PID we hold is its master process."""
    label = "reference-ironic"

    def command(self, port: int) -> list[str]:
        return ["bash", str(REFERENCE_SCRIPT), "serve", "--port", str(port), "--workdir", str(self.workdir)]


# --------------------------------------------------------------------------
# The measurements
# --------------------------------------------------------------------------

def phase_create(port: int, count: int, run_id: str, tagged: int, resource_class: str,
                 timeout: float) -> dict[str, Any]:
    """Sequential POST /v1/nodes on one keep-alive connection. The first
    `tagged` nodes (those phase 4 deploys) also get `resource_class`, so that
    phase can watch exactly them with one filtered listing."""
    client = Client(port)
    client.request("GET", "/v1")  # open the connection outside the timed loop
    uuids: list[str] = []
    latencies: list[float] = []
    step = max(1, count // 10)
    start = time.perf_counter()
    deadline = start + timeout
    for i in range(count):
        t0 = time.perf_counter()
        body = {"driver": "fake-hardware", "name": f"bench-{run_id}-{i:05d}"}
        if i < tagged:
            body["resource_class"] = resource_class
        node = client.json("POST", "/v1/nodes", body, expect=(201,))
        latencies.append(time.perf_counter() - t0)
        uuids.append(node["uuid"])
        done = i + 1
        if done % step == 0 or done == count:
            elapsed = time.perf_counter() - start
            log(f"    created {done}/{count}  ({done / elapsed:.0f} nodes/s)")
        if time.perf_counter() > deadline and done < count:
            raise BenchError(f"creating {count} nodes took over {timeout:.0f}s (stopped at {done})")
    elapsed = time.perf_counter() - start
    client.close()
    latencies.sort()
    return {
        "nodes": count,
        "seconds": elapsed,
        "nodes_per_s": count / elapsed,
        "latency_p50_ms": percentile(latencies, 50) * 1e3,
        "latency_p99_ms": percentile(latencies, 99) * 1e3,
        "uuids": uuids,
    }


def list_nodes(client: Client, path: str, max_pages: int, deadline: float) -> tuple[list[dict], int, int]:
    """One full listing starting at `path`, following `next` links.

    Returns (nodes, pages, bytes). Ironic adds `next` whenever a page is full,
    so exactly max_limit nodes take two requests (the second page is empty).
    Callers that time this include the JSON decoding of every page."""
    nodes: list[dict] = []
    pages = size = 0
    while path:
        if pages >= max_pages or time.perf_counter() > deadline:
            raise BenchError(f"listing did not finish within {max_pages} pages / the phase timeout")
        status, data = client.request("GET", path)
        if status != 200:
            raise BenchError(f"GET {path} -> HTTP {status}: {data[:300]!r}")
        page = json.loads(data)
        nodes.extend(page["nodes"])
        pages += 1
        size += len(data)
        path = path_of(page["next"]) if page.get("next") else ""
    return nodes, pages, size


def phase_list(port: int, expected: int, runs: int, timeout: float) -> dict[str, Any]:
    """--list-runs timed full listings after one untimed warm-up listing."""
    client = Client(port)
    deadline = time.perf_counter() + timeout
    max_pages = expected + 10  # even at limit=1 this would be enough
    path = "/v1/nodes?detail=True"
    nodes, pages, size = list_nodes(client, path, max_pages, deadline)  # warm-up
    if len(nodes) < expected:
        raise BenchError(f"GET {path} returned {len(nodes)} nodes, expected at least {expected}")
    times: list[float] = []
    for run in range(runs):
        t0 = time.perf_counter()
        nodes, pages, size = list_nodes(client, path, max_pages, deadline)
        times.append(time.perf_counter() - t0)
        log(f"    run {run + 1}/{runs}: {times[-1] * 1e3:.1f} ms "
            f"({len(nodes)} nodes, {pages} page(s), {size / 1e6:.2f} MB)")
    client.close()
    return {
        "runs": runs,
        "nodes": len(nodes),
        "pages": pages,
        "bytes": size,
        "median_ms": statistics.median(times) * 1e3,
        "min_ms": min(times) * 1e3,
        "max_ms": max(times) * 1e3,
    }


def phase_get_python(port: int, path: str, concurrency: int, seconds: float, max_requests: int) -> dict[str, Any]:
    """`concurrency` threads, each with its own keep-alive connection, GET the
    same node until `seconds` pass or `max_requests` have been sent in all."""
    per_thread = max(1, max_requests // concurrency)
    latencies: list[list[float]] = [[] for _ in range(concurrency)]
    errors = [0] * concurrency
    failures: list[str] = []
    barrier = threading.Barrier(concurrency + 1)
    window: dict[str, float] = {}

    retries = [0] * concurrency

    def worker(index: int) -> None:
        client = Client(port, timeout=30)
        mine = latencies[index]
        try:
            client.request("GET", path)  # connect + warm up, untimed
        except Exception as e:  # noqa: BLE001 - reported below
            failures.append(repr(e))
        barrier.wait(timeout=60)
        end = window["end"]
        clock = time.perf_counter
        try:
            for _ in range(per_thread):
                t0 = clock()
                if t0 >= end:
                    break
                status, _ = client.request("GET", path)
                mine.append(clock() - t0)
                if status != 200:
                    errors[index] += 1
        except Exception as e:  # noqa: BLE001 - reported below
            failures.append(repr(e))
        finally:
            retries[index] = client.retries
            client.close()

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(concurrency)]
    for t in threads:
        t.start()
    # The workers read the end of the window only after the barrier, by which
    # time every one of them has its connection open.
    start = time.perf_counter()
    window["end"] = start + seconds
    barrier.wait(timeout=60)
    for t in threads:
        t.join(timeout=seconds + 60)
    elapsed = time.perf_counter() - start
    if failures:
        raise BenchError(f"GET {path}: {len(failures)} client(s) failed, first: {failures[0]}")
    merged = sorted(x for part in latencies for x in part)
    total = len(merged)
    return {
        "clients": concurrency,
        "seconds": elapsed,
        "requests": total,
        "errors": sum(errors),
        "connection_retries": sum(retries),
        "req_per_s": total / elapsed,
        "p50_ms": percentile(merged, 50) * 1e3,
        "p99_ms": percentile(merged, 99) * 1e3,
        "max_ms": (merged[-1] if merged else float("nan")) * 1e3,
    }


_WRK_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _wrk_ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not match:
        raise ValueError(text)
    return float(match.group(1)) * _WRK_UNITS[match.group(2)]


def phase_get_wrk(port: int, path: str, concurrency: int, seconds: float) -> dict[str, Any] | None:
    """wrk -t2 -c<concurrency> -d<seconds>s --latency, if wrk is installed."""
    wrk = shutil.which("wrk")
    if wrk is None:
        log("    wrk not installed (Debian: apt-get install wrk); skipped")
        return None
    threads = max(1, min(2, concurrency))
    cmd = [wrk, f"-t{threads}", f"-c{concurrency}", f"-d{max(1, round(seconds))}s", "--latency",
           "--timeout", "10s", "-H", f"X-OpenStack-Ironic-API-Version: {API_VERSION}",
           f"http://{LOOPBACK}:{port}{path}"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
    if out.returncode != 0:
        raise BenchError(f"wrk failed ({out.returncode}): {out.stderr.strip() or out.stdout.strip()}")
    text = out.stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    p50 = re.search(r"^\s+50%\s+(\S+)", text, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", text, re.M)
    total = re.search(r"(\d+) requests in", text)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if not (rps and p99 and total):
        raise BenchError(f"could not parse wrk output:\n{text}")
    return {
        "command": " ".join(cmd),
        "clients": concurrency,
        "threads": threads,
        "requests": int(total.group(1)),
        "req_per_s": float(rps.group(1)),
        "p50_ms": _wrk_ms(p50.group(1)) if p50 else float("nan"),
        "p99_ms": _wrk_ms(p99.group(1)),
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": sum(int(x) for x in sock.groups()) if sock else 0,
    }


# One provision step: (target sent, state the node must end in).
DEPLOY_STEPS = (("manage", "manageable"), ("provide", "available"), ("active", "active"))


def phase_deploy(port: int, uuids: list[str], resource_class: str, workers: int, timeout: float,
                 poll_max: float) -> dict[str, Any]:
    """Takes every node in `uuids` through manage -> provide -> active, all at
    the same time, the way one client with a connection pool would:

    - a pool of `workers` threads, each with its own keep-alive connection,
      sends the `PUT /v1/nodes/{uuid}/states/provision` requests (409 and 503
      are retried, boundedly);
    - one poller lists the nodes with a single filtered request
      (`?resource_class=...&fields=...`, only these nodes) and, for each node
      whose step has finished (target_provision_state null), checks the state
      it reached and hands its next step to the pool.

    One listing per poll keeps the watching cheap whatever the node count, so
    the client's polling does not compete with the conductor for the server
    (100 nodes polled one by one would be the heaviest load in the run for a
    slow server). The pause between polls starts at 10 ms, doubles while
    nothing changes up to `poll_max`, and drops back to 10 ms after a change.
    """
    count = len(uuids)
    pending = set(uuids)
    step = dict.fromkeys(uuids, 0)  # index in DEPLOY_STEPS of the node's current step
    step_sent: dict[str, float] = {}  # when the current step was handed to the pool
    accepted: dict[str, float | None] = {}  # when its PUT got 202 (None: not yet)
    step_seconds: dict[str, dict[str, float]] = {u: {} for u in uuids}
    finished: dict[str, float] = {}
    failures: list[str] = []
    lock = threading.Lock()
    local = threading.local()
    clients: list[Client] = []

    def put(uuid: str, target: str, final: str, deadline: float) -> None:
        if not hasattr(local, "client"):
            local.client = Client(port, timeout=60)
            with lock:
                clients.append(local.client)
        client = local.client
        for _ in range(100):
            try:
                status, data = client.request("PUT", f"/v1/nodes/{uuid}/states/provision", {"target": target})
            except CONNECTION_ERRORS:
                # The connection broke before the answer: the node tells
                # whether the request got through. It did if the step is
                # under way (a target is set) or over (the node is in the
                # step's final state, which is never the state it starts
                # from); otherwise send it again.
                client.retries += 1
                node = client.json("GET", f"/v1/nodes/{uuid}?fields=provision_state,target_provision_state")
                if node["target_provision_state"] is None and node["provision_state"] != final:
                    continue
                status, data = 202, b""
            if status == 202:
                with lock:
                    accepted[uuid] = time.perf_counter()
                return
            if status in (409, 503) and time.perf_counter() < deadline:
                time.sleep(0.05)
                continue
            raise BenchError(f"{uuid}: PUT target={target} -> HTTP {status}: {data[:200]!r}")
        raise BenchError(f"{uuid}: PUT target={target} still refused after 100 tries")

    executor = concurrent.futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="deploy")
    futures: set[concurrent.futures.Future] = set()

    def dispatch(uuid: str, deadline: float) -> None:
        with lock:
            accepted[uuid] = None
        step_sent[uuid] = time.perf_counter()
        futures.add(executor.submit(put, uuid, *DEPLOY_STEPS[step[uuid]], deadline))

    poller = Client(port, timeout=60)
    path = (f"/v1/nodes?resource_class={urllib.parse.quote(resource_class)}"
            "&fields=uuid,provision_state,target_provision_state,last_error")
    polls = 0
    start = time.perf_counter()
    deadline = start + timeout
    next_report = start + 5.0
    try:
        for uuid in uuids:
            dispatch(uuid, deadline)
        delay = 0.01
        while pending:
            for f in [f for f in futures if f.done()]:
                futures.discard(f)
                if f.exception() is not None:
                    e = f.exception()
                    failures.append(str(e) if isinstance(e, BenchError) else repr(e))
            if failures:
                raise BenchError(f"{len(failures)} node(s) failed to deploy; first: {failures[0]}")
            now = time.perf_counter()
            if now > deadline:
                raise BenchError(f"{len(pending)}/{count} nodes not active after {timeout:.0f}s")
            if now >= next_report:
                log(f"    {now - start:5.1f}s: {len(finished)}/{count} active")
                next_report += 5.0
            time.sleep(delay)
            poll_started = time.perf_counter()
            nodes, _, _ = list_nodes(poller, path, max_pages=count + 10, deadline=deadline)
            seen = time.perf_counter()
            polls += 1
            changed = False
            for node in nodes:
                uuid = node["uuid"]
                with lock:
                    acked = accepted.get(uuid)
                # Only a listing that began after the PUT was accepted says
                # anything about this step.
                if uuid not in pending or acked is None or acked >= poll_started:
                    continue
                if node["target_provision_state"] is not None:
                    continue
                target, final = DEPLOY_STEPS[step[uuid]]
                if node["provision_state"] != final:
                    failures.append(f"{uuid}: {target} ended in {node['provision_state']!r}, not {final!r} "
                                    f"(last_error: {node.get('last_error')})")
                    continue
                changed = True
                step_seconds[uuid][target] = seen - step_sent[uuid]
                if step[uuid] + 1 == len(DEPLOY_STEPS):
                    pending.discard(uuid)
                    finished[uuid] = seen
                else:
                    step[uuid] += 1
                    dispatch(uuid, deadline)
            delay = 0.01 if changed else min(poll_max, delay * 2)
        if failures:
            raise BenchError(f"{len(failures)} node(s) failed to deploy; first: {failures[0]}")
    finally:
        executor.shutdown(wait=False, cancel_futures=True)
        poller.close()
    executor.shutdown(wait=True)
    retries = poller.retries + sum(c.retries for c in clients)
    for client in clients:
        client.close()
    wall = max(finished.values()) - start
    log(f"    {wall:5.1f}s: {count}/{count} active ({polls} polls, {retries} connection retries)")
    per_node = [finished[u] - start for u in uuids]
    return {
        "nodes": count,
        "wall_s": wall,
        "per_node_median_s": statistics.median(per_node),
        "step_median_s": {t: statistics.median(step_seconds[u][t] for u in uuids) for t, _ in DEPLOY_STEPS},
        "polls": polls,
        "connection_retries": retries,
        "put_workers": workers,
        "poll_max_s": poll_max,
    }


def run_suite(label: str, port: int, pid: int | None, args: argparse.Namespace) -> dict[str, Any]:
    """All phases against one server on 127.0.0.1:port."""
    result: dict[str, Any] = {"label": label, "endpoint": f"http://{LOOPBACK}:{port}", "pid": pid}
    run_id = f"{int(time.time())}-{os.getpid()}"
    deploy = min(args.deploy, args.nodes)
    resource_class = f"bench-deploy-{run_id}"  # marks the nodes phase 4 deploys
    if pid is not None:
        result["memory_idle"] = memory_report(pid)

    log(f"[{label}] phase 1/5: create {args.nodes} nodes sequentially")
    created = phase_create(port, args.nodes, run_id, deploy, resource_class, args.phase_timeout)
    uuids = created.pop("uuids")
    result["create"] = created

    log(f"[{label}] phase 2/5: GET /v1/nodes?detail=True x{args.list_runs} (after 1 warm-up)")
    result["list"] = phase_list(port, args.nodes, args.list_runs, args.phase_timeout)

    # Runs before phase 4 changes any node; the last node is also outside the
    # deployed set (unless --deploy >= --nodes), so it is the same every time.
    node_path = f"/v1/nodes/{uuids[-1]}"
    log(f"[{label}] phase 3/5: GET {node_path}, {args.concurrency} clients, {args.get_seconds:g}s")
    log("    python threads ...")
    py = phase_get_python(port, node_path, args.concurrency, args.get_seconds, args.get_max_requests)
    log(f"    python: {py['req_per_s']:.0f} req/s, p99 {py['p99_ms']:.2f} ms, {py['errors']} errors, "
        f"{py['connection_retries']} connection retries")
    result["get_python"] = py
    if py["errors"]:
        raise BenchError(f"GET {node_path}: {py['errors']} of {py['requests']} responses were not 200")
    if not args.no_wrk:
        log("    wrk ...")
        wrk = phase_get_wrk(port, node_path, args.concurrency, args.get_seconds)
        if wrk:
            log(f"    wrk:    {wrk['req_per_s']:.0f} req/s, p99 {wrk['p99_ms']:.2f} ms, "
                f"{wrk['non_2xx']} non-2xx, {wrk['socket_errors']} socket errors")
        result["get_wrk"] = wrk
        if wrk and (wrk["non_2xx"] or wrk["socket_errors"]):
            raise BenchError(f"wrk: {wrk['non_2xx']} non-2xx responses, {wrk['socket_errors']} socket errors")

    log(f"[{label}] phase 4/5: {deploy} nodes manage -> provide -> deploy in parallel "
        f"({args.concurrency} PUT workers, one poller)")
    result["deploy"] = phase_deploy(port, uuids[:deploy], resource_class, args.concurrency,
                                    args.phase_timeout, args.poll_max)

    log(f"[{label}] phase 5/5: memory")
    if pid is not None:
        mem = memory_report(pid)
        if mem is None:
            raise BenchError(f"server PID {pid} is gone")
        result["memory"] = mem
        for p in mem["processes"]:
            pss = f", Pss {p['pss_kib'] / 1024:.1f} MiB" if p["pss_kib"] is not None else ""
            log(f"    pid {p['pid']}: VmRSS {p['vmrss_kib'] / 1024:.1f} MiB, VmHWM {p['vmhwm_kib'] / 1024:.1f} MiB"
                f"{pss}  ({Path(p['cmd'].split(' ')[0]).name} ...)")
    else:
        log("    skipped (no --pid for this endpoint)")
        result["memory"] = None
    return result


# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------

# (title, unit, getter, higher_is_better)
ROWS: list[tuple[str, str, Callable[[dict], float | None], bool]] = [
    ("create, sequential", "nodes/s", lambda r: r["create"]["nodes_per_s"], True),
    ("list detail=True (median)", "ms", lambda r: r["list"]["median_ms"], False),
    ("GET node, python threads", "req/s", lambda r: r["get_python"]["req_per_s"], True),
    ("GET node, python threads p99", "ms", lambda r: r["get_python"]["p99_ms"], False),
    ("GET node, wrk", "req/s", lambda r: (r.get("get_wrk") or {}).get("req_per_s"), True),
    ("GET node, wrk p99", "ms", lambda r: (r.get("get_wrk") or {}).get("p99_ms"), False),
    ("deploy in parallel, wall", "s", lambda r: r["deploy"]["wall_s"], False),
    ("VmRSS after run", "MiB", lambda r: (r.get("memory") or {}).get("vmrss_mib"), False),
    ("VmHWM after run", "MiB", lambda r: (r.get("memory") or {}).get("vmhwm_mib"), False),
    ("Pss after run", "MiB", lambda r: (r.get("memory") or {}).get("pss_mib"), False),
]


def fmt(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def ratios(first: dict, second: dict) -> dict[str, float]:
    """How many times better `first` is than `second` on each row (> 1: first
    is better): first/second for rates, second/first for times and memory."""
    out: dict[str, float] = {}
    for title, unit, get, higher in ROWS:
        a, b = get(first), get(second)
        if a and b:
            out[f"{title} ({unit})"] = (a / b) if higher else (b / a)
    return out


def print_table(results: list[dict], args: argparse.Namespace) -> None:
    labels = [r["label"] for r in results]
    rows = [(f"{title} ({unit})", [get(r) for r in results]) for title, unit, get, _ in ROWS]
    rat = ratios(results[0], results[1]) if len(results) == 2 else None
    width = max(len(name) for name, _ in rows)
    head = f"{'':<{width}}" + "".join(f"  {l:>16}" for l in labels)
    if rat is not None:
        head += f"  {'ratio':>8}"
    log("")
    log(f"nodes {args.nodes}, list runs {args.list_runs}, GET {args.concurrency} clients x {args.get_seconds:g}s, "
        f"deploy {args.deploy}, API {API_VERSION}")
    log(head)
    log("-" * len(head))
    for name, values in rows:
        line = f"{name:<{width}}" + "".join(f"  {fmt(v):>16}" for v in values)
        if rat is not None:
            line += f"  {(fmt(rat[name]) + 'x') if name in rat else '-':>8}"
        log(line)
    if rat is not None:
        log(f"ratio: how many times better {labels[0]} is than {labels[1]} (>1 = better; "
            "rates divided, times and memory inverted)")
    if any(r.get("memory") and len(r["memory"]["processes"]) > 1 for r in results):
        log("memory: summed over each server's process tree (master + workers); VmRSS/VmHWM count\n"
            "        fork-shared pages once per process, Pss splits them (compare Pss across trees)")


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------

def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    target = p.add_argument_group("servers (at least one)")
    target.add_argument("--ironic", type=Path, help="swift-ironic binary to start (`ironic standalone`)")
    target.add_argument("--endpoint", help="URL of a running server on 127.0.0.1 (e.g. http://127.0.0.1:6385)")
    target.add_argument("--pid", type=int, help="PID of the --endpoint server, to read its memory")
    target.add_argument("--reference-ironic", action="store_true",
                        help="also start upstream Ironic via Benchmarks/reference-ironic.sh and print ratios")
    p.add_argument("--nodes", type=int, default=1000, help="nodes to enroll")
    p.add_argument("--deploy", type=int, default=100, help="nodes to take to active in parallel")
    p.add_argument("--get-seconds", type=float, default=10.0, help="duration of each single-node GET run")
    p.add_argument("--get-max-requests", type=int, default=2_000_000, help="cap on requests per Python GET run")
    p.add_argument("--concurrency", type=int, default=16, help="clients for the single-node GET runs; also the PUT workers of the deploy phase")
    p.add_argument("--list-runs", type=int, default=5, help="timed full listings (median reported)")
    p.add_argument("--poll-max", type=float, default=0.1, help="longest pause between state polls during deploy (s)")
    p.add_argument("--phase-timeout", type=float, default=600.0, help="limit for each create/list/deploy phase (s)")
    p.add_argument("--start-timeout", type=float, default=120.0, help="limit for a server to answer GET / (s)")
    p.add_argument("--no-wrk", action="store_true", help="skip wrk even if installed")
    p.add_argument("--keep-workdir", action="store_true", help="keep the started servers' temp dirs (logs, DB)")
    p.add_argument("--json", type=Path, help="also write all figures to this JSON file")
    args = p.parse_args(argv)
    if not (args.ironic or args.endpoint or args.reference_ironic):
        p.error("give --ironic PATH, --endpoint URL and/or --reference-ironic")
    if args.pid is not None and not args.endpoint:
        p.error("--pid goes with --endpoint")
    for name in ("nodes", "deploy", "concurrency", "list_runs", "get_max_requests"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.get_seconds <= 0 or args.poll_max <= 0:
        p.error("--get-seconds and --poll-max must be positive")
    if args.ironic:
        args.ironic = args.ironic.resolve()
        if not (args.ironic.is_file() and os.access(args.ironic, os.X_OK)):
            p.error(f"not an executable: {args.ironic}")
    if args.endpoint:
        url = urllib.parse.urlsplit(args.endpoint)
        if url.scheme != "http" or url.hostname not in (LOOPBACK, "localhost") or not url.port:
            p.error("--endpoint must be http://127.0.0.1:PORT (loopback only)")
        args.endpoint_port = url.port
    return args


def _terminate(signum: int, _frame: Any) -> None:
    # Turn SIGTERM/SIGHUP into an exception so the `finally` that stops our
    # servers runs.
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)

    # (label, factory of a started ManagedServer or None for --endpoint)
    plan: list[tuple[str, Callable[[], ManagedServer | None]]] = []
    common = {"start_timeout": args.start_timeout, "keep_workdir": args.keep_workdir}
    if args.ironic:
        plan.append(("swift-ironic", lambda: SwiftIronic(args.ironic, **common)))
    if args.endpoint:
        plan.append(("endpoint", lambda: None))
    if args.reference_ironic:
        log("[reference-ironic] setting up the venv (Benchmarks/reference-ironic.sh setup)")
        try:
            subprocess.run(["bash", str(REFERENCE_SCRIPT), "setup"], check=True, timeout=1800)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as e:
            log(f"bench: FAILED: reference set-up: {e}")
            return 1
        plan.append(("reference-ironic", lambda: ReferenceIronic(**common)))

    results: list[dict] = []
    server: ManagedServer | None = None
    status = 0
    try:
        for label, make in plan:
            server = make()
            if server is None:
                results.append(run_suite(label, args.endpoint_port, args.pid, args))
                continue
            log(f"[{label}] starting ({server.workdir})")
            server.start()
            log(f"[{label}] pid {server.pid} on http://{LOOPBACK}:{server.port}")
            try:
                results.append(run_suite(label, server.port, server.pid, args))
            except BaseException:
                server.failed = True
                raise
            finally:
                server.cleanup()
                server = None
    except BenchError as e:
        log(f"\nbench: FAILED: {e}")
        status = 1
    except KeyboardInterrupt as e:
        log(f"\nbench: interrupted ({e or 'Ctrl-C'})")
        status = 130
    finally:
        if server is not None:  # failed before run_suite's own cleanup
            server.failed = True
            server.cleanup()

    if results:
        print_table(results, args)
    if args.json and results:
        document = {
            "meta": {
                "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "host": platform.node(),
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "api_version": API_VERSION,
                "complete": status == 0,
                "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            },
            "results": results,
            "ratios": ratios(results[0], results[1]) if len(results) == 2 else None,
        }
        args.json.write_text(json.dumps(document, indent=2) + "\n")
        log(f"figures written to {args.json}")
    return status


if __name__ == "__main__":
    sys.exit(main())
