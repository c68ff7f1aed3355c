"""openstacksdk's baremetal proxy against swift-ironic.

The connection comes from a clouds.yaml entry with ``auth_type: none`` and
``baremetal_endpoint_override`` (see ``sdk_conn`` in conftest.py).  The SDK
discovers the API version range from ``GET /`` and ``GET /v1/`` and then
sends ``min(server maximum, resource maximum)`` on every request.
"""
from __future__ import annotations

import re
import uuid as uuidlib

import openstack.exceptions
import openstack.utils
import pytest

from conftest import WAIT_TIMEOUT

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

# What nova's ironic driver asks for (nova/virt/ironic/driver.py _NODE_FIELDS).
NOVA_NODE_FIELDS = ("uuid", "power_state", "target_power_state", "provision_state",
                    "target_provision_state", "last_error", "maintenance",
                    "properties", "instance_uuid", "traits", "resource_class")


def _ids(nodes) -> set[str]:
    return {n.id for n in nodes}


@pytest.fixture(scope="module")
def bm(sdk_conn):
    return sdk_conn.baremetal


@pytest.fixture(scope="module")
def conductor_hostname(bm) -> str:
    conductors = list(bm.conductors())
    assert len(conductors) == 1, conductors
    return conductors[0].hostname


# --------------------------------------------------------------------------
# Version discovery
# --------------------------------------------------------------------------

def test_version_discovery(bm):
    data = bm.get_endpoint_data()
    assert data is not None
    assert data.min_microversion == (1, 1)
    assert data.max_microversion is not None
    assert data.max_microversion >= (1, 46), data.max_microversion
    assert openstack.utils.supports_microversion(bm, "1.46")


# --------------------------------------------------------------------------
# Node lifecycle
# --------------------------------------------------------------------------

@pytest.mark.incremental
class TestNodeLifecycle:
    NAME = "sdk-node-1"
    state: dict = {}

    def test_create(self, bm):
        node = bm.create_node(driver="fake-hardware", name=self.NAME,
                              properties={"cpus": 2, "memory_mb": 4096},
                              extra={"owner_ref": "sdk-tests"})
        assert UUID_RE.match(node.id), node.id
        assert node.name == self.NAME
        assert node.driver == "fake-hardware"
        assert node.provision_state == "enroll"
        assert node.target_provision_state is None
        assert node.is_maintenance is False
        assert node.maintenance_reason is None
        assert node.power_state is None
        assert node.instance_id is None
        assert node.properties == {"cpus": 2, "memory_mb": 4096}
        assert node.extra == {"owner_ref": "sdk-tests"}
        TestNodeLifecycle.state["id"] = node.id

    def test_get(self, bm, conductor_hostname):
        by_name = bm.get_node(self.NAME)
        by_id = bm.get_node(self.state["id"])
        assert by_name.id == by_id.id == self.state["id"]
        assert by_id.name == self.NAME
        assert by_id.provision_state == "enroll"
        assert by_id.conductor == conductor_hostname
        assert bm.find_node(self.NAME).id == self.state["id"]

    def test_list(self, bm):
        listed = [n for n in bm.nodes() if n.id == self.state["id"]]
        assert len(listed) == 1
        assert listed[0].name == self.NAME
        assert listed[0].provision_state == "enroll"
        detailed = [n for n in bm.nodes(details=True) if n.id == self.state["id"]]
        assert len(detailed) == 1
        assert detailed[0].driver == "fake-hardware"
        assert detailed[0].properties == {"cpus": 2, "memory_mb": 4096}

    def test_manage(self, bm):
        node = bm.set_node_provision_state(self.state["id"], "manage", wait=True,
                                           timeout=WAIT_TIMEOUT)
        assert node.provision_state == "manageable"
        fresh = bm.get_node(self.state["id"])
        assert fresh.provision_state == "manageable"
        assert fresh.target_provision_state is None
        assert fresh.last_error is None

    def test_provide(self, bm):
        node = bm.set_node_provision_state(self.state["id"], "provide", wait=True,
                                           timeout=WAIT_TIMEOUT)
        assert node.provision_state == "available"
        fresh = bm.get_node(self.state["id"])
        assert fresh.provision_state == "available"
        assert fresh.target_provision_state is None

    def test_deploy(self, bm):
        node = bm.set_node_provision_state(self.state["id"], "active", wait=True,
                                           timeout=WAIT_TIMEOUT)
        assert node.provision_state == "active"
        fresh = bm.get_node(self.state["id"])
        assert fresh.provision_state == "active"
        assert fresh.target_provision_state is None
        assert fresh.last_error is None

    def test_power_off(self, bm):
        bm.set_node_power_state(self.state["id"], "power off", wait=True, timeout=WAIT_TIMEOUT)
        node = bm.get_node(self.state["id"])
        assert node.power_state == "power off"
        assert node.target_power_state is None
        assert node.provision_state == "active"

    def test_power_on(self, bm):
        bm.set_node_power_state(self.state["id"], "power on", wait=True, timeout=WAIT_TIMEOUT)
        node = bm.get_node(self.state["id"])
        assert node.power_state == "power on"
        assert node.target_power_state is None

    def test_maintenance_set(self, bm):
        reason = "sdk tests: replacing a fan"
        node = bm.set_node_maintenance(self.state["id"], reason=reason)
        assert node.is_maintenance is True
        assert node.maintenance_reason == reason
        fresh = bm.get_node(self.state["id"])
        assert fresh.is_maintenance is True
        assert fresh.maintenance_reason == reason
        assert _ids(bm.nodes(is_maintenance=True)) == {self.state["id"]}

    def test_maintenance_unset(self, bm):
        node = bm.unset_node_maintenance(self.state["id"])
        assert node.is_maintenance is False
        fresh = bm.get_node(self.state["id"])
        assert fresh.is_maintenance is False
        assert fresh.maintenance_reason is None
        assert _ids(bm.nodes(is_maintenance=True)) == set()

    def test_undeploy(self, bm):
        node = bm.set_node_provision_state(self.state["id"], "deleted", wait=True,
                                           timeout=WAIT_TIMEOUT)
        assert node.provision_state == "available"
        fresh = bm.get_node(self.state["id"])
        assert fresh.provision_state == "available"
        assert fresh.target_provision_state is None
        assert fresh.instance_id is None

    def test_delete(self, bm):
        bm.delete_node(self.state["id"], ignore_missing=False)
        with pytest.raises(openstack.exceptions.NotFoundException):
            bm.get_node(self.state["id"])
        assert bm.find_node(self.NAME) is None
        assert self.state["id"] not in _ids(bm.nodes())


def test_get_missing_node(bm):
    with pytest.raises(openstack.exceptions.NotFoundException) as e:
        bm.get_node(str(uuidlib.uuid4()))
    assert "could not be found" in str(e.value)


def test_maintenance_without_reason(bm):
    node = bm.create_node(driver="fake-hardware")
    try:
        bm.set_node_maintenance(node)  # sends {"reason": null}
        fresh = bm.get_node(node.id)
        assert fresh.is_maintenance is True
        assert fresh.maintenance_reason is None
        bm.unset_node_maintenance(node)
        assert bm.get_node(node.id).is_maintenance is False
    finally:
        bm.delete_node(node)


def test_invalid_provision_transition(bm):
    node = bm.create_node(driver="fake-hardware")
    try:
        with pytest.raises(openstack.exceptions.BadRequestException):
            bm.set_node_provision_state(node, "active")
        assert bm.get_node(node.id).provision_state == "enroll"
    finally:
        bm.delete_node(node)


# --------------------------------------------------------------------------
# Nova-like usage
# --------------------------------------------------------------------------

@pytest.mark.incremental
class TestNovaLike:
    """How nova's ironic driver talks to the API: node lists narrowed with
    ``fields`` and filters, single-node reads with ``fields``, and an
    explicit microversion 1.46 request."""

    state: dict = {}

    def test_setup(self, bm):
        props = {"cpus": 8, "memory_mb": 16384, "local_gb": 100, "cpu_arch": "x86_64"}
        free = bm.create_node(driver="fake-hardware", name="nova-free",
                              resource_class="baremetal-nova", properties=props)
        used = bm.create_node(driver="fake-hardware", name="nova-used",
                              resource_class="baremetal-nova", properties=props)
        for node in (free, used):
            bm.set_node_provision_state(node, "manage", wait=True, timeout=WAIT_TIMEOUT)
            bm.set_node_provision_state(node, "provide", wait=True, timeout=WAIT_TIMEOUT)
        instance = str(uuidlib.uuid4())
        # nova claims the node by writing instance_uuid, then deploys it.
        patched = bm.patch_node(used, [
            {"op": "add", "path": "/instance_uuid", "value": instance},
            {"op": "add", "path": "/instance_info/image_source", "value": "fake-image"},
        ])
        assert patched.instance_id == instance
        assert patched.instance_info == {"image_source": "fake-image"}
        deployed = bm.set_node_provision_state(used, "active", wait=True, timeout=WAIT_TIMEOUT)
        assert deployed.provision_state == "active"
        TestNovaLike.state.update(free=free.id, used=used.id, instance=instance)

    def test_supports_microversion_1_46(self, bm):
        assert openstack.utils.supports_microversion(bm, "1.46")

    def test_list_with_nova_fields(self, bm):
        nodes = {n.id: n for n in bm.nodes(fields=NOVA_NODE_FIELDS)}
        free, used = nodes[self.state["free"]], nodes[self.state["used"]]
        assert free.provision_state == "available"
        assert used.provision_state == "active"
        assert free.instance_id is None
        assert used.instance_id == self.state["instance"]
        for n in (free, used):
            assert n.is_maintenance is False
            assert n.resource_class == "baremetal-nova"
            assert n.properties["cpus"] == 8
            assert n.traits == []
            assert n.last_error is None
            assert n.target_provision_state is None

    def test_fields_are_honoured(self, bm):
        resp = bm.get("/nodes", params={"fields": ",".join(NOVA_NODE_FIELDS)},
                      microversion="1.46")
        assert resp.status_code == 200
        raw = resp.json()["nodes"]
        assert raw, raw
        for n in raw:
            assert set(n) - {"links"} == set(NOVA_NODE_FIELDS), n
        resp = bm.get("/nodes", params={"fields": "uuid,instance_uuid"}, microversion="1.46")
        for n in resp.json()["nodes"]:
            assert set(n) - {"links"} == {"uuid", "instance_uuid"}, n

    def test_associated_filter(self, bm):
        associated = list(bm.nodes(associated=True, fields=["uuid", "instance_uuid"]))
        assert _ids(associated) == {self.state["used"]}
        assert associated[0].instance_id == self.state["instance"]
        unassociated = _ids(bm.nodes(associated=False, fields=["uuid", "instance_uuid"]))
        assert self.state["free"] in unassociated
        assert self.state["used"] not in unassociated

    def test_provision_state_filter(self, bm):
        available = _ids(bm.nodes(provision_state="available", fields=NOVA_NODE_FIELDS))
        assert self.state["free"] in available
        assert self.state["used"] not in available
        active = _ids(bm.nodes(provision_state="active", fields=NOVA_NODE_FIELDS))
        assert active == {self.state["used"]}
        both = _ids(bm.nodes(associated=False, provision_state="available",
                             fields=["uuid"]))
        assert self.state["free"] in both and self.state["used"] not in both

    def test_instance_uuid_filter(self, bm):
        nodes = list(bm.nodes(instance_id=self.state["instance"], fields=NOVA_NODE_FIELDS))
        assert _ids(nodes) == {self.state["used"]}
        assert list(bm.nodes(instance_id=str(uuidlib.uuid4()), fields=["uuid"])) == []

    def test_get_node_with_fields(self, bm):
        node = bm.get_node(self.state["used"], fields=NOVA_NODE_FIELDS)
        assert node.id == self.state["used"]
        assert node.instance_id == self.state["instance"]
        assert node.provision_state == "active"
        assert node.driver is None  # not requested

    def test_request_at_microversion_1_46(self, bm):
        resp = bm.get("/nodes", microversion="1.46",
                      params={"associated": "True", "fields": "uuid,instance_uuid,conductor_group"})
        assert resp.status_code == 200
        assert resp.headers["X-OpenStack-Ironic-API-Version"] == "1.46"
        nodes = resp.json()["nodes"]
        assert [n["uuid"] for n in nodes] == [self.state["used"]]
        assert nodes[0]["instance_uuid"] == self.state["instance"]
        assert nodes[0]["conductor_group"] == ""
        # conductor_group filter (1.46), as nova uses with [ironic]conductor_group
        resp = bm.get("/nodes", microversion="1.46",
                      params={"conductor_group": "no-such-group", "fields": "uuid"})
        assert resp.status_code == 200
        assert resp.json()["nodes"] == []

    def test_teardown(self, bm):
        node = bm.set_node_provision_state(self.state["used"], "deleted", wait=True,
                                           timeout=WAIT_TIMEOUT)
        assert node.provision_state == "available"
        assert bm.get_node(self.state["used"]).instance_id is None
        assert list(bm.nodes(associated=True, fields=["uuid"])) == []
        for key in ("free", "used"):
            bm.delete_node(self.state[key], ignore_missing=False)


# --------------------------------------------------------------------------
# Ports, chassis, drivers, conductors
# --------------------------------------------------------------------------

@pytest.mark.incremental
class TestPorts:
    ADDRESS = "52:54:00:aa:bb:01"
    state: dict = {}

    def test_create(self, bm):
        node = bm.create_node(driver="fake-hardware", name="sdk-port-node")
        port = bm.create_port(node_id=node.id, address=self.ADDRESS, extra={"slot": "2"})
        assert UUID_RE.match(port.id), port
        assert port.address == self.ADDRESS
        assert port.node_id == node.id
        assert port.extra == {"slot": "2"}
        assert port.is_pxe_enabled is True
        TestPorts.state.update(node=node.id, port=port.id)

    def test_list(self, bm):
        assert self.state["port"] in {p.id for p in bm.ports()}
        by_node = list(bm.ports(node=self.state["node"]))
        assert [p.id for p in by_node] == [self.state["port"]]
        assert by_node[0].address == self.ADDRESS
        by_address = list(bm.ports(address=self.ADDRESS))
        assert [p.id for p in by_address] == [self.state["port"]]
        detailed = [p for p in bm.ports(details=True) if p.id == self.state["port"]]
        assert detailed[0].node_id == self.state["node"]

    def test_get(self, bm):
        port = bm.get_port(self.state["port"])
        assert port.address == self.ADDRESS
        assert port.node_id == self.state["node"]

    def test_delete(self, bm):
        bm.delete_port(self.state["port"], ignore_missing=False)
        with pytest.raises(openstack.exceptions.NotFoundException):
            bm.get_port(self.state["port"])
        assert list(bm.ports(node=self.state["node"])) == []
        bm.delete_node(self.state["node"], ignore_missing=False)


@pytest.mark.incremental
class TestChassis:
    state: dict = {}

    def test_create(self, bm):
        chassis = bm.create_chassis(description="sdk rack", extra={"row": "7"})
        assert UUID_RE.match(chassis.id), chassis
        assert chassis.description == "sdk rack"
        assert chassis.extra == {"row": "7"}
        TestChassis.state["id"] = chassis.id

    def test_list_and_get(self, bm):
        listed = [c for c in bm.chassis() if c.id == self.state["id"]]
        assert len(listed) == 1 and listed[0].description == "sdk rack"
        chassis = bm.get_chassis(self.state["id"])
        assert chassis.description == "sdk rack"
        assert chassis.extra == {"row": "7"}

    def test_delete(self, bm):
        bm.delete_chassis(self.state["id"], ignore_missing=False)
        with pytest.raises(openstack.exceptions.NotFoundException):
            bm.get_chassis(self.state["id"])


def test_drivers(bm, conductor_hostname):
    drivers = {d.name: d for d in bm.drivers()}
    assert "fake-hardware" in drivers, list(drivers)
    assert drivers["fake-hardware"].hosts == [conductor_hostname]
    detailed = {d.name: d for d in bm.drivers(details=True)}
    assert detailed["fake-hardware"].default_power_interface == "fake"
    driver = bm.get_driver("fake-hardware")
    assert driver.name == "fake-hardware"
    assert driver.hosts == [conductor_hostname]
    assert driver.default_power_interface == "fake"
    assert driver.default_management_interface == "fake"
    assert driver.default_deploy_interface == "fake"
    assert "fake" in driver.enabled_power_interfaces
    with pytest.raises(openstack.exceptions.NotFoundException):
        bm.get_driver("no-such-hardware-type")


def test_conductors(bm):
    conductors = list(bm.conductors())
    assert len(conductors) == 1
    c = conductors[0]
    assert c.hostname
    assert c.alive is True
    assert c.conductor_group == ""
    full = bm.get_conductor(c.hostname)
    assert full.hostname == c.hostname
    assert full.alive is True
    assert "fake-hardware" in full.drivers
    # (openstacksdk's conductors(details=True) drops the flag -- it sends
    # ``details`` but the query mapping only knows ``detail`` -- so ask directly.)
    resp = bm.get("/conductors", params={"detail": "True"}, microversion="1.49")
    assert resp.status_code == 200
    [detailed] = resp.json()["conductors"]
    assert detailed["hostname"] == c.hostname
    assert "fake-hardware" in detailed["drivers"]
