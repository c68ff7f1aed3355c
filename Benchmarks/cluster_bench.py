#!/usr/bin/env python3
"""Active-active conductors: the figures `make bench` prints for them.

Starts `ironic-api` and N `ironic-conductor` processes (release build) on
loopback over one SQLite database (or --postgres URL), then:

  1. API throughput: wrk PATCHes random nodes for --seconds through the API,
     which forwards each one over JSON-RPC to the node's conductor; once with
     one conductor and once with three, side by side in one run.
  2. Take-over: kill -9 the conductor that owns the most nodes and time until
     every one of its nodes has answered a power action through the API
     (202, then settled), with heartbeat_timeout printed beside it.

Only processes started here are stopped here, by PID. Plain Python 3 plus
wrk (Debian package) for step 1.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import BenchError, Client, free_loopback_port, log, log_tail  # noqa: E402

PATCH_LUA = """
local nodes = {}
for line in io.lines(os.getenv("NODES_FILE")) do nodes[#nodes + 1] = line end
local counter = 0
request = function()
  counter = counter + 1
  local uuid = nodes[math.random(#nodes)]
  local body = '[{"op": "add", "path": "/extra/bench", "value": ' .. counter .. '}]'
  return wrk.format("PATCH", "/v1/nodes/" .. uuid, {["Content-Type"] = "application/json",
    ["X-OpenStack-Ironic-API-Version"] = "1.78"}, body)
end
"""


class Cluster:
    """ironic-api plus conductors in one temp dir, stopped by PID."""

    def __init__(self, bindir: Path, conductors: int, heartbeat_timeout: int, connection: str | None):
        self.bindir = bindir
        self.workdir = Path(tempfile.mkdtemp(prefix="ironic-bench-cluster-"))
        self.heartbeat_timeout = heartbeat_timeout
        self.connection = connection or f"sqlite:///{self.workdir}/ironic.sqlite"
        self.procs: dict[str, subprocess.Popen] = {}
        self.api_port = free_loopback_port()
        self._start("api", "ironic-api", f"[api]\nhost_ip = 127.0.0.1\nport = {self.api_port}\n")
        for _ in range(conductors):
            self.add_conductor()
        self.wait_for_conductors(conductors)

    def common(self) -> str:
        return f"""[DEFAULT]
host = 127.0.0.1
enabled_hardware_types = fake-hardware
rpc_transport = json-rpc
[database]
connection = {self.connection}
[json_rpc]
username = bench
password = bench-secret
[conductor]
heartbeat_interval = 1
heartbeat_timeout = {self.heartbeat_timeout}
automated_clean = false
sync_power_state_interval = 0
[deploy]
http_server_host =
"""

    def _start(self, name: str, executable: str, extra: str) -> None:
        conf = self.workdir / f"{name.replace(':', '-')}.conf"
        conf.write_text(self.common() + extra)
        out = open(self.workdir / f"{name.replace(':', '-')}.log", "ab")
        self.procs[name] = subprocess.Popen(
            [str(self.bindir / executable), "--config-file", str(conf)], stdin=subprocess.DEVNULL,
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def add_conductor(self) -> str:
        port = free_loopback_port()
        name = f"127.0.0.1:{port}"
        self._start(name, "ironic-conductor", f"[json_rpc]\nhost_ip = 127.0.0.1\nport = {port}\n")
        return name

    def client(self) -> Client:
        return Client(self.api_port)

    def alive(self) -> set[str]:
        try:
            status, data = self.client().request("GET", "/v1/conductors")
        except OSError:
            return set()
        if status != 200:
            return set()
        return {c["hostname"] for c in json.loads(data)["conductors"] if c["alive"]}

    def wait_for_conductors(self, count: int, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.alive()) == count:
                return
            time.sleep(0.2)
        raise BenchError(f"{count} conductors did not come up:\n{log_tail(self.workdir / 'api.log')}")

    def kill9(self, name: str) -> None:
        proc = self.procs.pop(name)
        proc.kill()
        proc.wait(timeout=10)

    def stop(self, keep: bool = False) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        self.procs.clear()
        if keep:
            log(f"  (cluster files kept in {self.workdir})")
        else:
            shutil.rmtree(self.workdir, ignore_errors=True)


def enroll(cluster: Cluster, count: int) -> list[str]:
    client = cluster.client()
    uuids = []
    for i in range(count):
        node = client.json("POST", "/v1/nodes", {"driver": "fake-hardware", "name": f"bench-{i}"}, expect=(201,))
        uuids.append(node["uuid"])
    return uuids


def wrk_patch(cluster: Cluster, uuids: list[str], seconds: int, connections: int) -> dict:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise BenchError("wrk is not installed (Debian: apt-get install wrk)")
    nodes_file = cluster.workdir / "nodes.txt"
    nodes_file.write_text("\n".join(uuids) + "\n")
    script = cluster.workdir / "patch.lua"
    script.write_text(PATCH_LUA)
    out = subprocess.run(
        [wrk, "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script),
         f"http://127.0.0.1:{cluster.api_port}"],
        capture_output=True, text=True, env={**os.environ, "NODES_FILE": str(nodes_file)}, timeout=seconds + 60)
    if out.returncode != 0:
        raise BenchError(f"wrk failed: {out.stderr or out.stdout}")
    rps = float(next(line.split()[1] for line in out.stdout.splitlines() if line.startswith("Requests/sec:")))
    non2xx = next((int(line.split()[-1]) for line in out.stdout.splitlines() if "Non-2xx" in line), 0)
    p99 = next((line.split()[1] for line in out.stdout.splitlines() if line.strip().startswith("99%")), "?")
    return {"rps": rps, "non2xx": non2xx, "p99": p99}


def takeover(cluster: Cluster, uuids: list[str], deadline_s: float) -> dict:
    client = cluster.client()
    listing = client.json("GET", "/v1/nodes?fields=uuid,conductor&limit=1000")["nodes"]
    owners: dict[str, list[str]] = {}
    for node in listing:
        owners.setdefault(node["conductor"], []).append(node["uuid"])
    victim, nodes = max(owners.items(), key=lambda kv: len(kv[1]))
    log(f"  kill -9 {victim}, which owns {len(nodes)} of {len(uuids)} nodes")
    cluster.kill9(victim)
    killed = time.monotonic()
    pending = set(nodes)
    answered: dict[str, float] = {}
    target = "power on"
    while pending and time.monotonic() - killed < deadline_s:
        for uuid in list(pending):
            status, _ = client.request("PUT", f"/v1/nodes/{uuid}/states/power", {"target": target})
            if status == 202:
                answered[uuid] = time.monotonic() - killed
                pending.discard(uuid)
        time.sleep(0.1)
    if pending:
        raise BenchError(f"{len(pending)} nodes never answered within {deadline_s:.0f} s")
    return {"victim_nodes": len(nodes), "all_answered_s": max(answered.values()),
            "first_answered_s": min(answered.values())}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bindir", type=Path, default=Path(".build/release"))
    p.add_argument("--nodes", type=int, default=300)
    p.add_argument("--seconds", type=int, default=10, help="duration of each wrk run")
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--heartbeat-timeout", type=int, default=10)
    p.add_argument("--postgres", help="a PostgreSQL database URL to use instead of SQLite")
    args = p.parse_args()

    results = {}
    for conductors in (1, 3):
        log(f"API throughput, {conductors} conductor(s): {args.nodes} nodes, wrk PATCH for {args.seconds} s")
        cluster = Cluster(args.bindir, conductors, args.heartbeat_timeout, args.postgres)
        try:
            uuids = enroll(cluster, args.nodes)
            results[conductors] = wrk_patch(cluster, uuids, args.seconds, args.connections)
            if conductors == 3:
                log(f"Take-over (heartbeat_timeout = {args.heartbeat_timeout} s)")
                results["takeover"] = takeover(cluster, uuids, deadline_s=4 * args.heartbeat_timeout + 30)
        except Exception:
            cluster.stop(keep=True)
            raise
        cluster.stop()
        if args.postgres:
            log("  (PostgreSQL: the second run reuses the same database)")

    one, three = results[1], results[3]
    print()
    print("| active-active conductors | 1 conductor | 3 conductors | ratio |")
    print("|---|---|---|---|")
    print(f"| PATCH through the API, req/s ({args.connections} connections) | {one['rps']:.0f} | {three['rps']:.0f} | {three['rps'] / one['rps']:.2f}x |")
    print(f"| PATCH p99 | {one['p99']} | {three['p99']} | |")
    print(f"| non-2xx answers (409 while a node is locked) | {one['non2xx']} | {three['non2xx']} | |")
    t = results["takeover"]
    print()
    print(f"Take-over after kill -9 of one of three conductors ({t['victim_nodes']} nodes):")
    print(f"  heartbeat_timeout          {args.heartbeat_timeout} s")
    print(f"  first node answering       {t['first_answered_s']:.2f} s after the kill")
    print(f"  every node answering       {t['all_answered_s']:.2f} s after the kill"
          f" ({t['all_answered_s'] / args.heartbeat_timeout:.2f} x heartbeat_timeout)")
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    sys.exit(main())
