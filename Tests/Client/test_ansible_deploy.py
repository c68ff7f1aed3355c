"""The ansible deploy interface end to end, driven with the unmodified ``baremetal`` CLI.

No VMs: each node's "ramdisk" is a simulated one of ssh_targets.py (an sshd on 127.0.0.1 in a
mount namespace of its own, seeing its own disk file at TARGET_DISK, power commands stubbed)
plus a heartbeating stand-in (ramdisk_standin.py) that looks the node up and heartbeats with
``callback_url`` http://127.0.0.1:<port>, the address the conductor's Ansible then reaches the
sshd at (``driver_info.ansible_port``). The conductor, its runner and ``ansible-playbook`` over
SSH are real; power, management and boot are ``fake``.

Nodes are ``fake-hardware`` with ``deploy_interface=ansible``, a raw image from an http.server
on 127.0.0.1 with its sha256, and ``instance_info.root_device`` (Ironic's key for the hints)
= ROOT_DEVICE_HINTS, which names each target's own disk file and nothing else.

* ``TestThreeNodesOneRun``: three nodes are cleaned (clean.yaml, erase_devices_metadata) and
  deployed at once, one of them without a disk: two become ``active`` with the image on their
  disk files, the third ends in ``deploy failed`` naming the hint; ONE deploy playbook run
  served all three.
* ``TestUnreachableRamdisk``: the sshd of a node's ramdisk stops right after it called back,
  and the deploy fails saying the host is unreachable.

Needs root, /usr/sbin/sshd (scripts/install-openssh-server.sh), sgdisk and blkid, and the
ansible venv (scripts/ansible-venv.sh var/ansible-venv, run here).
"""
from __future__ import annotations

import functools
import hashlib
import http.server
import json
import os
import re
import shutil
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest

from conftest import WAIT_TIMEOUT, wait_for
from ramdisk_standin import RamdiskStandIns, StandInNode
from ssh_targets import ROOT_DEVICE_HINTS, TARGET_DISK, SSHTargets

REPO_ROOT = Path(__file__).resolve().parents[2]
PLAYBOOKS = REPO_ROOT / "Playbooks"
VENV = REPO_ROOT / "var" / "ansible-venv"
MIB = 1024 * 1024
DISK_SIZE = 16 * MIB
IMAGE_SIZE = 4 * MIB
MARKER_OFFSET = MIB + 4096
MARKER = b"SWIFT-IRONIC-ANSIBLE-DEPLOY-MARKER"
# Where the runner keeps one output file per ansible-playbook run, relative to the server's
# working directory (its temporary directory).
LOG_DIR = "ansible-logs"

IRONIC_OPTIONS = {
    "DEFAULT": {"enabled_hardware_types": "fake-hardware"},
    "conductor": {"automated_clean": "true"},
    "ansible": {
        "playbooks_path": str(PLAYBOOKS),
        "ansible_playbook_script": str(VENV / "bin" / "ansible-playbook"),
        "playbook_log_dir": LOG_DIR,
        "batch_window": "2",
        # Fake power never sees the ramdisk's `shutdown -h now` (a stub here): boot_instance
        # would read "power on" for 6 x 5 s before powering off through the fake BMC.
        "post_deploy_get_power_state_retries": "0",
    },
}

for tool in ("sgdisk", "blkid", "unshare"):
    if shutil.which(tool) is None:
        pytestmark = pytest.mark.skip(reason=f"{tool} is not installed (make deps)")


# --------------------------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ansible_venv() -> Path:
    proc = subprocess.run([str(REPO_ROOT / "scripts" / "ansible-venv.sh"), str(VENV)],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"scripts/ansible-venv.sh failed:\n{proc.stdout}\n{proc.stderr}"
    return VENV


@pytest.fixture(scope="module")
def targets(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("the simulated ramdisks run sshd as root")
    if not os.access("/usr/sbin/sshd", os.X_OK):
        pytest.skip("no /usr/sbin/sshd: run scripts/install-openssh-server.sh")
    with SSHTargets(tmp_path_factory.mktemp("targets"), count=4, disk_size=DISK_SIZE) as started:
        yield started


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    """A 4 MiB raw GPT image with MARKER inside its partition, served from 127.0.0.1."""
    root = tmp_path_factory.mktemp("www")
    path = root / "disk.raw"
    with open(path, "wb") as f:
        f.truncate(IMAGE_SIZE)
    subprocess.run(["sgdisk", "-n", "1:2048:0", "-c", "1:root", str(path)], check=True,
                   capture_output=True, timeout=60)
    with open(path, "r+b") as f:
        f.seek(MARKER_OFFSET)
        f.write(MARKER)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             functools.partial(QuietHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield {"url": f"http://127.0.0.1:{server.server_address[1]}/disk.raw",
               "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def standins(ironic_server):
    """The heartbeating stand-ins; tests add their nodes with ``standins.add``."""
    group = StandInGroup(ironic_server.endpoint)
    try:
        yield group
    finally:
        group.stop()


class StandInGroup:
    """Stand-ins started per test class, all stopped at the end of the module."""

    def __init__(self, endpoint: str):
        self.endpoint = endpoint
        self.running: list[RamdiskStandIns] = []
        self.by_uuid: dict[str, StandInNode] = {}

    def add(self, nodes: list[StandInNode]) -> RamdiskStandIns:
        started = RamdiskStandIns(self.endpoint, nodes, interval=1.0, max_seconds=1200).start()
        self.running.append(started)
        self.by_uuid.update({n.uuid: n for n in nodes})
        return started

    def stop(self) -> None:
        for group in self.running:
            group.stop()
        stuck = [name for g in self.running for name in g.alive_threads]
        assert not stuck, f"stand-in threads did not stop: {stuck}"


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------

def enroll(cli, target, image, name: str) -> dict:
    """A fake-hardware node with the ansible deploy, its port, and the image to deploy."""
    node = cli.json("node", "create", "--driver", "fake-hardware", "--deploy-interface", "ansible",
                    "--name", name,
                    "--driver-info", "ansible_username=root",
                    "--driver-info", f"ansible_key_file={target_key(target)}",
                    "--driver-info", f"ansible_port={target.port}",
                    "--driver-info", "ansible_python_interpreter=/usr/bin/python3")
    cli.run("node", "set", node["uuid"],
            "--instance-info", f"image_source={image['url']}",
            "--instance-info", "image_os_hash_algo=sha256",
            "--instance-info", f"image_os_hash_value={image['sha256']}",
            "--instance-info", "image_disk_format=raw",
            "--instance-info", f"root_device={json.dumps(ROOT_DEVICE_HINTS)}")
    mac = "52:54:00:%02x:%02x:%02x" % tuple(uuid.uuid4().bytes[:3])
    cli.json("port", "create", mac, "--node", node["uuid"])
    node["mac"] = mac
    return node


def target_key(target) -> Path:
    return target.directory.parent / "id_ed25519"


def show(cli, node_uuid: str) -> dict:
    return cli.json("node", "show", node_uuid)


# Where cleaning and deploying end, well or not.
CLEAN_ENDS = ("available", "clean failed")
DEPLOY_ENDS = ("active", "deploy failed")


def settled(cli, uuids: list[str], ends: tuple[str, ...], timeout: float) -> dict[str, dict]:
    """Waits until every node is in one of ``ends`` and unlocked; returns each node."""
    def fetch():
        return {u: show(cli, u) for u in uuids}

    def done(nodes):
        return all(n["provision_state"] in ends and n["reservation"] is None for n in nodes.values())

    return wait_for(fetch, done, f"nodes {uuids} to reach {ends}", timeout=timeout, interval=1.0)


def playbook_runs(server, playbook: str) -> list[dict]:
    """The runs of ``playbook`` the runner recorded: one output file each, whose header names
    the command line and the nodes (AnsibleRunner.execute)."""
    runs = []
    for path in sorted((server.workdir / LOG_DIR).glob(f"*-{Path(playbook).stem}-*.log")):
        text = path.read_text(errors="replace")
        command = re.search(r"^# (.*)$", text, re.MULTILINE)
        nodes = re.search(r"^# nodes: (.*)$", text, re.MULTILINE)
        runs.append({"path": path, "command": command[1] if command else "",
                     "nodes": nodes[1].split(", ") if nodes else [], "text": text})
    return runs


def read_marker(disk: Path) -> bytes:
    with open(disk, "rb") as f:
        f.seek(MARKER_OFFSET)
        return f.read(len(MARKER))


def partition_table(disk: Path) -> str:
    proc = subprocess.run(["blkid", "-p", "-o", "value", "-s", "PTTYPE", str(disk)],
                          capture_output=True, text=True, timeout=30)
    return proc.stdout.strip()


def history(cli, node_uuid: str) -> list[str]:
    return [e["event"] for e in cli.json("node", "history", "list", node_uuid, "--long")]


# --------------------------------------------------------------------------------------------
# (a) Three nodes, one deploy run, one without a disk
# --------------------------------------------------------------------------------------------

@pytest.mark.incremental
class TestThreeNodesOneRun:
    nodes: list[dict] = []

    def test_enroll_and_manage(self, ansible_venv, cli, targets, image, standins):
        cls = type(self)
        cls.nodes = [enroll(cli, targets[i], image, f"ansible-{i}") for i in range(3)]
        uuids = [n["uuid"] for n in cls.nodes]
        cli.run("node", "manage", *uuids, "--wait", str(int(WAIT_TIMEOUT)))
        for u in uuids:
            assert show(cli, u)["provision_state"] == "manageable"
        standins.add([StandInNode(n["uuid"], n["mac"]) for n in cls.nodes])

    def test_provide_cleans_through_the_clean_playbook(self, cli, targets, ironic_server, standins):
        uuids = [n["uuid"] for n in self.nodes]
        # Something for erase_devices_metadata to erase: a partition table on every disk.
        for t in targets.targets[:3]:
            subprocess.run(["sgdisk", "-n", "1:2048:0", str(t.disk)], check=True, capture_output=True, timeout=60)
            assert partition_table(t.disk) == "gpt"
        started = time.monotonic()
        cli.run("node", "provide", *uuids)
        nodes = settled(cli, uuids, CLEAN_ENDS, timeout=WAIT_TIMEOUT)
        print(f"cleaning of 3 nodes: {time.monotonic() - started:.1f}s")
        for u, node in nodes.items():
            assert node["provision_state"] == "available", (u, node["provision_state"], node["last_error"])
            assert node["last_error"] is None
            assert node["clean_step"] == {}, node["clean_step"]
            assert any("erase_devices_metadata" in e and "Cleaning of node" in e for e in history(cli, u)), \
                history(cli, u)
            assert standins.by_uuid[u].heartbeats > 0
            assert "clean wait" in standins.by_uuid[u].heartbeat_states
        for t in targets.targets[:3]:
            assert partition_table(t.disk) == "", f"{t.disk} still has a partition table after cleaning"
        runs = playbook_runs(ironic_server, "clean.yaml")
        assert len(runs) == 1, [r["nodes"] for r in runs]
        assert sorted(runs[0]["nodes"]) == sorted(uuids)
        assert "--tags=erase_devices_metadata" in runs[0]["command"], runs[0]["command"]

    def test_deploy_three_at_once_one_without_disk(self, cli, targets, ironic_server, standins):
        uuids = [n["uuid"] for n in self.nodes]
        ok, broken = uuids[:2], uuids[2]
        removed = targets[2].disk
        removed.unlink()
        try:
            started = time.monotonic()
            cli.run("node", "deploy", *uuids)  # no --wait: all three at once
            nodes = settled(cli, uuids, DEPLOY_ENDS, timeout=WAIT_TIMEOUT + 120)
            print(f"deploy of 3 nodes: {time.monotonic() - started:.1f}s")
        finally:
            with open(removed, "wb") as f:
                f.truncate(DISK_SIZE)
        for u in ok:
            node = nodes[u]
            assert node["provision_state"] == "active", (u, node["provision_state"], node["last_error"])
            assert node["last_error"] is None
            assert node["power_state"] == "power on"
            assert node["deploy_step"] == {}
            assert "agent_url" not in node["driver_internal_info"], "the ramdisk's address outlived its work"
        for t in targets.targets[:2]:
            assert read_marker(t.disk) == MARKER, f"the image is not on {t.disk}"
            assert t.disk.stat().st_size == DISK_SIZE
            assert t.power_log.read_text().split()[1:] == ["shutdown", "-h", "now"]
        failed = nodes[broken]
        assert failed["provision_state"] == "deploy failed", failed["provision_state"]
        error = failed["last_error"] or ""
        print(f"last_error of the node without a disk: {error}")
        assert "deploy.write_image" in error, error
        assert "root device hints" in error and str(TARGET_DISK) in error and "does not exist" in error, error
        assert failed["power_state"] == "power off"
        assert "agent_url" not in failed["driver_internal_info"]
        assert not targets[2].power_log.exists(), "the failed node's ramdisk was asked to shut down"

        deploys = playbook_runs(ironic_server, "deploy.yaml")
        assert len(deploys) == 1, [r["nodes"] for r in deploys]
        assert sorted(deploys[0]["nodes"]) == sorted(uuids)
        assert "--forks=3" in deploys[0]["command"], deploys[0]["command"]
        shutdowns = playbook_runs(ironic_server, "shutdown.yaml")
        assert len(shutdowns) == 1 and sorted(shutdowns[0]["nodes"]) == sorted(ok), \
            [r["nodes"] for r in shutdowns]
        for u in uuids:
            assert "wait call-back" in standins.by_uuid[u].heartbeat_states, standins.by_uuid[u]
        # Nothing stays in the middle of a deploy.
        listed = cli.json("node", "list", "--fields", "uuid", "provision_state", "reservation")
        mine = [n for n in listed if n["uuid"] in uuids]
        assert len(mine) == 3, listed
        for node in mine:
            assert node["provision_state"] not in ("deploying", "wait call-back"), node
            assert node["reservation"] is None, node


# --------------------------------------------------------------------------------------------
# (b) The ramdisk's sshd goes away after it called back
# --------------------------------------------------------------------------------------------

@pytest.mark.incremental
class TestUnreachableRamdisk:
    node: dict = {}
    stopped_at: list[float] = []

    def test_enroll_and_provide(self, ansible_venv, cli, targets, image, standins):
        cls = type(self)
        target = targets[3]
        cls.node = enroll(cli, target, image, "ansible-unreachable")
        u = cls.node["uuid"]

        def stop_sshd_on_deploy(node: StandInNode, state: str) -> None:
            # Right before the deploy ramdisk's first heartbeat: it booted and looked up, and
            # then its sshd dies; the heartbeat still goes out.
            if state == "wait call-back" and not cls.stopped_at:
                SSHTargets._stop_one(target)
                cls.stopped_at.append(time.monotonic())

        standins.add([StandInNode(u, cls.node["mac"], before_heartbeat=stop_sshd_on_deploy)])
        # Cleaning is the other class's: this node goes to available without it.
        cli.run("node", "set", u, "--no-automated-clean")
        cli.run("node", "manage", u, "--wait", str(int(WAIT_TIMEOUT)))
        cli.run("node", "provide", u, "--wait", str(int(WAIT_TIMEOUT)))
        assert show(cli, u)["provision_state"] == "available"
        assert not cls.stopped_at, "the sshd was stopped before the deploy"

    def test_deploy_fails_unreachable(self, cli, targets):
        u = self.node["uuid"]
        started = time.monotonic()
        cli.run("node", "deploy", u)
        node = settled(cli, [u], DEPLOY_ENDS, timeout=WAIT_TIMEOUT + 120)[u]
        print(f"deploy with the sshd stopped: {time.monotonic() - started:.1f}s")
        assert self.stopped_at, "the stand-in never heartbeated in wait call-back"
        assert targets[3].proc is None, "the target's sshd still runs"
        assert node["provision_state"] == "deploy failed", (node["provision_state"], node["last_error"])
        error = node["last_error"] or ""
        print(f"last_error of the unreachable node: {error}")
        assert "deploy.write_image" in error and "unreachable" in error.lower(), error
        assert f"port {targets[3].port}" in error, error
        assert node["reservation"] is None
        assert node["power_state"] == "power off"
        assert read_marker(targets[3].disk) != MARKER
