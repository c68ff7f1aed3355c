"""The `ansible` deploy interface on a lab virtual machine, with the unmodified `baremetal` CLI.

The machine network-boots the lab's deploy ramdisk (ironic-python-agent for lookup and
heartbeats, sshd for Ansible, see docs/ramdisk.md); the conductor then runs the project's own
Playbooks/ against it over SSH: clean.yaml for automated cleaning, deploy.yaml to write the
test image (qcow2, copied from the conductor) and the config drive, shutdown.yaml to power it
off. The machine then boots the image from its disk and prints its marker on the serial port.
A root device hint that matches no disk fails the deploy with the playbook task's message.
"""
from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from conftest import _free_loopback_port, _server_binary

REPO = Path(__file__).resolve().parents[2]
IMAGES = REPO / "var" / "images"
ANSIBLE_PLAYBOOK = REPO / "var" / "ansible-venv" / "bin" / "ansible-playbook"
MARKER = b"SWIFT-IRONIC-TEST-IMAGE-BOOTED"
BOOT_PORT = _free_loopback_port()
STEP_TIMEOUT = 900

IRONIC_OPTIONS = {
    "DEFAULT": {"enabled_hardware_types": "ipmi, fake-hardware"},
    "conductor": {"automated_clean": "true", "deploy_callback_timeout": "900", "clean_callback_timeout": "900",
                  "check_provision_state_interval": "10"},
    "deploy": {"http_url": f"http://10.0.2.2:{BOOT_PORT}", "http_server_host": "127.0.0.1"},
    "service_catalog": {"endpoint_override": "http://10.0.2.2:{api_port}"},
    "ansible": {"playbooks_path": str(REPO / "Playbooks"), "ansible_playbook_script": str(ANSIBLE_PLAYBOOK)},
}


def _ironic(*args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([str(_server_binary()), *args], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=timeout, cwd=REPO)


@pytest.fixture(scope="module")
def vm_lab(ironic_server, tmp_path_factory):
    for name in ("ipa.kernel", "ipa.initramfs", "ansible_key", "test-image.qcow2", "test-image.qcow2.sha256"):
        assert (IMAGES / name).exists(), f"{IMAGES / name} missing: run `make test-images`"
    assert ANSIBLE_PLAYBOOK.exists(), f"{ANSIBLE_PLAYBOOK} missing: run `scripts/ansible-venv.sh var/ansible-venv`"
    directory = tmp_path_factory.mktemp("vmlab-ansible")
    up = _ironic("lab", "up", "--vms", "1", "--directory", str(directory),
                 "--boot-url", f"http://10.0.2.2:{BOOT_PORT}/boot.ipxe")
    assert up.returncode == 0, f"lab up failed:\n{up.stdout}\n{up.stderr}"
    print(up.stdout)
    try:
        enroll = _ironic("lab", "enroll", "--directory", str(directory), "--os-endpoint", ironic_server.endpoint)
        assert enroll.returncode == 0, f"lab enroll failed:\n{enroll.stdout}\n{enroll.stderr}"
        state = json.loads((directory / "lab.json").read_text())
        yield directory, Path(state["servers"][0]["chassisDirectory"]) / "serial.log"
    finally:
        down = _ironic("lab", "down", "--directory", str(directory), timeout=90)
        assert down.returncode == 0, f"lab down failed:\n{down.stdout}\n{down.stderr}"


def _serial(log: Path) -> bytes:
    return log.read_bytes() if log.exists() else b""


def _set_image(cli, node: str, hints: str) -> None:
    checksum = (IMAGES / "test-image.qcow2.sha256").read_text().split()[0]
    cli.run("node", "set", node,
            "--instance-info", f"image_source={IMAGES / 'test-image.qcow2'}",
            "--instance-info", "image_os_hash_algo=sha256",
            "--instance-info", f"image_os_hash_value={checksum}",
            "--instance-info", "image_disk_format=qcow2",
            "--property", f"root_device={hints}")


def _history(cli, node: str) -> str:
    return "\n".join(entry["event"] for entry in cli.json("node", "history", "list", node, "--long"))


def test_ansible_cleans_and_deploys_the_machine(cli, vm_lab):
    _, serial = vm_lab
    node = "lab-node-0"
    cli.run("node", "set", node, "--deploy-interface", "ansible")
    shown = cli.json("node", "show", node)
    assert shown["deploy_interface"] == "ansible"
    assert shown["driver_info"]["ansible_username"] == "ansible"

    cli.run("node", "manage", node, "--wait", str(STEP_TIMEOUT), timeout=STEP_TIMEOUT + 60)
    started = time.monotonic()
    cli.run("node", "provide", node, "--wait", str(STEP_TIMEOUT), timeout=STEP_TIMEOUT + 60)
    shown = cli.json("node", "show", node)
    assert shown["provision_state"] == "available", shown["last_error"]
    assert b"sshd listening on port 22" in _serial(serial), "the ramdisk ran sshd"
    assert "erase_devices_metadata" in _history(cli, node), "cleaning ran clean.yaml's step"
    print(f"cleaning through clean.yaml took {time.monotonic() - started:.0f} s")

    _set_image(cli, node, '{"name": "/dev/vda"}')
    before = len(_serial(serial))
    started = time.monotonic()
    cli.run("node", "deploy", node, "--config-drive", '{"meta_data": {"hostname": "lab-node-0"}}',
            "--wait", str(STEP_TIMEOUT), timeout=STEP_TIMEOUT + 60)
    shown = cli.json("node", "show", node)
    assert shown["provision_state"] == "active", shown["last_error"]
    print(f"deploy through deploy.yaml took {time.monotonic() - started:.0f} s")
    deadline = time.monotonic() + 120
    while MARKER not in _serial(serial)[before:] and time.monotonic() < deadline:
        time.sleep(1)
    assert MARKER in _serial(serial)[before:], "the machine booted the image Ansible wrote to its disk"


def test_a_hint_that_matches_no_disk_fails_the_deploy(cli, vm_lab):
    node = "lab-node-0"
    cli.run("node", "undeploy", node, "--wait", str(STEP_TIMEOUT), timeout=STEP_TIMEOUT + 60)
    shown = cli.json("node", "show", node)
    assert shown["provision_state"] == "available", shown["last_error"]
    _set_image(cli, node, '{"serial": "no-such-disk"}')
    cli.run("node", "deploy", node)
    deadline = time.monotonic() + STEP_TIMEOUT
    while time.monotonic() < deadline:
        shown = cli.json("node", "show", node)
        if shown["provision_state"] == "deploy failed" and shown["reservation"] is None:
            break
        time.sleep(2)
    assert shown["provision_state"] == "deploy failed", shown
    error = shown["last_error"] or ""
    assert "no-such-disk" in error and "write_image" in error, error
