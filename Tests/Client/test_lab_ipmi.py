"""The lab's simulated BMCs driven through the `ipmi` hardware type with the real CLI.

`ironic lab up --nodes N && ironic lab enroll`, then the unmodified `baremetal`
CLI powers the simulated servers on and off; the lab's own view of each
BMC (`ironic lab status --json`, read from ipmi_sim's chassis state) must
follow.
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from conftest import _server_binary, wait_for

LAB_NODES = 2


def _ironic(*args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([str(_server_binary()), *args], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=timeout)


@pytest.fixture(scope="module")
def lab(ironic_server, tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("lab")
    up = _ironic("lab", "up", "--nodes", str(LAB_NODES), "--directory", str(directory))
    assert up.returncode == 0, f"lab up failed:\n{up.stdout}\n{up.stderr}"
    try:
        enroll = _ironic("lab", "enroll", "--directory", str(directory), "--os-endpoint", ironic_server.endpoint)
        assert enroll.returncode == 0, f"lab enroll failed:\n{enroll.stdout}\n{enroll.stderr}"
        yield directory
    finally:
        down = _ironic("lab", "down", "--directory", str(directory), timeout=90)
        assert down.returncode == 0, f"lab down failed:\n{down.stdout}\n{down.stderr}"


def _lab_power(directory: Path, name: str) -> bool:
    status = _ironic("lab", "status", "--directory", str(directory), "--json")
    assert status.returncode == 0, status.stdout + status.stderr
    servers = {s["name"]: s for s in json.loads(status.stdout)["servers"]}
    return servers[name]["power"]


def test_enrolled_nodes_use_the_ipmi_hardware_type(cli, lab):
    for index in range(LAB_NODES):
        node = cli.json("node", "show", f"lab-node-{index}")
        assert node["driver"] == "ipmi"
        assert node["power_interface"] == "ipmi"
        assert node["driver_info"]["ipmi_password"] == "******"
        assert node["driver_info"]["ipmi_address"] == "127.0.0.1"


def test_enroll_is_idempotent(ironic_server, cli, lab):
    again = _ironic("lab", "enroll", "--directory", str(lab), "--os-endpoint", ironic_server.endpoint)
    assert again.returncode == 0, again.stdout + again.stderr
    names = [n["name"] for n in cli.json("node", "list")]
    assert sorted(n for n in names if n.startswith("lab-node-")) == [f"lab-node-{i}" for i in range(LAB_NODES)]


def test_manage_reads_the_bmc(cli, lab):
    cli.run("node", "manage", "lab-node-0", "--wait", "120")
    node = cli.json("node", "show", "lab-node-0")
    assert node["provision_state"] == "manageable"
    assert node["power_state"] == ("power on" if _lab_power(lab, "lab-node-0") else "power off")


@pytest.mark.parametrize("command,state,on", [(("power", "on"), "power on", True), (("power", "off"), "power off", False),
                                              (("reboot",), "power on", True), (("power", "off"), "power off", False)])
def test_power_actions_reach_the_simulated_bmc(cli, lab, command, state, on):
    cli.run("node", *command, "lab-node-1")
    node = wait_for(lambda: cli.json("node", "show", "lab-node-1"),
                    lambda n: n["target_power_state"] is None and n["power_state"] == state,
                    f"lab-node-1 to reach {state}")
    assert node["last_error"] is None
    assert _lab_power(lab, "lab-node-1") is on


def test_boot_device_reaches_the_simulated_bmc(cli, lab):
    cli.run("node", "boot", "device", "set", "lab-node-1", "pxe")
    status = _ironic("lab", "status", "--directory", str(lab), "--json")
    servers = {s["name"]: s for s in json.loads(status.stdout)["servers"]}
    assert servers["lab-node-1"]["bootDevice"] == "pxe"
    shown = cli.json("node", "boot", "device", "show", "lab-node-1")
    assert shown["boot_device"] == "pxe"
