"""A real deploy over PXELINUX: the `pxe` boot interface on a lab virtual machine.

As test_deploy_vm.py, but the node's boot interface is `pxe`: `ironic lab up
--vms 1 --tftp-root DIR` makes QEMU's user-mode network serve the conductor's
`[pxe] tftp_root` over its own TFTP server and name `pxelinux.0` in DHCP. The
machine's ROM loads PXELINUX, which reads `pxelinux.cfg/01-<mac>` and boots
the deploy ramdisk over TFTP; cleaning and the deploy run in the agent, and the
machine then boots the image from its disk through `pxelinux.cfg/default`
(`localboot`) and prints its marker on the serial port.

Needs `make test-images` (var/images) and Debian's pxelinux and
syslinux-common packages (`make deps`). Under TCG one machine takes minutes.
"""
from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from conftest import _free_loopback_port
from test_deploy_vm import IMAGES, MARKER, STEP_TIMEOUT, _history, _ironic, _serial, _set_image

BOOT_PORT = _free_loopback_port()
TFTP_ROOT = Path(tempfile.mkdtemp(prefix="ironic-tftpboot-"))

IRONIC_OPTIONS = {
    "DEFAULT": {"enabled_hardware_types": "ipmi, fake-hardware"},
    "conductor": {"automated_clean": "true", "deploy_callback_timeout": "900", "clean_callback_timeout": "900",
                  "check_provision_state_interval": "10"},
    # The boot file server still serves the instance image (image_download_source = http).
    "deploy": {"http_url": f"http://10.0.2.2:{BOOT_PORT}", "http_server_host": "127.0.0.1"},
    "pxe": {"tftp_root": str(TFTP_ROOT)},
    "service_catalog": {"endpoint_override": "http://10.0.2.2:{api_port}"},
}


@pytest.fixture(scope="module")
def pxe_lab(ironic_server, tmp_path_factory):
    for name in ("ipa.kernel", "ipa.initramfs", "test-image.raw", "test-image.raw.sha256"):
        assert (IMAGES / name).exists(), f"{IMAGES / name} missing: run `make test-images`"
    for loader in ("/usr/lib/PXELINUX/pxelinux.0", "/usr/lib/syslinux/modules/bios/ldlinux.c32"):
        assert Path(loader).exists(), f"{loader} missing: apt-get install pxelinux syslinux-common (`make deps`)"
    directory = tmp_path_factory.mktemp("pxelab")
    up = _ironic("lab", "up", "--vms", "1", "--directory", str(directory), "--tftp-root", str(TFTP_ROOT))
    assert up.returncode == 0, f"lab up failed:\n{up.stdout}\n{up.stderr}"
    print(up.stdout)
    try:
        enroll = _ironic("lab", "enroll", "--directory", str(directory), "--os-endpoint", ironic_server.endpoint)
        assert enroll.returncode == 0, f"lab enroll failed:\n{enroll.stdout}\n{enroll.stderr}"
        state = json.loads((directory / "lab.json").read_text())
        chassis = Path(state["servers"][0]["chassisDirectory"])
        vm_script = (chassis / "vm.sh").read_text()
        assert f"tftp='{TFTP_ROOT}',bootfile='pxelinux.0'" in vm_script, vm_script
        yield chassis / "serial.log"
    finally:
        down = _ironic("lab", "down", "--directory", str(directory), timeout=90)
        shutil.rmtree(TFTP_ROOT, ignore_errors=True)
        assert down.returncode == 0, f"lab down failed:\n{down.stdout}\n{down.stderr}"


def _tftp_entries() -> list[str]:
    config = TFTP_ROOT / "pxelinux.cfg"
    return sorted(p.name for p in config.iterdir()) if config.is_dir() else []


def test_pxe_manage_provide_deploy_boots_the_image_from_disk(cli, pxe_lab):
    serial = pxe_lab
    node = "lab-node-0"
    cli.run("node", "set", node, "--boot-interface", "pxe")
    shown = cli.json("node", "show", node)
    assert shown["deploy_interface"] == "direct" and shown["boot_interface"] == "pxe"
    uuid = shown["uuid"]
    validation = {entry["Interface"]: entry for entry in cli.json("node", "validate", node)}
    assert validation["boot"]["Result"] is True, validation["boot"]

    cli.run("node", "manage", node, "--wait", str(STEP_TIMEOUT), timeout=STEP_TIMEOUT + 60)
    # provide cleans through the agent: PXELINUX boots the ramdisk over TFTP.
    started = time.monotonic()
    cli.run("node", "provide", node, "--wait", str(STEP_TIMEOUT), timeout=STEP_TIMEOUT + 60)
    shown = cli.json("node", "show", node)
    assert shown["provision_state"] == "available", shown["last_error"]
    log = _serial(serial)
    assert b"ironic-python-agent" in log, "the ramdisk ran on the machine"
    # BOOT_IMAGE= comes from PXELINUX, BOOTIF= from its `ipappend 2`.
    assert f"BOOT_IMAGE={uuid}/deploy_kernel initrd={uuid}/deploy_ramdisk".encode() in log, "PXELINUX booted the kernel"
    assert b"BOOTIF=01-52-54-00-" in log
    print(f"cleaning took {time.monotonic() - started:.0f} s")
    # Clean-up took the node's config and link away; the loaders and the default stay.
    assert (TFTP_ROOT / "pxelinux.0").is_file() and (TFTP_ROOT / "ldlinux.c32").is_file()
    assert _tftp_entries() == ["default"], _tftp_entries()
    assert not (TFTP_ROOT / uuid).exists()

    _set_image(cli, node, (IMAGES / "test-image.raw.sha256").read_text().split()[0])
    before = len(_serial(serial))
    started = time.monotonic()
    cli.run("node", "deploy", node, "--config-drive", '{"meta_data": {"hostname": "lab-node-0"}}',
            "--wait", str(STEP_TIMEOUT), timeout=STEP_TIMEOUT + 60)
    shown = cli.json("node", "show", node)
    assert shown["provision_state"] == "active", shown["last_error"]
    print(f"deploy took {time.monotonic() - started:.0f} s")

    # The machine still network-boots first: PXELINUX finds no entry for it and its
    # default config boots the disk.
    deadline = time.monotonic() + 180
    while MARKER not in _serial(serial)[before:] and time.monotonic() < deadline:
        time.sleep(1)
    assert MARKER in _serial(serial)[before:], "the machine booted the image from its disk"
    assert _tftp_entries() == ["default"], _tftp_entries()
    assert not (TFTP_ROOT / uuid).exists()

    events = "\n".join(_history(cli, node))
    assert "finished; the instance boots from its disk" in events
