"""A real deploy: the unmodified `baremetal` CLI provisions a lab virtual machine.

`ironic lab up --vms 1` starts a QEMU machine behind an ipmi_sim BMC; the
conductor network-boots the deploy ramdisk (the unmodified ironic-python-agent
from PyPI, see docs/ramdisk.md) on it over iPXE, the agent looks the node up,
heartbeats, cleans and writes the test image, and the machine then boots that
image from its disk and prints its marker on the serial port. Inspection and
rescue run through the same agent.

The ramdisk and the test image come from `make test-images` (var/images).
Where /dev/kvm cannot run a guest the machine runs under TCG; the lab says so.
"""
from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import _free_loopback_port, _server_binary

REPO = Path(__file__).resolve().parents[2]
IMAGES = REPO / "var" / "images"
MARKER = b"SWIFT-IRONIC-TEST-IMAGE-BOOTED"
BOOT_PORT = _free_loopback_port()
# One machine under TCG boots the ramdisk in about 80 s; every wait allows several times that.
STEP_TIMEOUT = 900

IRONIC_OPTIONS = {
    "DEFAULT": {"enabled_hardware_types": "ipmi, fake-hardware"},
    "conductor": {"automated_clean": "true", "deploy_callback_timeout": "900", "clean_callback_timeout": "900",
                  "check_provision_state_interval": "10"},
    "deploy": {"http_url": f"http://10.0.2.2:{BOOT_PORT}", "http_server_host": "127.0.0.1"},
    "service_catalog": {"endpoint_override": "http://10.0.2.2:{api_port}"},
}


def _ironic(*args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([str(_server_binary()), *args], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=timeout, cwd=REPO)


@pytest.fixture(scope="module")
def vm_lab(ironic_server, tmp_path_factory):
    for name in ("ipa.kernel", "ipa.initramfs", "test-image.raw", "test-image.raw.sha256"):
        assert (IMAGES / name).exists(), f"{IMAGES / name} missing: run `make test-images`"
    directory = tmp_path_factory.mktemp("vmlab")
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


def _set_image(cli, node: str, checksum: str) -> None:
    cli.run("node", "set", node,
            "--instance-info", f"image_source={IMAGES / 'test-image.raw'}",
            "--instance-info", "image_os_hash_algo=sha256",
            "--instance-info", f"image_os_hash_value={checksum}",
            "--instance-info", "image_disk_format=raw")


def _history(cli, node: str) -> list[str]:
    return [entry["event"] for entry in cli.json("node", "history", "list", node, "--long")]


def test_manage_provide_deploy_boots_the_image_from_disk(cli, vm_lab):
    _, serial = vm_lab
    node = "lab-node-0"
    shown = cli.json("node", "show", node)
    assert shown["deploy_interface"] == "direct" and shown["boot_interface"] == "ipxe"

    cli.run("node", "manage", node, "--wait", str(STEP_TIMEOUT), timeout=STEP_TIMEOUT + 60)
    # Inspection boots the agent, which posts its inventory; the node's properties come from it.
    started = time.monotonic()
    cli.run("node", "inspect", node, "--wait", str(STEP_TIMEOUT), timeout=STEP_TIMEOUT + 60)
    shown = cli.json("node", "show", node)
    assert shown["provision_state"] == "manageable", shown["last_error"]
    properties = shown["properties"]
    assert properties.get("cpu_arch") == "x86_64" and properties.get("cpus", 0) >= 1, properties
    assert 1024 <= properties.get("memory_mb", 0) <= 1536, properties
    assert properties.get("local_gb") == 7, f"an 8 GiB disk less one for partitioning: {properties}"
    # The CLI negotiates down to the service's advertised maximum (1.78), below the
    # endpoint's 1.81, so the inventory is read with the microversion asked for explicitly.
    request = urllib.request.Request(f"{cli.endpoint}/v1/nodes/{node}/inventory",
                                     headers={"X-OpenStack-Ironic-API-Version": "1.81"})
    with urllib.request.urlopen(request, timeout=30) as reply:
        inventory = json.load(reply)
    macs = {nic["mac_address"].lower() for nic in inventory["inventory"]["interfaces"]}
    ports = {port["address"] for port in cli.json("port", "list", "--node", node)}
    assert ports and ports <= macs, f"the enrolled port is a NIC the agent saw: {ports} vs {macs}"
    print(f"inspection took {time.monotonic() - started:.0f} s")

    # provide cleans through the agent: the machine boots the ramdisk again.
    started = time.monotonic()
    cli.run("node", "provide", node, "--wait", str(STEP_TIMEOUT), timeout=STEP_TIMEOUT + 60)
    shown = cli.json("node", "show", node)
    assert shown["provision_state"] == "available", shown["last_error"]
    assert b"ironic-python-agent" in _serial(serial), "the ramdisk ran on the machine"
    print(f"cleaning took {time.monotonic() - started:.0f} s")

    _set_image(cli, node, (IMAGES / "test-image.raw.sha256").read_text().split()[0])
    cli.run("node", "set", node, "--rescue-interface", "agent")
    before = len(_serial(serial))
    started = time.monotonic()
    cli.run("node", "deploy", node, "--config-drive", '{"meta_data": {"hostname": "lab-node-0"}}',
            "--wait", str(STEP_TIMEOUT), timeout=STEP_TIMEOUT + 60)
    shown = cli.json("node", "show", node)
    assert shown["provision_state"] == "active", shown["last_error"]
    assert shown["driver_internal_info"].get("agent_secret_token") is None, "the token ends with the ramdisk"
    print(f"deploy took {time.monotonic() - started:.0f} s")

    deadline = time.monotonic() + 120
    while MARKER not in _serial(serial)[before:] and time.monotonic() < deadline:
        time.sleep(1)
    assert MARKER in _serial(serial)[before:], "the machine booted the image from its disk"

    events = "\n".join(_history(cli, node))
    assert "Agent token issued" in events
    assert "finished; the instance boots from its disk" in events
    assert "Inspection finished" in events


def test_rescue_and_unrescue(cli, vm_lab):
    _, serial = vm_lab
    node = "lab-node-0"
    assert cli.json("node", "show", node)["provision_state"] == "active"
    before = len(_serial(serial))
    cli.run("node", "rescue", node, "--rescue-password", "lab-rescue-secret", "--wait", str(STEP_TIMEOUT),
            timeout=STEP_TIMEOUT + 60)
    shown = cli.json("node", "show", node)
    assert shown["provision_state"] == "rescue", shown["last_error"]
    assert "rescue_password" not in shown["instance_info"], "the password leaves the node once the agent has it"
    assert shown["driver_internal_info"].get("agent_url") is None
    deadline = time.monotonic() + 60
    while b"RESCUE MODE" not in _serial(serial)[before:] and time.monotonic() < deadline:
        time.sleep(1)
    console = _serial(serial)[before:]
    assert b"RESCUE MODE" in console and b"crypt scheme $5$" in console, "the agent set a sha256-hashed password"
    assert b"lab-rescue-secret" not in console

    before = len(_serial(serial))
    cli.run("node", "unrescue", node, "--wait", str(STEP_TIMEOUT), timeout=STEP_TIMEOUT + 60)
    assert cli.json("node", "show", node)["provision_state"] == "active"
    deadline = time.monotonic() + 120
    while MARKER not in _serial(serial)[before:] and time.monotonic() < deadline:
        time.sleep(1)
    assert MARKER in _serial(serial)[before:], "unrescue boots the instance from its disk again"


def test_wrong_checksum_fails_the_deploy(cli, vm_lab):
    node = "lab-node-0"
    # Undeploy cleans through the agent again and clears instance_info, as in Ironic.
    cli.run("node", "undeploy", node, "--wait", str(STEP_TIMEOUT), timeout=STEP_TIMEOUT + 60)
    shown = cli.json("node", "show", node)
    assert shown["provision_state"] == "available", shown["last_error"]
    assert "image_source" not in shown["instance_info"]
    _set_image(cli, node, "0" * 64)
    cli.run("node", "deploy", node)
    deadline = time.monotonic() + STEP_TIMEOUT
    while time.monotonic() < deadline:
        shown = cli.json("node", "show", node)
        if shown["provision_state"] == "deploy failed" and shown["reservation"] is None:
            break
        time.sleep(2)
    assert shown["provision_state"] == "deploy failed"
    assert "checksum" in (shown["last_error"] or "").lower(), shown["last_error"]
