"""The unmodified `baremetal` CLI against `ironic-api` plus two `ironic-conductor`
processes that share one SQLite database and talk JSON-RPC (the split deployment
of docs/deployment.md), including a conductor killed with SIGKILL."""
from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import BaremetalCLI, _free_loopback_port, _server_binary, _tail, wait_for

HEARTBEAT_TIMEOUT = 6


class SplitDeployment:
    """ironic-api and conductors started (and ended, by PID) by the test."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.bindir = _server_binary().parent
        self.api_port = _free_loopback_port()
        self.endpoint = f"http://127.0.0.1:{self.api_port}"
        self.procs: dict[str, subprocess.Popen] = {}
        self.common = f"""[DEFAULT]
host = 127.0.0.1
enabled_hardware_types = fake-hardware
rpc_transport = json-rpc
[database]
connection = sqlite:///{workdir}/ironic.sqlite
[json_rpc]
username = ironic
password = split-test-secret
[conductor]
heartbeat_interval = 1
heartbeat_timeout = {HEARTBEAT_TIMEOUT}
automated_clean = false
[deploy]
http_server_host =
"""

    def _start(self, name: str, executable: str, extra: str) -> None:
        conf = self.workdir / f"{name.replace(':', '-')}.conf"
        conf.write_text(self.common + extra)
        log = open(self.workdir / f"{name.replace(':', '-')}.log", "ab")
        self.procs[name] = subprocess.Popen(
            [str(self.bindir / executable), "--config-file", str(conf)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def start(self, conductors: int) -> None:
        self._start("api", "ironic-api", f"[api]\nhost_ip = 127.0.0.1\nport = {self.api_port}\n")
        for _ in range(conductors):
            port = _free_loopback_port()
            self._start(f"127.0.0.1:{port}", "ironic-conductor", f"[json_rpc]\nhost_ip = 127.0.0.1\nport = {port}\n")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.endpoint + "/", timeout=2) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise AssertionError(f"ironic-api did not start:\n{_tail(self.workdir / 'api.log')}")

    def kill(self, name: str) -> None:
        proc = self.procs.pop(name)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)

    def stop(self) -> None:
        for proc in self.procs.values():
            proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        self.procs.clear()


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    deployment = SplitDeployment(tmp_path_factory.mktemp("split"))
    try:
        deployment.start(conductors=2)
        yield deployment
    finally:
        deployment.stop()


@pytest.fixture(scope="module")
def split_cli(split) -> BaremetalCLI:
    return BaremetalCLI(split.endpoint, split.workdir)


def _show(cli, ident):
    return cli.json("node", "show", ident)


def test_both_conductors_are_listed_alive(split_cli, split):
    names = sorted(n for n in split.procs if n != "api")
    wait_for(lambda: split_cli.json("conductor", "list"),
             lambda cs: sorted(c["hostname"] for c in cs if c["alive"]) == names,
             "both conductors alive")


def test_nodes_deploy_through_either_conductor(split_cli):
    # Enroll until both conductors own a node (the hash ring decides), then deploy one
    # node of each.
    first_by_owner: dict[str, str] = {}
    for i in range(16):
        name = f"split-{i}"
        split_cli.run("node", "create", "--driver", "fake-hardware", "--name", name)
        first_by_owner.setdefault(_show(split_cli, name)["conductor"], name)
        if len(first_by_owner) == 2:
            break
    assert len(first_by_owner) == 2, f"nodes spread over both conductors: {first_by_owner}"
    for name in first_by_owner.values():
        split_cli.run("node", "manage", name, "--wait", "120")
        split_cli.run("node", "provide", name, "--wait", "120")
        split_cli.run("node", "deploy", name, "--wait", "120")
        assert _show(split_cli, name)["provision_state"] == "active"


def test_errors_raised_by_a_conductor_reach_the_cli(split_cli):
    proc = split_cli.fails("node", "adopt", "split-0")
    assert "active" in proc.stderr or "adopt" in proc.stderr, proc.stderr


def test_a_killed_conductors_nodes_answer_again(split_cli, split):
    victim = _show(split_cli, "split-0")["conductor"]
    nodes = split_cli.json("node", "list", "--fields", "name", "conductor")
    orphans = [n.get("Name", n.get("name")) for n in nodes if n.get("Conductor", n.get("conductor")) == victim]
    assert orphans
    split.kill(victim)
    # The CLI retries 503s while the conductor is presumed alive; once its heartbeat is
    # older than heartbeat_timeout the others own its nodes.
    for name in orphans:
        wait_for(lambda: split_cli.run("node", "power", "off", name, check=False).returncode,
                 lambda code: code == 0, f"power off {name} after its conductor died",
                 timeout=4 * HEARTBEAT_TIMEOUT)
        node = wait_for(lambda: _show(split_cli, name), lambda n: n["target_power_state"] is None,
                        f"{name} powered off")
        assert node["power_state"] == "power off"
        assert node["conductor"] != victim
    alive = [c["hostname"] for c in split_cli.json("conductor", "list") if c["alive"]]
    assert victim not in alive
