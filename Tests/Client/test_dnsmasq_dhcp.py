"""A real dnsmasq answers DHCP from the files the `dnsmasq` DHCP provider writes.

With `[dhcp] dhcp_provider = dnsmasq` the conductor writes, when a node boots a
ramdisk, one host file per pxe-enabled MAC into `[dnsmasq] dhcp_hostsdir` and one
options file per node into `[dnsmasq] dhcp_optsdir`. Here a dnsmasq (Debian's
dnsmasq-base) watches those two directories and serves DHCP on one end of a veth
pair in a network namespace of its own; busybox's udhcpc asks for an address on the
other end, in a second namespace, with the port's MAC (or another one) as its own.

The node is a fake-hardware node with the `ipxe` boot interface and `agent`
inspection: `baremetal node inspect` boots the "ramdisk" and writes the files, and
with no agent ever calling back the inspection times out after
`[conductor] inspect_wait_timeout`, which ends the ramdisk's work and cleans up.

Needs root (network namespaces), dnsmasq and busybox (`make deps`).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from conftest import wait_for

HTTP_URL = "http://10.0.2.2:8088"
NODE_MAC = "52:54:00:d7:0c:01"
OTHER_MAC = "52:54:00:d7:0c:02"
# A plain PXE ROM's vendor class; iPXE sends the same, plus option 175.
PXE_VENDOR_CLASS = "PXEClient:Arch:00000:UNDI:002001"
# Option 175, iPXE's feature list: one encapsulated option, 0x13 (HTTP) = 1.
IPXE_OPTION = "0xaf:130101"
INSPECT_WAIT_TIMEOUT = 30

# Names unique to this run; interface names stay within Linux's 15 characters.
_PID = os.getpid()
SERVER_NS, CLIENT_NS = f"ironic-dhcp-s-{_PID}", f"ironic-dhcp-c-{_PID}"
SERVER_IF, CLIENT_IF = f"irdhcp{_PID}s", f"irdhcp{_PID}c"
SERVER_ADDRESS = "192.168.213.1"
DHCP_RANGE = ("192.168.213.10", "192.168.213.50")

IRONIC_OPTIONS = {
    "dhcp": {"dhcp_provider": "dnsmasq"},
    # Relative to the server's working directory, its temporary directory.
    "dnsmasq": {"dhcp_hostsdir": "dnsmasq/hosts", "dhcp_optsdir": "dnsmasq/opts"},
    "deploy": {"http_url": HTTP_URL, "http_server_host": ""},
    "conductor": {"inspect_wait_timeout": str(INSPECT_WAIT_TIMEOUT), "check_provision_state_interval": "1"},
}

# udhcpc runs this at each DHCP event; a lease's variables go to $LEASE_FILE.
LEASE_SCRIPT = """#!/bin/sh
[ "$1" = bound ] && env > "$LEASE_FILE"
exit 0
"""


def _run(*args: str, timeout: float = 20, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(args, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
    return proc


class Network:
    """Two network namespaces joined by a veth pair: dnsmasq's end and the client's end."""

    def create(self) -> None:
        _run("ip", "netns", "add", SERVER_NS)
        _run("ip", "netns", "add", CLIENT_NS)
        _run("ip", "link", "add", SERVER_IF, "type", "veth", "peer", "name", CLIENT_IF)
        _run("ip", "link", "set", SERVER_IF, "netns", SERVER_NS)
        _run("ip", "link", "set", CLIENT_IF, "netns", CLIENT_NS)
        _run("ip", "-n", SERVER_NS, "address", "add", f"{SERVER_ADDRESS}/24", "dev", SERVER_IF)
        _run("ip", "-n", SERVER_NS, "link", "set", SERVER_IF, "up")
        _run("ip", "-n", CLIENT_NS, "link", "set", CLIENT_IF, "up")

    def remove(self) -> None:
        # Deleting a namespace deletes the veth end in it, and with it the pair.
        for namespace in (CLIENT_NS, SERVER_NS):
            if Path("/run/netns", namespace).exists():
                _run("ip", "netns", "del", namespace, check=False)
        # A pair created but not yet moved is still in this namespace.
        if Path("/sys/class/net", SERVER_IF).exists():
            _run("ip", "link", "del", SERVER_IF, check=False)

    def set_client_mac(self, mac: str) -> None:
        _run("ip", "-n", CLIENT_NS, "link", "set", CLIENT_IF, "down")
        _run("ip", "-n", CLIENT_NS, "link", "set", CLIENT_IF, "address", mac)
        _run("ip", "-n", CLIENT_NS, "link", "set", CLIENT_IF, "up")


@pytest.fixture(scope="module")
def network():
    if os.geteuid() != 0:
        pytest.fail("test_dnsmasq_dhcp needs root: it creates network namespaces and a veth pair "
                    "(ip netns add) for dnsmasq and a DHCP client", pytrace=False)
    for program, package in (("dnsmasq", "dnsmasq-base"), ("busybox", "busybox-static"), ("ip", "iproute2")):
        if not shutil.which(program, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin"):
            pytest.fail(f"`{program}` not found: install {package} (make deps)", pytrace=False)
    net = Network()
    try:
        net.create()
        yield net
    finally:
        net.remove()


class Dnsmasq:
    """dnsmasq in the server namespace, watching the provider's two directories."""

    def __init__(self, directory: Path, hosts: Path, options: Path):
        self.directory, self.hosts, self.options = directory, hosts, options
        self.log = directory / "dnsmasq.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        binary = shutil.which("dnsmasq", path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
        command = [
            "ip", "netns", "exec", SERVER_NS, binary,
            "--keep-in-foreground", "--conf-file=/dev/null", "--port=0",
            f"--interface={SERVER_IF}", "--bind-interfaces",
            f"--dhcp-range={DHCP_RANGE[0]},{DHCP_RANGE[1]},255.255.255.0,1h",
            f"--dhcp-hostsdir={self.hosts}", f"--dhcp-optsdir={self.options}",
            "--dhcp-match=set:ipxe,175",
            f"--dhcp-leasefile={self.directory / 'dnsmasq.leases'}",
            f"--pid-file={self.directory / 'dnsmasq.pid'}",
            # The test's directories are root's alone; no ARP probe delays the offers.
            "--user=root", "--group=root", "--no-ping",
            "--log-dhcp", f"--log-facility={self.log}",
        ]
        output = open(self.directory / "dnsmasq.out", "wb")
        try:
            # `ip netns exec` execs dnsmasq: this PID is dnsmasq's.
            self.proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT)
        finally:
            output.close()
        deadline = time.monotonic() + 20
        while "sockets bound exclusively" not in self.log_text():
            if self.proc.poll() is not None:
                pytest.fail(f"dnsmasq exited with status {self.proc.returncode}:\n{self.output()}", pytrace=False)
            if time.monotonic() > deadline:
                pytest.fail(f"dnsmasq did not start within 20 s:\n{self.output()}", pytrace=False)
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def output(self) -> str:
        out = self.directory / "dnsmasq.out"
        return (out.read_text(errors="replace") if out.exists() else "") + "\n" + "\n".join(self.log_text().splitlines()[-40:])

    def wait_until_read(self, path: Path, after: int, timeout: float = 15) -> None:
        """Waits for dnsmasq's `read <path>` in its log beyond the first `after` characters."""
        wanted = f"read {path}"
        deadline = time.monotonic() + timeout
        while wanted not in self.log_text()[after:]:
            assert self.proc.poll() is None, f"dnsmasq exited with status {self.proc.returncode}:\n{self.output()}"
            assert time.monotonic() < deadline, f"dnsmasq did not read {path} within {timeout:.0f} s:\n{self.output()}"
            time.sleep(0.1)


@pytest.fixture(scope="module")
def dnsmasq(network, ironic_server):
    hosts = ironic_server.workdir / IRONIC_OPTIONS["dnsmasq"]["dhcp_hostsdir"]
    options = ironic_server.workdir / IRONIC_OPTIONS["dnsmasq"]["dhcp_optsdir"]
    hosts.mkdir(parents=True, exist_ok=True)
    options.mkdir(parents=True, exist_ok=True)
    server = Dnsmasq(ironic_server.workdir, hosts, options)
    try:
        server.start()
        yield server
    finally:
        server.stop()


class Client:
    """busybox udhcpc in the client namespace: one DISCOVER/REQUEST exchange per call."""

    def __init__(self, network: Network, directory: Path, dnsmasq: Dnsmasq):
        self.network, self.directory, self.dnsmasq = network, directory, dnsmasq
        self.script = directory / "udhcpc-script"
        self.script.write_text(LEASE_SCRIPT)
        self.script.chmod(0o755)
        self.count = 0

    def lease(self, mac: str, ipxe: bool = False) -> dict[str, str] | None:
        """The lease's variables (`bootfile` is option 67, `boot_file` the header's field),
        or None when no server answered."""
        self.network.set_client_mac(mac)
        self.count += 1
        lease_file = self.directory / f"lease-{self.count}.env"
        command = ["ip", "netns", "exec", CLIENT_NS, "busybox", "udhcpc", "-i", CLIENT_IF,
                   "-f", "-q", "-n", "-t", "3", "-T", "1", "-O", "bootfile", "-V", PXE_VENDOR_CLASS,
                   "-s", str(self.script)]
        if ipxe:
            command += ["-x", IPXE_OPTION]
        proc = subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=30,
                              env={**os.environ, "LEASE_FILE": str(lease_file)})
        if proc.returncode != 0:
            assert "no lease" in proc.stderr + proc.stdout, f"udhcpc failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}"
            return None
        lease = dict(line.split("=", 1) for line in lease_file.read_text().splitlines() if "=" in line)
        assert lease.get("serverid") == SERVER_ADDRESS, lease
        return lease


@pytest.fixture(scope="module")
def client(network, dnsmasq, ironic_server):
    return Client(network, ironic_server.workdir, dnsmasq)


def _boot_file(lease: dict[str, str] | None) -> str | None:
    if lease is None:
        return None
    return lease.get("bootfile") or lease.get("boot_file") or None


def _state(cli, node: str) -> dict:
    return cli.json("node", "show", node, "-c", "provision_state", "-c", "driver_internal_info", "-c", "last_error")


def _inspect(cli, node: str) -> dict:
    cli.run("node", "inspect", node)
    return wait_for(lambda: _state(cli, node), lambda s: s["provision_state"] != "inspecting",
                    "inspection to boot the ramdisk", timeout=60)


def test_dnsmasq_serves_the_ramdisk_boot_files_until_clean_up(network, dnsmasq, client, cli, ironic_server):
    started = time.monotonic()
    work = ironic_server.workdir
    for name in ("deploy.kernel", "deploy.initramfs"):
        (work / name).write_bytes(b"not really a " + name.encode())
    node = cli.json("node", "create", "--driver", "fake-hardware", "--name", "dhcp-node",
                    "--boot-interface", "ipxe", "--inspect-interface", "agent",
                    "--driver-info", f"deploy_kernel={work / 'deploy.kernel'}",
                    "--driver-info", f"deploy_ramdisk={work / 'deploy.initramfs'}")["uuid"]
    cli.run("port", "create", NODE_MAC, "--node", node, "--pxe-enabled", "true")
    cli.run("node", "manage", node, "--wait", "60")
    host_file = dnsmasq.hosts / f"ironic-{NODE_MAC}.conf"
    options_file = dnsmasq.options / f"ironic-{node}.conf"

    # Before any ramdisk: an address from the range, no boot file.
    lease = client.lease(NODE_MAC)
    assert lease is not None and _boot_file(lease) is None, lease

    # Inspection boots the ramdisk: the provider writes the files, dnsmasq reads them.
    log_offset = len(dnsmasq.log_text())
    shown = _inspect(cli, node)
    assert shown["provision_state"] == "inspect wait", shown
    tag = shown["driver_internal_info"]["dnsmasq_tag"]
    assert host_file.read_text() == f"{NODE_MAC},set:{tag},set:ironic\n"
    assert options_file.read_text() == (f"tag:{tag},tag:!ipxe,67,undionly.kpxe\n"
                                        f"tag:{tag},tag:ipxe,67,{HTTP_URL}/boot.ipxe\n")
    dnsmasq.wait_until_read(host_file, after=log_offset)

    # (a) The PXE ROM gets iPXE, from dnsmasq's TFTP server.
    lease = client.lease(NODE_MAC)
    assert _boot_file(lease) == "undionly.kpxe", lease
    assert DHCP_RANGE[0] <= lease["ip"] <= DHCP_RANGE[1], lease
    # (b) iPXE (option 175) gets the boot script.
    lease = client.lease(NODE_MAC, ipxe=True)
    assert _boot_file(lease) == f"{HTTP_URL}/boot.ipxe", lease
    # (c) Another machine gets an address but nothing to boot.
    lease = client.lease(OTHER_MAC)
    assert lease is not None and _boot_file(lease) is None, lease
    lease = client.lease(OTHER_MAC, ipxe=True)
    assert lease is not None and _boot_file(lease) is None, lease
    assert _state(cli, node)["provision_state"] == "inspect wait", "the checks ran within the inspection's time"

    # (d) No agent calls back: the inspection times out and the ramdisk's files are cleaned
    # up. The host entry turns into `ignore`, which dnsmasq picks up by itself; removed files
    # are forgotten only on SIGHUP, and SIGHUP makes dnsmasq 2.90 crash once a host entry
    # with `set:` tags has served a lease.
    log_offset = len(dnsmasq.log_text())
    shown = wait_for(lambda: _state(cli, node), lambda s: s["provision_state"] != "inspect wait",
                     "the inspection to time out", timeout=INSPECT_WAIT_TIMEOUT + 60, interval=1)
    assert shown["provision_state"] == "inspect failed", shown
    assert "Timeout reached" in (shown["last_error"] or ""), shown
    assert "dnsmasq_tag" not in shown["driver_internal_info"], shown
    assert not options_file.exists()
    assert host_file.read_text() == f"{NODE_MAC},ignore\n"
    dnsmasq.wait_until_read(host_file, after=log_offset)
    assert client.lease(NODE_MAC) is None, "dnsmasq ignores the node's MAC once its ramdisk is done"
    assert client.lease(NODE_MAC, ipxe=True) is None
    assert f"{NODE_MAC} ignored" in dnsmasq.log_text()[log_offset:]
    assert _boot_file(client.lease(OTHER_MAC)) is None

    # (e) The next ramdisk boot tags the MAC again, with a new tag.
    log_offset = len(dnsmasq.log_text())
    shown = _inspect(cli, node)
    assert shown["provision_state"] == "inspect wait", shown
    assert shown["driver_internal_info"]["dnsmasq_tag"] != tag
    dnsmasq.wait_until_read(host_file, after=log_offset)
    assert _boot_file(client.lease(NODE_MAC)) == "undionly.kpxe"
    assert _boot_file(client.lease(NODE_MAC, ipxe=True)) == f"{HTTP_URL}/boot.ipxe"

    assert dnsmasq.proc.poll() is None, f"dnsmasq still runs:\n{dnsmasq.output()}"
    print(f"dnsmasq end-to-end test took {time.monotonic() - started:.0f} s")
