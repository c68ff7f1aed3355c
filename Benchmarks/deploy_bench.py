#!/usr/bin/env python3
"""Real deploys of lab virtual machines, split into time in the VM and time in the conductor.

Plain Python 3 standard library. In one run, with one copy of the binary, it:

  a. deploys one lab VM alone:        manage -> provide -> deploy to `active`
  b. deploys --vms (8) lab VMs at once, the same way

Each phase starts its own `ironic standalone` (SQLite in a temp dir, 127.0.0.1,
`[conductor] automated_clean = false`, so the figure is the deploy, not
cleaning) and its own lab (`ironic lab up --vms N`, `lab enroll`, and always
`lab down`). The image is var/images/test-image.raw with its sha256
(`make test-images`).

Where the time goes is measured from outside the service: a recording HTTP
proxy sits on both paths between the agent and the conductor.

  agent -> API        `[service_catalog] endpoint_override` (the agent's
                      ipa-api-url) names the proxy, which forwards to the API;
                      heartbeats carry the node's UUID in their URL
  conductor -> agent  each node's `driver_info.kernel_append_params` is patched
                      after enrolment so the agent advertises a proxy port
                      (one per node) that forwards to the lab's forwarded
                      agent port

From those timestamps (and the moments each VM's QEMU process starts and ends,
and the nodes' provision_updated_at) every deploy is split into time in the
conductor, time in the VM and time in this client's polling. See
Benchmarks/README.md ("Deploys of lab VMs") for the exact rules and how to read
the figures. Only processes started here are stopped here, by PID; the labs by
their own `ironic lab down`.
"""
from __future__ import annotations

import argparse
import datetime
import hashlib
import http.client
import http.server
import json
import os
import platform
import re
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_api import API_VERSION, HEADERS, LOOPBACK, Api, BenchError  # noqa: E402

# The host as the VMs see it on QEMU's user-mode network: its 127.0.0.1.
HOST_FROM_VM = "10.0.2.2"
REPO = Path(__file__).resolve().parent.parent
POLL_SECONDS = 0.2  # node state polls
PROGRESS_SECONDS = 10.0
WATCH_SECONDS = 0.05  # QEMU process checks
# Agent commands with wait=true (standby.sync) can take long; the conductor's own
# [agent] command_timeout decides, not the proxy.
UPSTREAM_TIMEOUT = 1800.0
FAILED_STATES = {"deploy failed", "clean failed", "inspect failed", "error", "rescue failed"}
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization",
              "te", "trailer", "transfer-encoding", "upgrade", "content-length"}


def log(message: str) -> None:
    print(message, flush=True)


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as e:
        return f"<cannot read {path}: {e}>"


def proc_stat(pid: int) -> tuple[str, int, int] | None:
    """(state, parent pid, start time in clock ticks) of a process, else None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()  # the command name may contain spaces and ')'
    return fields[0], int(fields[1]), int(fields[19])


def descendants(pid: int) -> list[int]:
    """Every live process below pid."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = proc_stat(int(entry))
            if st is not None:
                children.setdefault(st[1], []).append(int(entry))
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def other_qemu_machines(own_directory: Path) -> int:
    """QEMU machines on this host that are not ours (another test or lab sharing the CPUs)."""
    count = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if cmd and cmd[0].endswith(b"qemu-system-x86_64") and str(own_directory).encode() not in b" ".join(cmd):
            count += 1
    return count


def parse_time(value: Any) -> float | None:
    """Epoch seconds of an API timestamp (`2025-01-02T03:04:05.123456+00:00`)."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


# --------------------------------------------------------------------------
# The recording proxy
# --------------------------------------------------------------------------

@dataclass
class Exchange:
    """One request through a proxy: when it arrived and when its answer went back."""
    path: str  # "api" (agent -> API) or "agent" (conductor -> agent)
    node: str | None  # node UUID
    method: str
    url: str
    name: str  # heartbeat, lookup, poll, prepare_image, sync, power_off, ...
    arrived: float
    answered: float = 0.0
    status: int = 0
    tls: bool = False  # the agent serves TLS (heartbeat with agent_verify_ca; a TLS call)


class Recorder:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.exchanges: list[Exchange] = []

    def add(self, exchange: Exchange) -> None:
        with self.lock:
            self.exchanges.append(exchange)

    def snapshot(self) -> list[Exchange]:
        with self.lock:
            return list(self.exchanges)


HEARTBEAT_RE = re.compile(r"^/v1/heartbeat/([0-9a-fA-F-]{36})")


class ProxyTLS:
    """The proxy's own certificate for 127.0.0.1, for agents that serve TLS.

    ironic-python-agent generates a self-signed certificate at start-up and sends it in every
    heartbeat (`agent_verify_ca`); the conductor then calls `https://` + callback_url and trusts
    only that certificate. To see those calls, the agent->API proxy hands the conductor this
    certificate instead, the conductor->agent proxy presents it, and opens its own TLS
    connection to the agent for each request (the agent's handshake still happens, in the VM).
    """

    def __init__(self, directory: Path):
        key, cert = directory / "proxy.key", directory / "proxy.crt"
        if not shutil.which("openssl"):
            raise BenchError("openssl is needed to stand between the conductor and a TLS agent (Debian: openssl)")
        done = subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", f"/CN={LOOPBACK}",
             "-addext", f"subjectAltName=critical,IP:{LOOPBACK}"],
            capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60)
        if done.returncode != 0:
            raise BenchError(f"openssl req failed: {done.stderr.strip()}")
        self.pem = cert.read_text()
        self.server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.server.load_cert_chain(cert, key)
        # Loopback to the lab's forwarded port: the conductor has verified the agent's own
        # certificate for us before (we pass it nothing else).
        self.client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        self.client.check_hostname = False
        self.client.verify_mode = ssl.CERT_NONE


class RecordingProxy:
    """A threaded HTTP/1.1 proxy on 127.0.0.1 to 127.0.0.1:upstream that records every exchange.

    Each request goes upstream on a new connection and its whole answer is read before it is
    sent back, so `answered` is when the client got it. Bodies here are small JSON documents
    (the image travels over the conductor's boot file server, not through a proxy). A client
    that opens with a TLS handshake gets `tls` (and the request goes upstream over TLS); on
    the agent->API path, heartbeats' `agent_verify_ca` is replaced by `tls.pem` (ProxyTLS).
    """

    def __init__(self, path: str, upstream: int, recorder: Recorder, node: str | None = None,
                 tls: ProxyTLS | None = None):
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # One segment per answer, sent at once: no Nagle or delayed-ACK wait in the figures.
            disable_nagle_algorithm = True
            wbufsize = 1 << 16
            tls = False

            def setup(self) -> None:
                if proxy.tls is not None and proxy.path == "agent":
                    try:
                        first = self.request.recv(1, socket.MSG_PEEK)
                        if first == b"\x16":  # a TLS handshake record
                            self.request = proxy.tls.server.wrap_socket(self.request, server_side=True)
                            self.tls = True
                    except (OSError, ssl.SSLError):
                        self.request.close()
                        raise
                super().setup()

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _any(self) -> None:
                proxy.forward(self)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _any

        self.path = path
        self.upstream = upstream
        self.recorder = recorder
        self.node = node
        self.tls = tls
        self.server = http.server.ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.2},
                                       name=f"proxy-{path}-{self.port}", daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    @staticmethod
    def _body(handler: http.server.BaseHTTPRequestHandler) -> bytes | None:
        if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(handler.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while handler.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(handler.rfile.read(size))
                handler.rfile.readline()
        length = int(handler.headers.get("Content-Length") or 0)
        return handler.rfile.read(length) if length else None

    def _name(self, method: str, url: str, body: bytes | None) -> tuple[str, str | None]:
        node = self.node
        if self.path == "api":
            match = HEARTBEAT_RE.match(url)
            if match:
                return "heartbeat", match.group(1).lower()
            if url.startswith("/v1/lookup"):
                return "lookup", node
            return f"{method} {url.split('?')[0]}", node
        if url.startswith("/v1/commands"):
            if method == "GET":
                return "poll", node
            try:
                command = json.loads(body or b"{}").get("name", "?")
            except ValueError:
                command = "?"
            return command.split(".")[-1], node
        return f"{method} {url.split('?')[0]}", node

    def forward(self, handler: http.server.BaseHTTPRequestHandler) -> None:
        arrived = time.time()
        method, url = handler.command, handler.path
        body = self._body(handler)
        name, node = self._name(method, url, body)
        exchange = Exchange(self.path, node, method, url.split("?")[0], name, arrived)
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in HOP_BY_HOP}
        if name == "heartbeat" and self.tls is not None and body:
            try:
                document = json.loads(body)
                if document.get("agent_verify_ca"):
                    document["agent_verify_ca"] = self.tls.pem
                    body = json.dumps(document).encode()
                    exchange.tls = True
            except ValueError:
                pass
        exchange.tls = exchange.tls or getattr(handler, "tls", False)
        try:
            if getattr(handler, "tls", False):
                upstream = http.client.HTTPSConnection(LOOPBACK, self.upstream, timeout=UPSTREAM_TIMEOUT,
                                                       context=self.tls.client)
            else:
                upstream = http.client.HTTPConnection(LOOPBACK, self.upstream, timeout=UPSTREAM_TIMEOUT)
            try:
                upstream.request(method, url, body=body, headers=headers)
                response = upstream.getresponse()
                data = response.read()
                status = response.status
                reply_headers = [(k, v) for k, v in response.getheaders()
                                 if k.lower() not in HOP_BY_HOP and k.lower() not in ("date", "server")]
            finally:
                upstream.close()
        except (OSError, http.client.HTTPException) as e:
            status, data, reply_headers = 502, f"proxy: upstream {self.upstream}: {e}\n".encode(), []
        if name == "lookup" and status == 200:
            try:
                exchange.node = json.loads(data)["node"]["uuid"]
            except (ValueError, KeyError, TypeError):
                pass
        try:
            handler.send_response(status)
            for key, value in reply_headers:
                handler.send_header(key, value)
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            if method != "HEAD":
                handler.wfile.write(data)
            handler.wfile.flush()
        except OSError:
            handler.close_connection = True  # the client went away; recorded all the same
        finally:
            exchange.answered = time.time()
            exchange.status = status
            self.recorder.add(exchange)


# --------------------------------------------------------------------------
# The service, the lab, the API
# --------------------------------------------------------------------------


class Service:
    """`ironic standalone` in the phase's directory, stopped by its PID."""

    def __init__(self, binary: Path, workdir: Path, api_port: int, boot_port: int, proxy_port: int,
                 start_timeout: float, overrides: list[tuple[str, str, str]]):
        self.binary = binary
        self.workdir = workdir
        self.api_port = api_port
        self.log_path = workdir / "ironic.log"
        self.config = workdir / "ironic.conf"
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen | None = None
        sections: dict[str, dict[str, str]] = {
            "DEFAULT": {"host": "deploy-bench", "enabled_hardware_types": "ipmi"},
            "api": {"host_ip": LOOPBACK, "port": str(api_port)},
            "database": {"connection": f"sqlite:///{workdir / 'ironic.sqlite'}"},
            # The figure is the deploy: no automated cleaning on `provide`.
            "conductor": {"automated_clean": "false", "deploy_callback_timeout": "3600",
                          "clean_callback_timeout": "3600"},
            "deploy": {"http_url": f"http://{HOST_FROM_VM}:{boot_port}", "http_server_host": LOOPBACK,
                       "http_root": str(workdir / "httpboot")},
            # The agent's ipa-api-url: the recording proxy in front of the API.
            "service_catalog": {"endpoint_override": f"http://{HOST_FROM_VM}:{proxy_port}"},
            "ipmiproxy": {"port": "0"},
        }
        for section, key, value in overrides:
            sections.setdefault(section, {})[key] = value
        self.config.write_text("".join(f"[{name}]\n" + "".join(f"{k} = {v}\n" for k, v in values.items())
                                       for name, values in sections.items()))

    def start(self) -> None:
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen(
                [str(self.binary), "standalone", "--config-file", str(self.config)], cwd=self.workdir,
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"ironic exited with status {self.proc.returncode} (log {self.log_path}):\n"
                                 f"{log_tail(self.log_path)}")
            try:
                conn = http.client.HTTPConnection(LOOPBACK, self.api_port, timeout=2)
                conn.request("GET", "/", headers=HEADERS)
                status = conn.getresponse().status
                conn.close()
                if status == 200:
                    return
            except (OSError, http.client.HTTPException):
                pass
            time.sleep(0.2)
        raise BenchError(f"ironic did not answer GET / within {self.start_timeout:.0f} s (log {self.log_path})")

    def stop(self) -> None:
        """SIGTERM to our PID, SIGKILL after 20 s; its own children (noted first) follow."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        family = [(p, proc_stat(p)) for p in descendants(proc.pid)]
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        for p, st in family:
            now = proc_stat(p)
            if st is not None and now is not None and now[2] == st[2]:
                os.kill(p, signal.SIGKILL)


class Lab:
    """`ironic lab up --vms N` in a directory; `ironic lab down` ends it."""

    def __init__(self, binary: Path, directory: Path, vms: int, boot_port: int, vm_memory: int):
        self.binary = binary
        self.directory = directory
        self.vms = vms
        self.boot_port = boot_port
        self.vm_memory = vm_memory
        self.state: dict[str, Any] = {}
        self.acceleration = "?"
        self.lab_note = ""
        self.started = False

    def _run(self, *args: str, timeout: float) -> subprocess.CompletedProcess:
        return subprocess.run([str(self.binary), "lab", *args], capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=timeout, cwd=REPO)

    def up(self) -> None:
        self.started = True
        done = self._run("up", "--vms", str(self.vms), "--directory", str(self.directory),
                         "--boot-url", f"http://{HOST_FROM_VM}:{self.boot_port}/boot.ipxe",
                         "--vm-memory", str(self.vm_memory), timeout=300)
        if done.returncode != 0:
            raise BenchError(f"lab up failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
        self.state = json.loads((self.directory / "lab.json").read_text())
        # What the lab printed about KVM (the keeper's log), and what its machines run under.
        text = log_tail(self.directory / "lab-up.log", 200) + done.stdout + done.stderr
        self.lab_note = next((line.strip() for line in text.splitlines() if "/dev/kvm" in line), "")
        script = Path(self.state["servers"][0]["chassisDirectory"]) / "vm.sh"
        match = re.search(r"accel=(\w+)", script.read_text()) if script.exists() else None
        self.acceleration = match.group(1) if match else "?"

    def enroll(self, api_port: int, images: Path) -> None:
        done = self._run("enroll", "--directory", str(self.directory), "--os-endpoint",
                         f"http://{LOOPBACK}:{api_port}", "--deploy-images", str(images), timeout=180)
        if done.returncode != 0:
            raise BenchError(f"lab enroll failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")

    def down(self) -> None:
        if not self.started:
            return
        self.started = False
        try:
            done = self._run("down", "--directory", str(self.directory), "--timeout", "60", timeout=150)
            if done.returncode != 0:
                log(f"  warning: lab down failed ({done.returncode}): {done.stdout.strip()} {done.stderr.strip()}")
        except subprocess.TimeoutExpired:
            log(f"  warning: lab down did not finish within 150 s ({self.directory})")


class MachineWatcher:
    """Notes when each VM's QEMU process starts and ends (the lab's chassis/qemu.pid)."""

    def __init__(self, machines: dict[str, Path]):
        self.machines = machines  # node UUID -> chassis directory
        self.events: dict[str, list[tuple[float, bool]]] = {uuid: [] for uuid in machines}
        self.running: dict[str, bool] = {uuid: False for uuid in machines}
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, name="machine-watcher", daemon=True)
        self.thread.start()

    @staticmethod
    def _alive(chassis: Path) -> bool:
        try:
            pid = int((chassis / "qemu.pid").read_text().strip())
        except (OSError, ValueError):
            return False
        st = proc_stat(pid)
        return st is not None and st[0] not in ("Z", "X")

    def _run(self) -> None:
        while not self.stop_event.wait(WATCH_SECONDS):
            for uuid, chassis in self.machines.items():
                alive = self._alive(chassis)
                if alive != self.running[uuid]:
                    self.running[uuid] = alive
                    self.events[uuid].append((time.time(), alive))

    def close(self) -> None:
        self.stop_event.set()
        self.thread.join(timeout=5)


# --------------------------------------------------------------------------
# One phase: N machines deployed at once
# --------------------------------------------------------------------------

@dataclass
class NodeRun:
    name: str
    uuid: str
    chassis: Path
    agent_port: int
    proxy: RecordingProxy | None = None
    sent: dict[str, float] = field(default_factory=dict)  # PUT target -> when sent
    reached: dict[str, float] = field(default_factory=dict)  # state -> provision_updated_at
    state: str = "enroll"
    done: bool = False


def deploy_phase(label: str, vms: int, args: argparse.Namespace, binary: Path, root: Path,
                 deadline: float) -> dict[str, Any]:
    """One phase in its own directory: service, proxies, lab, `vms` deploys at once, the split."""
    workdir = root / label.replace(" ", "-")
    workdir.mkdir()
    recorder = Recorder()
    tls = ProxyTLS(workdir)
    api_port, boot_port = free_loopback_port(), free_loopback_port()
    api_proxy = RecordingProxy("api", api_port, recorder, tls=tls)
    service = Service(binary, workdir, api_port, boot_port, api_proxy.port, args.start_timeout, args.set)
    lab = Lab(binary, workdir / "lab", vms, boot_port, args.vm_memory)
    nodes: list[NodeRun] = []
    watcher: MachineWatcher | None = None
    result: dict[str, Any] = {"label": label, "vms": vms, "workdir": str(workdir)}
    try:
        log(f"[{label}] starting ironic (API 127.0.0.1:{api_port}, boot files :{boot_port}, "
            f"agent->API proxy :{api_proxy.port})")
        service.start()
        result["other_qemu_machines"] = other_qemu_machines(workdir)
        result["load_at_start"] = os.getloadavg()[0]
        log(f"[{label}] ironic pid {service.proc.pid}; lab up --vms {vms}")
        lab.up()
        log(f"[{label}] VMs run under {lab.acceleration.upper()}"
            + (f" (lab: {lab.lab_note})" if lab.lab_note else ""))
        lab.enroll(api_port, args.images)
        api = Api(api_port)
        checksum = (args.images / "test-image.raw.sha256").read_text().split()[0]
        for server in lab.state["servers"]:
            node = api.call("GET", f"/v1/nodes/{server['name']}")
            run = NodeRun(server["name"], node["uuid"], Path(server["chassisDirectory"]), int(server["agentPort"]))
            run.proxy = RecordingProxy("agent", run.agent_port, recorder, node=run.uuid, tls=tls)
            params = node["driver_info"].get("kernel_append_params", "")
            if "ipa-advertise-port=" not in params:
                raise BenchError(f"{run.name}: no ipa-advertise-port in kernel_append_params: {params!r}")
            params = re.sub(r"ipa-advertise-port=\d+", f"ipa-advertise-port={run.proxy.port}", params)
            api.call("PATCH", f"/v1/nodes/{run.uuid}", [
                {"op": "replace", "path": "/driver_info/kernel_append_params", "value": params},
                {"op": "add", "path": "/instance_info/image_source", "value": str(args.images / "test-image.raw")},
                {"op": "add", "path": "/instance_info/image_os_hash_algo", "value": "sha256"},
                {"op": "add", "path": "/instance_info/image_os_hash_value", "value": checksum},
                {"op": "add", "path": "/instance_info/image_disk_format", "value": "raw"},
            ])
            nodes.append(run)
        log(f"[{label}] enrolled {len(nodes)} node(s); agents advertise proxy ports "
            + ", ".join(f"{n.name} :{n.proxy.port}->:{n.agent_port}" for n in nodes))
        watcher = MachineWatcher({n.uuid: n.chassis for n in nodes})
        result["other_qemu_machines"] = max(result["other_qemu_machines"],
                                            drive(label, api, nodes, recorder, deadline, workdir))
        result["load_at_end"] = os.getloadavg()[0]
        watcher.close()
        result.update(analyse(nodes, recorder.snapshot(), watcher.events))
        result["acceleration"] = lab.acceleration
        result["lab_note"] = lab.lab_note
        return result
    except BaseException:
        result["failed"] = True
        raise
    finally:
        # A second Ctrl-C must not cut the clean-up short (nor reach `lab down`, which inherits this).
        previous = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
        try:
            if watcher is not None:
                watcher.close()
            lab.down()
            service.stop()
            api_proxy.close()
            for n in nodes:
                if n.proxy is not None:
                    n.proxy.close()
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
        if result.get("failed"):
            log(f"  [{label}] logs kept in {workdir} (ironic.log, lab/lab-up.log, lab/lab-node-*/chassis/serial.log)")


# The PUT that follows each state on the way to `active`.
NEXT_TARGET = {"manageable": "provide", "available": "active"}


def drive(label: str, api: Api, nodes: list[NodeRun], recorder: Recorder, deadline: float, workdir: Path) -> int:
    """manage -> provide -> deploy each node as soon as it reaches the state before; returns the
    most QEMU machines of others seen running meanwhile (checked every progress line)."""
    others = 0
    by_uuid = {n.uuid: n for n in nodes}

    def send(node: NodeRun, target: str) -> None:
        node.sent[target] = time.time()
        api.call("PUT", f"/v1/nodes/{node.uuid}/states/provision", {"target": target}, expect=(202,))

    start = time.time()
    for node in nodes:
        send(node, "manage")
    next_progress = time.monotonic() + PROGRESS_SECONDS
    while not all(n.done for n in nodes):
        if time.monotonic() > deadline:
            states = ", ".join(f"{n.name} {n.state}" for n in nodes)
            raise BenchError(f"[{label}] out of time ({states})")
        listing = api.call("GET", "/v1/nodes?fields=uuid,provision_state,target_provision_state,"
                                  "provision_updated_at,last_error&limit=1000")
        seen = time.time()
        for item in listing["nodes"]:
            node = by_uuid.get(item["uuid"])
            if node is None or node.done:
                continue
            node.state = item["provision_state"]
            # A failed manage goes back to `enroll` with last_error set.
            if node.state in FAILED_STATES or (node.state == "enroll" and item.get("last_error")
                                               and item.get("target_provision_state") is None):
                raise BenchError(f"[{label}] {node.name} is {node.state!r}: {item.get('last_error')}")
            if item.get("target_provision_state") is not None or node.state in node.reached:
                continue
            if node.state not in ("manageable", "available", "active"):
                continue
            node.reached[node.state] = parse_time(item.get("provision_updated_at")) or seen
            if node.state == "active":
                node.done = True
                log(f"    {seen - start:6.1f} s: {node.name} active "
                    f"({node.reached['active'] - node.sent['manage']:.1f} s after manage)")
            else:
                send(node, NEXT_TARGET[node.state])
        if time.monotonic() >= next_progress:
            next_progress += PROGRESS_SECONDS
            counts: dict[str, int] = {}
            for n in nodes:
                counts[n.state] = counts.get(n.state, 0) + 1
            exchanges = recorder.snapshot()
            beats = sum(1 for e in exchanges if e.name == "heartbeat")
            commands = sum(1 for e in exchanges if e.path == "agent")
            others = max(others, other_qemu_machines(workdir))
            log(f"    {time.time() - start:6.1f} s: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
                + f" | {beats} heartbeats, {commands} conductor->agent requests")
        time.sleep(POLL_SECONDS)
    return others


# --------------------------------------------------------------------------
# Where the time went
# --------------------------------------------------------------------------

def analyse(nodes: list[NodeRun], exchanges: list[Exchange],
            machines: dict[str, list[tuple[float, bool]]]) -> dict[str, Any]:
    """Splits each node's manage -> active into conductor, client and VM time (README)."""
    per_node = []
    for node in nodes:
        mine = [e for e in exchanges if e.node == node.uuid]
        beats = sorted((e for e in mine if e.name == "heartbeat"), key=lambda e: e.arrived)
        accepted = [e for e in beats if 200 <= e.status < 300]
        commands = sorted((e for e in mine if e.path == "agent"), key=lambda e: e.arrived)
        lookups = [e for e in mine if e.name == "lookup"]
        ons = [t for t, alive in machines.get(node.uuid, []) if alive]
        offs = [t for t, alive in machines.get(node.uuid, []) if not alive]
        active = node.reached["active"]
        parts: list[dict[str, Any]] = []  # conductor intervals: label, start, end, heartbeat index

        def part(name: str, start: float, end: float, beat: int | None = None) -> None:
            parts.append({"part": name, "start": start, "end": max(start, end), "heartbeat": beat})

        part("manage (verify power)", node.sent["manage"], node.reached["manageable"])
        part("provide", node.sent["provide"], node.reached["available"])
        boot_on = next((t for t in ons if t >= node.sent["active"]), None)
        if boot_on is not None:
            part("deploy -> VM powered on", node.sent["active"], boot_on)
        for e in lookups:
            part("lookup (answer)", e.arrived, e.answered)
        for i, beat in enumerate(accepted):
            window_end = accepted[i + 1].arrived if i + 1 < len(accepted) else float("inf")
            chain = [c for c in commands if beat.arrived <= c.arrived < window_end]
            previous, at = "heartbeat", beat.arrived
            for c in chain:
                part(f"{previous} -> {c.name}", at, c.arrived, i)
                previous, at = c.name, c.answered
            if beat.arrived <= active < window_end:
                # The heartbeat's work ended the deploy: after the last command the conductor
                # waits for the VM to go off (VM time), then powers the instance on (conductor).
                off = next((t for t in offs if chain and t >= chain[-1].arrived and t <= active), None)
                if off is not None and off > at:
                    at = off
                part("VM off -> active" if off is not None else f"{previous} -> active", at, active, i)
            elif not chain:
                part("heartbeat (answer only)", beat.arrived, beat.answered, i)
        conductor = union(parts)
        client = (node.sent["provide"] - node.reached["manageable"]) + (node.sent["active"] - node.reached["available"])
        wall = active - node.sent["manage"]
        per_beat = [union([p for p in parts if p["heartbeat"] == i]) for i in range(len(accepted))]
        origin = node.sent["manage"]
        timeline = sorted(
            [{"t": round(e.arrived - origin, 3), "took": round(e.answered - e.arrived, 3), "what": e.name,
              "status": e.status, "tls": e.tls} for e in mine]
            + [{"t": round(t - origin, 3), "what": "VM on" if alive else "VM off"} for t, alive in machines.get(node.uuid, [])]
            + [{"t": round(t - origin, 3), "what": f"PUT {target}"} for target, t in node.sent.items()]
            + [{"t": round(t - origin, 3), "what": state} for state, t in node.reached.items()],
            key=lambda item: item["t"])
        first_parts = [next(p for p in parts if p["heartbeat"] == i) for i in range(len(accepted))
                       if any(p["heartbeat"] == i for p in parts)]
        per_node.append({
            "name": node.name, "uuid": node.uuid,
            "wall_s": wall,
            "conductor_s": conductor,
            "conductor_heartbeats_s": union([p for p in parts if p["heartbeat"] is not None]),
            "conductor_other_s": union([p for p in parts if p["heartbeat"] is None]),
            "client_s": client,
            "vm_s": wall - conductor - client,
            "heartbeats": len(accepted),
            "heartbeats_rejected": len(beats) - len(accepted),
            "heartbeat_max_s": max(per_beat, default=0.0),
            # The measure: each heartbeat until the conductor's next command (or the end).
            "heartbeat_to_command_s": sum(p["end"] - p["start"] for p in first_parts),
            "tls_agent": any(e.tls for e in mine),
            "per_heartbeat_s": per_beat,
            "agent_requests": len(commands),
            "parts": [{"part": p["part"], "s": p["end"] - p["start"], "heartbeat": p["heartbeat"]} for p in parts],
            "manage_sent": node.sent["manage"], "active_at": active,
            "timeline": timeline,
        })
    wall = max(n["active_at"] for n in per_node) - min(n["manage_sent"] for n in per_node)
    return {"wall_s": wall, "nodes": per_node}


def union(parts: list[dict[str, Any]]) -> float:
    """Length of the union of [start, end] intervals (overlaps counted once)."""
    total, reach = 0.0, float("-inf")
    for p in sorted(parts, key=lambda p: p["start"]):
        start = max(p["start"], reach)
        if p["end"] > start:
            total += p["end"] - start
        reach = max(reach, p["end"])
    return total


# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------

def med_max(values: list[float], digits: int = 1) -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.median(values):.{digits}f} ({max(values):.{digits}f})"


def report(results: list[dict[str, Any]], args: argparse.Namespace, binary_label: str) -> list[str]:
    lines: list[str] = []
    out = lines.append
    accel = sorted({r.get("acceleration", "?") for r in results})
    out("")
    out(f"deploys of lab VMs: {binary_label}; VMs under {'/'.join(a.upper() for a in accel)}, "
        f"{args.vm_memory} MiB each; host {os.cpu_count()} CPUs; image test-image.raw (sha256); "
        "automated_clean = false")
    if args.set:
        out("ironic.conf over the defaults: " + ", ".join(f"[{a}] {b} = {c}" for a, b, c in args.set))
    others = max((r.get("other_qemu_machines", 0) for r in results), default=0)
    if others:
        out(f"note: up to {others} other QEMU machine(s) ran on this host meanwhile (another test or lab)")
    out("load average (1 min) at start/end of each phase: " + ", ".join(
        f"{r['label']} {r.get('load_at_start', 0):.1f}/{r.get('load_at_end', 0):.1f}" for r in results))
    width = 46
    head = f"{'':<{width}}" + "".join(f"{r['label']:>18}" for r in results)
    out(head)
    out("-" * len(head))

    def row(title: str, values: list[str]) -> None:
        out(f"{title:<{width}}" + "".join(f"{v:>18}" for v in values))

    row("wall, first manage -> last active (s)", [f"{r['wall_s']:.1f}" for r in results])
    row("per deploy, median (max):", [""] * len(results))
    for title, key, digits in [("  wall, manage -> active (s)", "wall_s", 1),
                               ("  in the VM (s)", "vm_s", 1),
                               ("  in the conductor (s)", "conductor_s", 2),
                               ("    heartbeat -> next command (s)", "heartbeat_to_command_s", 2),
                               ("    at heartbeats, all (s)", "conductor_heartbeats_s", 2),
                               ("      largest single heartbeat (s)", "heartbeat_max_s", 2),
                               ("    manage, provide, power-on, lookups (s)", "conductor_other_s", 2),
                               ("  client polling (s)", "client_s", 2)]:
        row(title, [med_max([n[key] for n in r["nodes"]], digits) for r in results])
    row("  heartbeats (rejected, all nodes)", [
        f"{statistics.median([n['heartbeats'] for n in r['nodes']]):g} "
        f"({sum(n['heartbeats_rejected'] for n in r['nodes'])})" for r in results])
    out("conductor time by part, median (max) per deploy (s):")
    names: list[str] = []
    for r in results:
        for n in r["nodes"]:
            for p in n["parts"]:
                if p["part"] not in names:
                    names.append(p["part"])
    for name in names:
        values = []
        for r in results:
            sums = []
            for n in r["nodes"]:
                chosen = [p["s"] for p in n["parts"] if p["part"] == name]
                if chosen:
                    sums.append(sum(chosen))
            values.append(med_max(sums, 2))
        row(f"  {name}", values)
    tls = {n["tls_agent"] for r in results for n in r["nodes"]}
    out("(agent TLS: " + ("yes, the proxy stood in with its own certificate" if tls == {True} else
                          "no" if tls == {False} else "mixed") + ")")

    single = next((r for r in results if r["vms"] == 1), None)
    multi = next((r for r in results if r["vms"] > 1), None)
    out("")
    for r in results:
        narrow = max(n["heartbeat_to_command_s"] for n in r["nodes"])
        everything = max(n["conductor_s"] for n in r["nodes"])
        out(f"goal: conductor time <= 1 s per deploy ({r['label']}): "
            f"heartbeat -> next command {'met' if narrow <= 1.0 else 'NOT met'} (worst deploy {narrow:.2f} s); "
            f"all conductor time {'met' if everything <= 1.0 else 'NOT met'} (worst deploy {everything:.2f} s)")
    if single and multi:
        ratio = multi["wall_s"] / single["wall_s"]
        conductor_ratio = (statistics.median(n["conductor_s"] for n in multi["nodes"])
                           / max(1e-9, statistics.median(n["conductor_s"] for n in single["nodes"])))
        out(f"ratio {multi['label']} / {single['label']}: wall {ratio:.2f}x, "
            f"conductor time per deploy (median) {conductor_ratio:.2f}x")
        out(f"goal: {multi['label']} <= 1.5x one alone (wall): {'met' if ratio <= 1.5 else 'NOT met'} ({ratio:.2f}x)")
        if "tcg" in accel:
            out(f"  under TCG the {multi['vms']} guests share {os.cpu_count()} host CPUs (software emulation): "
                "the ratio is CPU-bound in the guests, not the conductor")
    return lines


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------

def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--ironic", type=Path, required=True, help="swift-ironic binary (copied for the run)")
    p.add_argument("--vms", type=int, default=8, help="VMs deployed at once in the second phase")
    p.add_argument("--skip-single", action="store_true", help="skip the phase with one VM alone")
    p.add_argument("--images", type=Path, default=REPO / "var" / "images",
                   help="ipa.kernel, ipa.initramfs, test-image.raw(.sha256) (make test-images)")
    p.add_argument("--vm-memory", type=int, default=1536, help="MiB per VM")
    p.add_argument("--timeout", type=float, default=2400.0, help="limit for the whole run (s)")
    p.add_argument("--start-timeout", type=float, default=120.0, help="limit for ironic to answer GET / (s)")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="an ironic.conf option over the defaults, e.g. ipmi.min_command_interval=0.1 (repeatable)")
    p.add_argument("--keep-workdir", action="store_true", help="keep the temp dir (logs, databases)")
    p.add_argument("--json", type=Path, help="also write every figure (per node, per part) to this file")
    args = p.parse_args(argv)
    if not 1 <= args.vms <= 32:
        p.error("--vms must be 1..32")
    args.ironic = args.ironic.resolve()
    if not (args.ironic.is_file() and os.access(args.ironic, os.X_OK)):
        p.error(f"not an executable: {args.ironic}")
    args.images = args.images.resolve()
    overrides = []
    for item in args.set:
        match = re.fullmatch(r"([A-Za-z_]+)\.([A-Za-z0-9_]+)=(.*)", item)
        if not match:
            p.error(f"--set {item!r}: expected SECTION.KEY=VALUE")
        overrides.append(match.groups())
    args.set = overrides
    for name in ("ipa.kernel", "ipa.initramfs", "test-image.raw", "test-image.raw.sha256"):
        if not (args.images / name).exists():
            p.error(f"{args.images / name} missing: run `make test-images`")
    return args


def _terminate(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    deadline = time.monotonic() + args.timeout
    root = Path(tempfile.mkdtemp(prefix="ironic-deploy-bench-"))
    kind = "release" if "/release/" in str(args.ironic) else "debug" if "/debug/" in str(args.ironic) else "?"
    binary_label = f"{args.ironic.relative_to(REPO) if args.ironic.is_relative_to(REPO) else args.ironic} ({kind} build)"
    available = next((int(line.split()[1]) // 1024 for line in Path("/proc/meminfo").read_text().splitlines()
                      if line.startswith("MemAvailable:")), 0)
    if args.vms * args.vm_memory > available:
        log(f"warning: {args.vms} x {args.vm_memory} MiB is more than the {available} MiB available")
    # One copy for the whole run: others may rebuild the checkout meanwhile.
    binary = root / "ironic"
    shutil.copy2(args.ironic, binary)
    digest = hashlib.sha256(binary.read_bytes()).hexdigest()[:12]
    log(f"deploy bench: {binary_label}, sha256 {digest}..., work dir {root}")
    plan = ([] if args.skip_single else [("1 alone", 1)]) + [(f"{args.vms} at once", args.vms)]
    results: list[dict[str, Any]] = []
    status = 0
    try:
        for label, vms in plan:
            results.append(deploy_phase(label, vms, args, binary, root, deadline))
            r = results[-1]
            log(f"[{label}] wall {r['wall_s']:.1f} s; conductor per deploy "
                f"{med_max([n['conductor_s'] for n in r['nodes']], 2)} s")
    except BenchError as e:
        log(f"\ndeploy bench: FAILED: {e}")
        status = 1
    except KeyboardInterrupt as e:
        log(f"\ndeploy bench: interrupted ({e or 'Ctrl-C'})")
        status = 130
    if results:
        for line in report(results, args, binary_label):
            log(line)
    if args.json and results:
        args.json.write_text(json.dumps({
            "meta": {"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "host": platform.node(), "cpus": os.cpu_count(),
                     "binary": str(args.ironic), "binary_sha256": digest, "complete": status == 0,
                     "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}},
            "results": results}, indent=2) + "\n")
        log(f"figures written to {args.json}")
    binary.unlink(missing_ok=True)
    if status == 0 and not args.keep_workdir:
        shutil.rmtree(root, ignore_errors=True)
    else:
        log(f"(files kept in {root})")
    return status


if __name__ == "__main__":
    sys.exit(main())
