#!/usr/bin/env python3
"""Deploys with the ansible deploy interface: many nodes at once from ONE conductor, beside one alone.

Plain Python 3 standard library, plus Tests/Client's ssh_targets.py and ramdisk_standin.py.
In one run, with one copy of the binary, it:

  a. deploys 1 node alone:            PUT provision target "active" -> `active`
  b. deploys --nodes (50) nodes at once, the same way

Each phase starts its own `ironic standalone` (the all-in-one: API and ONE conductor; SQLite
in a temp dir; 127.0.0.1; `[conductor] automated_clean = false`, so the figure is the deploy,
not cleaning). Nodes are `fake-hardware` with `deploy_interface=ansible`.

What is simulated, what is real:

  simulated  the deploy ramdisk: each node's is an sshd on 127.0.0.1 in a mount namespace of
             its own (Tests/Client/ssh_targets.py), seeing its own disk file at
             /run/ironic-simulated-ramdisk/disk.img (the only root device hint used), with
             power commands stubbed; plus a heartbeating stand-in per node
             (Tests/Client/ramdisk_standin.py: lookup, token, a heartbeat every second);
             power, management and boot are `fake`
  real       the conductor and its playbook runner (batching), `ansible-playbook` (from
             var/ansible-venv) running Playbooks/deploy.yaml and shutdown.yaml over real SSH,
             the image streamed over HTTP from a server on 127.0.0.1 into the disk files

Everything runs on this machine: the ramdisks' side of every task (Python modules, dd of the
image) competes with the conductor and ansible-playbook for the same CPUs.

Figures: wall time from the first deploy PUT until a poll sees every node `active`, and the
ratio of the two phases against the goal "N at once <= 2x one node"; the conductor's CPU
seconds (/proc/PID/stat utime+stime, before and after) and the CPU of the ansible-playbook
processes it reaped (cutime+cstime); the host's CPU use; the conductor's peak RSS (VmHWM);
and the ansible-playbook processes started, from the runner's records (one output file per
run in [ansible] playbook_log_dir, whose header names the nodes). See Benchmarks/README.md
("Ansible deploys"). Only processes started here are stopped here, by PID.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import functools
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
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_api import API_VERSION, HEADERS, LOOPBACK, Api, BenchError  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "Tests" / "Client"))
from ramdisk_standin import RamdiskStandIns, StandInNode  # noqa: E402
from ssh_targets import ROOT_DEVICE_HINTS, SSHTargets  # noqa: E402

PLAYBOOKS = REPO / "Playbooks"
MIB = 1024 * 1024
MARKER_OFFSET = MIB + 4096
MARKER = b"SWIFT-IRONIC-ANSIBLE-BENCH-MARKER"
POLL_SECONDS = 0.5
PROGRESS_SECONDS = 5.0
FAILED_STATES = {"deploy failed", "error"}
TICKS = os.sysconf("SC_CLK_TCK")


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


def cpu_seconds(pid: int) -> tuple[float, float]:
    """(utime+stime, cutime+cstime) of a process in seconds: its own CPU, and that of the
    children it has reaped (the runner reaps every ansible-playbook)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # Fields 14-17 of proc(5), counted from the state (field 3) at index 0.
    utime, stime, cutime, cstime = (int(v) for v in fields[11:15])
    return (utime + stime) / TICKS, (cutime + cstime) / TICKS


def tree_cpu_seconds(pids: list[int]) -> float:
    """CPU seconds of processes and everything below them: each live process's own and reaped
    children's time. (A process that ends between two readings moves from its own count to its
    parent's reaped count, so differences of two readings stay right.)"""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                parent = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(parent, []).append(int(entry))
    total, todo = 0.0, list(pids)
    while todo:
        pid = todo.pop()
        try:
            own, reaped = cpu_seconds(pid)
        except (OSError, ValueError, IndexError):
            continue
        total += own + reaped
        todo += children.get(pid, [])
    return total


def host_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole host since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])  # without guest time, already in user
    return (total - idle) / TICKS, total / TICKS


def vm_hwm_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


# --------------------------------------------------------------------------
# The service and its API
# --------------------------------------------------------------------------


class Service:
    """`ironic standalone` in the phase's directory, stopped by its PID."""

    def __init__(self, binary: Path, workdir: Path, args: argparse.Namespace):
        self.binary = binary
        self.workdir = workdir
        self.api_port = free_loopback_port()
        self.log_path = workdir / "ironic.log"
        self.config = workdir / "ironic.conf"
        self.playbook_logs = workdir / "ansible-logs"
        self.start_timeout = args.start_timeout
        self.proc: subprocess.Popen | None = None
        sections: dict[str, dict[str, str]] = {
            "DEFAULT": {"host": "ansible-bench", "enabled_hardware_types": "fake-hardware"},
            "api": {"host_ip": LOOPBACK, "port": str(self.api_port)},
            "database": {"connection": f"sqlite:///{workdir / 'ironic.sqlite'}"},
            # The figure is the deploy: no automated cleaning on `provide`.
            "conductor": {"automated_clean": "false", "deploy_callback_timeout": "3600"},
            "deploy": {"http_root": str(workdir / "httpboot"), "http_server_host": ""},
            "ipmiproxy": {"port": "0"},
            "ansible": {
                "playbooks_path": str(PLAYBOOKS),
                "ansible_playbook_script": str(args.venv / "bin" / "ansible-playbook"),
                "playbook_log_dir": str(self.playbook_logs),
                "batch_window": str(args.batch_window),
                # Fake power never sees the ramdisk's `shutdown -h now` (a stub): without this,
                # boot_instance reads "power on" for 6 x 5 s before powering off through the
                # fake BMC, in both phases.
                "post_deploy_get_power_state_retries": "0",
            },
        }
        for section, key, value in args.set:
            sections.setdefault(section, {})[key] = value
        self.config.write_text("".join(f"[{name}]\n" + "".join(f"{k} = {v}\n" for k, v in values.items())
                                       for name, values in sections.items()))
        self.settings = sections

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

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
        """SIGTERM to our PID (the service ends its running playbooks), SIGKILL after 20 s."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def playbook_runs(self) -> list[dict[str, Any]]:
        """The runner's records: one output file per ansible-playbook process, named
        <time>-<playbook>-<pid>-<run>.log, whose header names the command and the nodes."""
        runs = []
        for path in sorted(self.playbook_logs.glob("*.log")):
            match = re.fullmatch(r"(\d{8}T\d{6})-(.+)-(\d+)-(\d+)\.log", path.name)
            if not match:
                continue
            text = path.read_text(errors="replace")
            nodes = re.search(r"^# nodes: (.*)$", text, re.MULTILINE)
            started = time.mktime(time.strptime(match[1], "%Y%m%dT%H%M%S")) - time.timezone
            runs.append({"playbook": match[2], "run": int(match[4]), "log": str(path),
                         "nodes": nodes[1].split(", ") if nodes else [],
                         "seconds": round(path.stat().st_mtime - started, 1)})
        return sorted(runs, key=lambda r: r["run"])


# --------------------------------------------------------------------------
# The image
# --------------------------------------------------------------------------

class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass


class ImageServer:
    """A raw image of --image-mib MiB with MARKER at MARKER_OFFSET, served from 127.0.0.1."""

    def __init__(self, directory: Path, mib: int):
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / "bench.raw"
        with open(self.path, "wb") as f:
            f.truncate(mib * MIB)
            # Data, not holes: every node really receives and writes the whole image.
            block = hashlib.sha256(b"swift-ironic").digest() * (MIB // 32)
            for _ in range(mib):
                f.write(block)
            f.seek(MARKER_OFFSET)
            f.write(MARKER)
        self.sha256 = hashlib.sha256(self.path.read_bytes()).hexdigest()
        self.server = http.server.ThreadingHTTPServer(
            (LOOPBACK, 0), functools.partial(QuietHandler, directory=str(directory)))
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://{LOOPBACK}:{self.server.server_address[1]}/{self.path.name}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


# --------------------------------------------------------------------------
# One phase
# --------------------------------------------------------------------------

def wait_states(api: Api, uuids: list[str], wanted: str, deadline: float, what: str) -> None:
    pending = set(uuids)
    while pending:
        if time.monotonic() > deadline:
            raise BenchError(f"{what}: {len(pending)} node(s) not {wanted} before the deadline")
        for node in api.nodes("uuid,provision_state,last_error"):
            if node["uuid"] not in pending:
                continue
            if node["provision_state"] == wanted:
                pending.discard(node["uuid"])
            elif node["provision_state"] in FAILED_STATES:
                raise BenchError(f"{what}: node {node['uuid']} is {node['provision_state']}: {node['last_error']}")
        if pending:
            time.sleep(POLL_SECONDS)


def phase(label: str, count: int, args: argparse.Namespace, binary: Path, root: Path,
          targets: SSHTargets, image: ImageServer, deadline: float) -> dict[str, Any]:
    workdir = root / label.replace(" ", "-")
    workdir.mkdir()
    service = Service(binary, workdir, args)
    standins: RamdiskStandIns | None = None
    log(f"\n[{label}] starting ironic standalone on {LOOPBACK}:{service.api_port} ({workdir})")
    try:
        service.start()
        api = Api(service.api_port)
        mine = targets.targets[:count]
        for t in mine:  # a blank disk, as a machine's
            with open(t.disk, "wb") as f:
                f.truncate(args.disk_mib * MIB)
            t.power_log.unlink(missing_ok=True)
        nodes: list[StandInNode] = []
        for i, t in enumerate(mine):
            node = api.call("POST", "/v1/nodes", {
                "name": f"ansible-bench-{i:03d}", "driver": "fake-hardware", "deploy_interface": "ansible",
                "driver_info": {"ansible_username": targets.user, "ansible_key_file": str(targets.private_key),
                                "ansible_port": t.port, "ansible_python_interpreter": "/usr/bin/python3"},
                "instance_info": {"image_source": image.url, "image_os_hash_algo": "sha256",
                                  "image_os_hash_value": image.sha256, "image_disk_format": "raw",
                                  "root_device": ROOT_DEVICE_HINTS},
            }, expect=(201,))
            mac = "52:54:00:%02x:%02x:%02x" % (0xa0, i // 256, i % 256)
            api.call("POST", "/v1/ports", {"address": mac, "node_uuid": node["uuid"]}, expect=(201,))
            nodes.append(StandInNode(node["uuid"], mac))
        uuids = [n.uuid for n in nodes]
        for target in ("manage", "provide"):
            for u in uuids:
                api.call("PUT", f"/v1/nodes/{u}/states/provision", {"target": target}, expect=(202,))
            wait_states(api, uuids, "manageable" if target == "manage" else "available", deadline,
                        f"[{label}] {target}")
        log(f"[{label}] {count} node(s) available; {count} simulated ramdisk(s) with heartbeating stand-ins")
        standins = RamdiskStandIns(f"http://{LOOPBACK}:{service.api_port}", nodes,
                                   interval=args.heartbeat_interval, max_seconds=max(60.0, deadline - time.monotonic()))
        standins.start()

        load_before = os.getloadavg()[0]
        sshd_pids = [t.pid for t in mine if t.pid is not None]
        ramdisks_before = tree_cpu_seconds(sshd_pids)
        cpu_before, children_before = cpu_seconds(service.pid)
        host_before = host_cpu()
        started = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
            list(pool.map(lambda u: api.call("PUT", f"/v1/nodes/{u}/states/provision", {"target": "active"},
                                             expect=(202,)), uuids))
        puts_done = time.monotonic() - started
        timeline = watch(label, api, uuids, started, deadline)
        wall = timeline["wall"]
        cpu_after, children_after = cpu_seconds(service.pid)
        host_after = host_cpu()
        ramdisks_after = tree_cpu_seconds(sshd_pids)
        hwm = vm_hwm_mib(service.pid)
        standins.stop()
        standins_alive = standins.alive_threads

        missing = [t.disk for t in mine if not _has_marker(t.disk)]
        if missing:
            raise BenchError(f"[{label}] the image is not on {len(missing)} disk(s), e.g. {missing[0]}")
        runs = service.playbook_runs()
        started_lines = len(re.findall(r"started \S+ for \d+ node\(s\)", service.log_path.read_text(errors="replace")))
        host_busy = host_after[0] - host_before[0]
        host_total = host_after[1] - host_before[1]
        result = {
            "label": label, "nodes": count, "wall_s": round(wall, 2), "puts_s": round(puts_done, 2),
            "conductor_cpu_s": round(cpu_after - cpu_before, 2),
            "ansible_cpu_s": round(children_after - children_before, 2),
            "ramdisks_cpu_s": round(ramdisks_after - ramdisks_before, 1),
            "host_cpu_busy_s": round(host_busy, 1),
            "host_cpu_busy_pct": round(100 * host_busy / host_total, 1) if host_total else 0.0,
            "vm_hwm_mib": round(hwm, 1), "load_1min_before": round(load_before, 2),
            "playbook_runs": runs, "playbook_processes": len(runs), "started_log_lines": started_lines,
            "heartbeats": sum(n.heartbeats for n in nodes), "lookups": sum(n.lookups for n in nodes),
            "heartbeat_busy_409": sum(n.busy for n in nodes), "standin_errors": sum(len(n.errors) for n in nodes),
            "standin_threads_left": standins_alive,
            "stages": timeline["stages"],
        }
        log(f"[{label}] all {count} active after {wall:.1f} s; {len(runs)} ansible-playbook process(es): "
            + ", ".join(f"{r['playbook']} x{len(r['nodes'])} ({r['seconds']:.0f} s)" for r in runs))
        return result
    finally:
        if standins is not None:
            standins.stop()
        service.stop()


def _has_marker(disk: Path) -> bool:
    with open(disk, "rb") as f:
        f.seek(MARKER_OFFSET)
        return f.read(len(MARKER)) == MARKER


def watch(label: str, api: Api, uuids: list[str], started: float, deadline: float) -> dict[str, Any]:
    """Polls all nodes with one listing until every one is active; notes when each node was
    first seen at each deploy step, and prints the states every PROGRESS_SECONDS."""
    seen: dict[str, dict[str, float]] = {u: {} for u in uuids}
    next_progress = started + PROGRESS_SECONDS
    while True:
        now = time.monotonic()
        if now > deadline:
            raise BenchError(f"[{label}] not all nodes active before the deadline")
        listed = {n["uuid"]: n for n in api.nodes("uuid,provision_state,deploy_step,last_error,reservation")}
        at = time.monotonic() - started
        states: dict[str, int] = {}
        for u in uuids:
            node = listed.get(u)
            if node is None:
                raise BenchError(f"[{label}] node {u} went missing")
            state = node["provision_state"]
            if state in FAILED_STATES:
                raise BenchError(f"[{label}] node {u} is {state}: {node['last_error']}")
            step = (node.get("deploy_step") or {}).get("step")
            key = "active" if state == "active" else step or state
            seen[u].setdefault(key, at)
            shown = f"{state} ({step})" if step and state != "active" else state
            states[shown] = states.get(shown, 0) + 1
        if time.monotonic() >= next_progress:
            log(f"[{label}] {at:6.1f} s: " + ", ".join(f"{k} {v}" for k, v in sorted(states.items())))
            next_progress += PROGRESS_SECONDS
        if all("active" in s for s in seen.values()):
            break
        time.sleep(POLL_SECONDS)
    wall = max(s["active"] for s in seen.values())
    # When each node was first seen at a step, as seconds after the first PUT (poll resolution).
    stages: dict[str, Any] = {}
    for step in ("deploy", "write_image", "tear_down_agent", "boot_instance", "active"):
        values = [s[step] for s in seen.values() if step in s]
        if values:
            stages[step] = {"first": round(min(values), 1), "median": round(statistics.median(values), 1),
                            "last": round(max(values), 1), "nodes": len(values)}
    return {"wall": wall, "stages": stages}


# --------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------

def report(results: list[dict[str, Any]], args: argparse.Namespace, binary_label: str) -> list[str]:
    lines = ["", f"ansible deploy bench: {binary_label}; image {args.image_mib} MiB raw; "
                 f"batch_window {args.batch_window} s; heartbeats every {args.heartbeat_interval} s; "
                 f"{os.cpu_count()} CPUs"]
    width = 44
    header = f"{'':{width}}" + "".join(f"{r['label']:>16}" for r in results)
    lines += [header, "-" * len(header)]

    def row(title: str, values: list[str]) -> None:
        lines.append(f"{title:{width}}" + "".join(f"{v:>16}" for v in values))

    row("deploy wall, first PUT -> all active (s)", [f"{r['wall_s']:.1f}" for r in results])
    row("  node first seen at write_image (median s)",
        [f"{r['stages'].get('write_image', {}).get('median', float('nan')):.1f}" for r in results])
    row("  node first seen at tear_down_agent (med s)",
        [f"{r['stages'].get('tear_down_agent', {}).get('median', float('nan')):.1f}" for r in results])
    row("conductor CPU, utime+stime (s)", [f"{r['conductor_cpu_s']:.2f}" for r in results])
    row("ansible-playbook CPU, reaped children (s)", [f"{r['ansible_cpu_s']:.1f}" for r in results])
    row("simulated ramdisks' CPU, sshd trees (s)", [f"{r['ramdisks_cpu_s']:.1f}" for r in results])
    row("host CPU busy, all processes (s)", [f"{r['host_cpu_busy_s']:.0f}" for r in results])
    row("host CPU busy (% of all CPUs)", [f"{r['host_cpu_busy_pct']:.0f}" for r in results])
    row("  host load average before (1 min)", [f"{r['load_1min_before']:.2f}" for r in results])
    row("conductor peak RSS, VmHWM (MiB)", [f"{r['vm_hwm_mib']:.1f}" for r in results])
    row("ansible-playbook processes started", [str(r["playbook_processes"]) for r in results])
    row("heartbeats accepted", [str(r["heartbeats"]) for r in results])
    lines.append("")
    for r in results:
        lines.append(f"[{r['label']}] runs: " + "; ".join(
            f"#{x['run']} {x['playbook']} for {len(x['nodes'])} node(s), ~{x['seconds']:.0f} s" for x in r["playbook_runs"]))
    single = next((r for r in results if r["nodes"] == 1), None)
    many = next((r for r in results if r["nodes"] > 1), None)
    if single and many and single["wall_s"] > 0:
        ratio = many["wall_s"] / single["wall_s"]
        verdict = "met" if ratio <= 2.0 else "NOT met"
        lines.append(f"ratio {many['nodes']} at once / 1 alone: {ratio:.2f}x (goal <= 2x: {verdict})")
    lines += [
        "simulated: the deploy ramdisks (sshd on 127.0.0.1, one disk file each, power commands stubbed)",
        "           and their heartbeats (a stand-in per node); fake power, management and boot",
        "real:      the conductor and its runner, ansible-playbook, SSH, the image over HTTP into the disk files;",
        "           all on this machine, the ramdisks' work included",
    ]
    return lines


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--ironic", type=Path, required=True, help="swift-ironic binary (copied for the run)")
    p.add_argument("--nodes", type=int, default=50, help="nodes deployed at once in the second phase")
    p.add_argument("--skip-single", action="store_true", help="skip the phase with one node alone")
    p.add_argument("--image-mib", type=int, default=16, help="size of the raw image (MiB)")
    p.add_argument("--disk-mib", type=int, default=64, help="size of each simulated disk file (MiB)")
    p.add_argument("--batch-window", type=float, default=2.0, help="[ansible] batch_window (s)")
    p.add_argument("--heartbeat-interval", type=float, default=1.0, help="seconds between a stand-in's heartbeats")
    p.add_argument("--venv", type=Path, default=REPO / "var" / "ansible-venv",
                   help="the ansible venv (scripts/ansible-venv.sh DIR)")
    p.add_argument("--timeout", type=float, default=1200.0, help="limit for the whole run (s)")
    p.add_argument("--start-timeout", type=float, default=60.0, help="limit for ironic to answer GET / (s)")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="an ironic.conf option over the defaults, e.g. ansible.forks=25 (repeatable)")
    p.add_argument("--keep-workdir", action="store_true", help="keep the temp dir (logs, databases, playbook output)")
    p.add_argument("--json", type=Path, help="also write every figure to this file")
    args = p.parse_args(argv)
    if not 1 <= args.nodes <= 200:
        p.error("--nodes must be 1..200")
    if not 1 <= args.image_mib < args.disk_mib:
        p.error("--image-mib must be at least 1 and smaller than --disk-mib")
    args.ironic = args.ironic.resolve()
    if not (args.ironic.is_file() and os.access(args.ironic, os.X_OK)):
        p.error(f"not an executable: {args.ironic}")
    args.venv = args.venv.resolve()
    overrides = []
    for item in args.set:
        match = re.fullmatch(r"([A-Za-z_]+)\.([A-Za-z0-9_]+)=(.*)", item)
        if not match:
            p.error(f"--set {item!r}: expected SECTION.KEY=VALUE")
        overrides.append(match.groups())
    args.set = overrides
    return args


def _terminate(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    deadline = time.monotonic() + args.timeout
    if os.geteuid() != 0:
        log("ansible bench: the simulated ramdisks run sshd as root (and need a mount namespace each)")
        return 1
    root = Path(tempfile.mkdtemp(prefix="ironic-ansible-bench-"))
    kind = "release" if "/release/" in str(args.ironic) else "debug" if "/debug/" in str(args.ironic) else "?"
    binary_label = f"{args.ironic.relative_to(REPO) if args.ironic.is_relative_to(REPO) else args.ironic} ({kind} build)"
    # One copy for the whole run: others may rebuild the checkout meanwhile.
    binary = root / "ironic"
    shutil.copy2(args.ironic, binary)
    digest = hashlib.sha256(binary.read_bytes()).hexdigest()[:12]
    log(f"ansible bench: {binary_label}, sha256 {digest}..., work dir {root}")
    results: list[dict[str, Any]] = []
    status = 0
    targets: SSHTargets | None = None
    image: ImageServer | None = None
    try:
        venv = subprocess.run([str(REPO / "scripts" / "ansible-venv.sh"), str(args.venv)], capture_output=True,
                              text=True, timeout=max(10.0, min(900.0, deadline - time.monotonic())))
        if venv.returncode != 0:
            raise BenchError(f"scripts/ansible-venv.sh failed:\n{venv.stdout}\n{venv.stderr}")
        image = ImageServer(root / "www", args.image_mib)
        log(f"starting {args.nodes} simulated ramdisks (sshd on {LOOPBACK}, {args.disk_mib} MiB disk files)")
        began = time.monotonic()
        targets = SSHTargets(root / "targets", count=args.nodes, disk_size=args.disk_mib * MIB)
        targets.start()
        log(f"  started in {time.monotonic() - began:.1f} s")
        plan = ([] if args.skip_single else [("1 alone", 1)]) + [(f"{args.nodes} at once", args.nodes)]
        for label, count in plan:
            results.append(phase(label, count, args, binary, root, targets, image, deadline))
    except BenchError as e:
        log(f"\nansible bench: FAILED: {e}")
        status = 1
    except KeyboardInterrupt as e:
        log(f"\nansible bench: interrupted ({e or 'Ctrl-C'})")
        status = 130
    finally:
        if targets is not None:
            targets.stop()
        if image is not None:
            image.close()
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
