"""The real ``baremetal`` CLI (python-ironicclient) against swift-ironic.

Every command runs as
``baremetal --os-auth-type none --os-endpoint http://127.0.0.1:PORT ...``
with the CLI's default API version ("latest": it asks for the newest version
it knows and negotiates down on HTTP 406).
"""
from __future__ import annotations

import re

import pytest

from conftest import wait_for

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
WAIT = "120"  # seconds given to `--wait`


def _csv(value) -> list[str]:
    """The CLI prints list fields joined with ", "; accept a real list too."""
    if isinstance(value, list):
        return value
    return [v.strip() for v in str(value).split(",") if v.strip()]


def _show(cli, ident: str) -> dict:
    return cli.json("node", "show", ident)


def _wait_power(cli, ident: str, expected: str) -> dict:
    return wait_for(lambda: _show(cli, ident),
                    lambda n: n["power_state"] == expected and n["target_power_state"] is None,
                    f"node {ident} to reach power state {expected!r}")


@pytest.fixture(scope="module")
def conductor_hostname(cli) -> str:
    conductors = cli.json("conductor", "list")
    assert len(conductors) == 1, conductors
    return conductors[0]["hostname"]


# --------------------------------------------------------------------------
# Node lifecycle: enroll -> manageable -> available -> active -> available
# --------------------------------------------------------------------------

@pytest.mark.incremental
class TestNodeLifecycle:
    NAME = "cli-node-1"
    node: dict = {}

    def test_create(self, cli):
        node = cli.json("node", "create", "--driver", "fake-hardware", "--name", self.NAME,
                        "--property", "cpus=4", "--property", "memory_mb=8192",
                        "--extra", "owner_ref=client-tests",
                        "--resource-class", "baremetal-cli")
        assert UUID_RE.match(node["uuid"]), node["uuid"]
        assert node["name"] == self.NAME
        assert node["driver"] == "fake-hardware"
        assert node["provision_state"] == "enroll"
        assert node["target_provision_state"] is None
        assert node["maintenance"] is False
        assert node["maintenance_reason"] is None
        assert node["power_state"] is None
        assert node["instance_uuid"] is None
        assert node["last_error"] is None
        # The CLI turns `--property cpus=4` into the JSON number 4.
        assert node["properties"] == {"cpus": 4, "memory_mb": 8192}
        assert node["extra"] == {"owner_ref": "client-tests"}
        assert node["resource_class"] == "baremetal-cli"
        # fake-hardware's default interfaces
        assert node["power_interface"] == "fake"
        assert node["management_interface"] == "fake"
        assert node["deploy_interface"] == "fake"
        TestNodeLifecycle.node = node

    def test_show_by_name_and_uuid(self, cli, conductor_hostname):
        uuid = self.node["uuid"]
        by_name = _show(cli, self.NAME)
        by_uuid = _show(cli, uuid)
        assert by_name["uuid"] == by_uuid["uuid"] == uuid
        assert by_name["name"] == by_uuid["name"] == self.NAME
        assert by_uuid["provision_state"] == "enroll"
        assert by_uuid["properties"] == {"cpus": 4, "memory_mb": 8192}
        assert by_uuid["conductor"] == conductor_hostname

    def test_show_selected_fields(self, cli):
        shown = cli.json("node", "show", self.NAME, "--fields", "uuid", "provision_state")
        assert shown == {"uuid": self.node["uuid"], "provision_state": "enroll"}

    def test_list(self, cli):
        nodes = cli.json("node", "list")
        mine = [n for n in nodes if n["uuid"] == self.node["uuid"]]
        assert mine == [{"uuid": self.node["uuid"], "name": self.NAME, "instance_uuid": None,
                         "power_state": None, "provision_state": "enroll",
                         "maintenance": False}], nodes

    def test_list_filtered(self, cli, conductor_hostname):
        by_conductor = cli.json("node", "list", "--conductor", conductor_hostname)
        assert self.node["uuid"] in [n["uuid"] for n in by_conductor]
        assert cli.json("node", "list", "--conductor", "no-such-conductor") == []
        enrolled = cli.json("node", "list", "--provision-state", "enroll")
        assert self.node["uuid"] in [n["uuid"] for n in enrolled]
        assert all(n["provision_state"] == "enroll" for n in enrolled), enrolled
        active = cli.json("node", "list", "--provision-state", "active")
        assert self.node["uuid"] not in [n["uuid"] for n in active]
        in_maintenance = cli.json("node", "list", "--maintenance")
        assert self.node["uuid"] not in [n["uuid"] for n in in_maintenance]
        unassociated = cli.json("node", "list", "--unassociated")
        assert self.node["uuid"] in [n["uuid"] for n in unassociated]
        associated = cli.json("node", "list", "--associated")
        assert self.node["uuid"] not in [n["uuid"] for n in associated]

    def test_list_long(self, cli):
        nodes = cli.json("node", "list", "--long")
        mine = [n for n in nodes if n["uuid"] == self.node["uuid"]]
        assert len(mine) == 1, nodes
        assert mine[0]["driver"] == "fake-hardware"
        assert mine[0]["resource_class"] == "baremetal-cli"
        assert mine[0]["properties"] == {"cpus": 4, "memory_mb": 8192}

    def test_manage(self, cli):
        cli.run("node", "manage", self.NAME, "--wait", WAIT)
        node = _show(cli, self.NAME)
        assert node["provision_state"] == "manageable"
        assert node["target_provision_state"] is None
        assert node["last_error"] is None

    def test_provide(self, cli):
        cli.run("node", "provide", self.NAME, "--wait", WAIT)
        node = _show(cli, self.NAME)
        assert node["provision_state"] == "available"
        assert node["target_provision_state"] is None
        assert node["last_error"] is None

    def test_deploy(self, cli):
        cli.run("node", "deploy", self.NAME, "--wait", WAIT)
        node = _show(cli, self.NAME)
        assert node["provision_state"] == "active"
        assert node["target_provision_state"] is None
        assert node["last_error"] is None
        assert node["maintenance"] is False

    def test_power_off(self, cli):
        cli.run("node", "power", "off", self.NAME)
        node = _wait_power(cli, self.NAME, "power off")
        assert node["provision_state"] == "active"
        assert node["last_error"] is None

    def test_power_on(self, cli):
        cli.run("node", "power", "on", self.NAME)
        node = _wait_power(cli, self.NAME, "power on")
        assert node["provision_state"] == "active"
        assert node["last_error"] is None

    def test_maintenance_set(self, cli):
        reason = "client tests: checking the disks"
        cli.run("node", "maintenance", "set", "--reason", reason, self.NAME)
        node = _show(cli, self.NAME)
        assert node["maintenance"] is True
        assert node["maintenance_reason"] == reason
        assert node["provision_state"] == "active"
        listed = cli.json("node", "list", "--maintenance")
        assert [n["uuid"] for n in listed] == [self.node["uuid"]], listed
        assert listed[0]["maintenance"] is True

    def test_maintenance_unset(self, cli):
        cli.run("node", "maintenance", "unset", self.NAME)
        node = _show(cli, self.NAME)
        assert node["maintenance"] is False
        assert node["maintenance_reason"] is None
        assert cli.json("node", "list", "--maintenance") == []

    def test_undeploy(self, cli):
        cli.run("node", "undeploy", self.NAME, "--wait", WAIT)
        node = _show(cli, self.NAME)
        assert node["provision_state"] == "available"
        assert node["target_provision_state"] is None
        assert node["instance_uuid"] is None
        assert node["last_error"] is None

    def test_delete(self, cli):
        proc = cli.run("node", "delete", self.NAME)
        assert self.node["uuid"] in proc.stdout or self.NAME in proc.stdout, proc.stdout
        gone = cli.fails("node", "show", self.node["uuid"])
        assert "HTTP 404" in gone.stderr, gone.stderr
        assert self.node["uuid"] not in [n["uuid"] for n in cli.json("node", "list")]


def test_node_set_and_unset(cli):
    """`node set` / `node unset` send JSON-patch documents (PATCH /v1/nodes/X)."""
    node = cli.json("node", "create", "--driver", "fake-hardware", "--name", "cli-patch",
                    "--property", "cpus=2", "--extra", "keep=me", "--extra", "drop=me")
    cli.run("node", "set", node["uuid"], "--property", "local_gb=100",
            "--extra", "rack=r1", "--description", "patched by the CLI",
            "--name", "cli-patched")
    shown = _show(cli, "cli-patched")
    assert shown["uuid"] == node["uuid"]
    assert shown["properties"] == {"cpus": 2, "local_gb": 100}
    assert shown["extra"] == {"keep": "me", "drop": "me", "rack": "r1"}
    assert shown["description"] == "patched by the CLI"
    cli.run("node", "unset", node["uuid"], "--extra", "drop", "--property", "cpus",
            "--description")
    shown = _show(cli, node["uuid"])
    assert shown["extra"] == {"keep": "me", "rack": "r1"}
    assert shown["properties"] == {"local_gb": 100}
    assert shown["description"] is None
    cli.run("node", "maintenance", "set", node["uuid"])  # no reason: {"reason": null}
    shown = _show(cli, node["uuid"])
    assert shown["maintenance"] is True
    assert shown["maintenance_reason"] is None
    cli.run("node", "maintenance", "unset", node["uuid"])
    cli.run("node", "delete", node["uuid"])


# --------------------------------------------------------------------------
# Errors the CLI must be able to report
# --------------------------------------------------------------------------

def test_show_missing_node(cli):
    proc = cli.fails("node", "show", "no-such-node")
    assert "could not be found" in proc.stderr, proc.stderr
    assert "HTTP 404" in proc.stderr, proc.stderr


def test_create_with_unknown_driver(cli):
    proc = cli.fails("node", "create", "--driver", "no-such-hardware-type")
    assert "HTTP 400" in proc.stderr, proc.stderr


def test_invalid_provision_transition(cli):
    node = cli.json("node", "create", "--driver", "fake-hardware", "--name", "cli-bad-verb")
    proc = cli.fails("node", "deploy", node["uuid"])
    assert "HTTP 400" in proc.stderr, proc.stderr
    after = _show(cli, node["uuid"])
    assert after["provision_state"] == "enroll"
    assert after["target_provision_state"] is None
    cli.run("node", "delete", node["uuid"])


# --------------------------------------------------------------------------
# Ports
# --------------------------------------------------------------------------

@pytest.mark.incremental
class TestPorts:
    ADDRESS = "52:54:00:12:34:56"
    state: dict = {}

    def test_create(self, cli):
        node = cli.json("node", "create", "--driver", "fake-hardware", "--name", "cli-port-node")
        port = cli.json("port", "create", self.ADDRESS, "--node", node["uuid"],
                        "--extra", "slot=eth0")
        assert UUID_RE.match(port["uuid"]), port
        assert port["address"] == self.ADDRESS
        assert port["node_uuid"] == node["uuid"]
        assert port["extra"] == {"slot": "eth0"}
        assert port["pxe_enabled"] is True
        TestPorts.state.update(node=node, port=port)

    def test_list(self, cli):
        port = self.state["port"]
        ports = cli.json("port", "list")
        assert {"uuid": port["uuid"], "address": self.ADDRESS} in ports, ports

    def test_list_by_node(self, cli):
        port, node = self.state["port"], self.state["node"]
        ports = cli.json("port", "list", "--node", node["uuid"])
        assert ports == [{"uuid": port["uuid"], "address": self.ADDRESS}]
        other = cli.json("node", "create", "--driver", "fake-hardware")
        try:
            assert cli.json("port", "list", "--node", other["uuid"]) == []
        finally:
            cli.run("node", "delete", other["uuid"])

    def test_list_by_address(self, cli):
        port = self.state["port"]
        ports = cli.json("port", "list", "--address", self.ADDRESS)
        assert [p["uuid"] for p in ports] == [port["uuid"]]

    def test_show(self, cli):
        port, node = self.state["port"], self.state["node"]
        shown = cli.json("port", "show", port["uuid"])
        assert shown["uuid"] == port["uuid"]
        assert shown["address"] == self.ADDRESS
        assert shown["node_uuid"] == node["uuid"]
        assert shown["extra"] == {"slot": "eth0"}
        by_address = cli.json("port", "show", "--address", self.ADDRESS)
        assert by_address["uuid"] == port["uuid"]

    def test_delete(self, cli):
        port, node = self.state["port"], self.state["node"]
        cli.run("port", "delete", port["uuid"])
        gone = cli.fails("port", "show", port["uuid"])
        assert "HTTP 404" in gone.stderr, gone.stderr
        assert port["uuid"] not in [p["uuid"] for p in cli.json("port", "list")]
        cli.run("node", "delete", node["uuid"])


def test_port_address_is_normalised(cli):
    node = cli.json("node", "create", "--driver", "fake-hardware")
    port = cli.json("port", "create", "52:54:00:AB:CD:EF", "--node", node["uuid"])
    try:
        assert port["address"] == "52:54:00:ab:cd:ef"
    finally:
        cli.run("port", "delete", port["uuid"])
        cli.run("node", "delete", node["uuid"])


# --------------------------------------------------------------------------
# Chassis
# --------------------------------------------------------------------------

@pytest.mark.incremental
class TestChassis:
    state: dict = {}

    def test_create(self, cli):
        chassis = cli.json("chassis", "create", "--description", "rack 1, row 2",
                           "--extra", "location=dc1")
        assert UUID_RE.match(chassis["uuid"]), chassis
        assert chassis["description"] == "rack 1, row 2"
        assert chassis["extra"] == {"location": "dc1"}
        TestChassis.state["chassis"] = chassis

    def test_list(self, cli):
        chassis = self.state["chassis"]
        listed = cli.json("chassis", "list")
        assert {"uuid": chassis["uuid"], "description": "rack 1, row 2"} in listed, listed

    def test_show(self, cli):
        chassis = self.state["chassis"]
        shown = cli.json("chassis", "show", chassis["uuid"])
        assert shown["uuid"] == chassis["uuid"]
        assert shown["description"] == "rack 1, row 2"
        assert shown["extra"] == {"location": "dc1"}

    def test_node_in_chassis(self, cli):
        chassis = self.state["chassis"]
        node = cli.json("node", "create", "--driver", "fake-hardware",
                        "--chassis-uuid", chassis["uuid"])
        assert node["chassis_uuid"] == chassis["uuid"]
        # A chassis that still holds nodes cannot be deleted.
        refused = cli.fails("chassis", "delete", chassis["uuid"])
        assert "HTTP 400" in refused.stderr, refused.stderr
        cli.run("node", "delete", node["uuid"])

    def test_delete(self, cli):
        chassis = self.state["chassis"]
        cli.run("chassis", "delete", chassis["uuid"])
        gone = cli.fails("chassis", "show", chassis["uuid"])
        assert "HTTP 404" in gone.stderr, gone.stderr
        assert chassis["uuid"] not in [c["uuid"] for c in cli.json("chassis", "list")]


# --------------------------------------------------------------------------
# Drivers and conductors
# --------------------------------------------------------------------------

def test_driver_list(cli, conductor_hostname):
    drivers = cli.json("driver", "list")
    fake = [d for d in drivers if d["name"] == "fake-hardware"]
    assert len(fake) == 1, drivers
    assert _csv(fake[0]["hosts"]) == [conductor_hostname]


def test_driver_show(cli, conductor_hostname):
    driver = cli.json("driver", "show", "fake-hardware")
    assert driver["name"] == "fake-hardware"
    assert driver["type"] == "dynamic"
    assert _csv(driver["hosts"]) == [conductor_hostname]
    for iface in ("power", "management", "deploy"):
        assert driver[f"default_{iface}_interface"] == "fake", (iface, driver)
        assert "fake" in _csv(driver[f"enabled_{iface}_interfaces"]), (iface, driver)
    for iface in ("boot", "network"):
        default = driver[f"default_{iface}_interface"]
        assert default in _csv(driver[f"enabled_{iface}_interfaces"]), (iface, driver)


def test_driver_show_unknown(cli):
    proc = cli.fails("driver", "show", "no-such-hardware-type")
    assert "HTTP 404" in proc.stderr, proc.stderr


def test_driver_property_list(cli, ironic_server):
    props = cli.json("driver", "property", "list", "fake-hardware")
    assert isinstance(props, list)
    for p in props:
        assert set(p) == {"property", "description"}, p
    # The CLI must show exactly what the API reports.
    raw = ironic_server.get_json("/v1/drivers/fake-hardware/properties")
    assert isinstance(raw, dict)
    assert {p["property"]: p["description"] for p in props} == raw


def test_conductor_list(cli):
    conductors = cli.json("conductor", "list")
    assert len(conductors) == 1, conductors
    c = conductors[0]
    assert set(c) == {"hostname", "conductor_group", "alive"}, c
    assert c["hostname"]
    assert c["conductor_group"] == ""
    assert c["alive"] is True


def test_conductor_show(cli, conductor_hostname):
    c = cli.json("conductor", "show", conductor_hostname)
    assert c["hostname"] == conductor_hostname
    assert c["alive"] is True
    assert c["conductor_group"] == ""
    assert "fake-hardware" in _csv(c["drivers"]), c
    assert c["created_at"]
    proc = cli.fails("conductor", "show", "no-such-conductor")
    assert "HTTP 404" in proc.stderr, proc.stderr


def test_explicit_api_version(cli):
    """Nova and older tooling pin a version instead of negotiating."""
    node = cli.json("--os-baremetal-api-version", "1.46", "node", "create",
                    "--driver", "fake-hardware", "--name", "cli-pinned")
    assert node["provision_state"] == "enroll"
    # Fields newer than 1.46 must not be returned at 1.46.
    for newer in ("owner", "description", "lessee", "retired", "shard"):
        assert newer not in node, (newer, node)
    shown = cli.json("--os-baremetal-api-version", "1.46", "node", "show", node["uuid"])
    assert shown["conductor_group"] == ""
    assert "conductor" not in shown  # added in 1.49
    cli.run("node", "delete", node["uuid"])
