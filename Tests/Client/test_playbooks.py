"""The ansible deploy interface's playbooks (Playbooks/), run as the conductor runs them.

Every run is the conductor's command line:

    env ANSIBLE_CONFIG=<Playbooks>/ansible.cfg \\
        ansible-playbook <Playbooks>/<playbook> -i <Playbooks>/inventory \\
        -e '{"ironic": {...}, "ansible_python_interpreter": "/usr/bin/python3"}' \\
        --private-key <key> [--tags <tags>]

from a working directory outside Playbooks/, against simulated ramdisks (ssh_targets.py): an
sshd each on 127.0.0.1, each with its own sparse disk file at the same path, the root device
hint {"name": TARGET_DISK}. Images and configdrives come from an http.server on 127.0.0.1.

ansible-core and ansible-lint come from scripts/ansible-venv.sh into var/ansible-venv (or
$IRONIC_ANSIBLE_VENV). Needs root, sshd (scripts/install-openssh-server.sh), qemu-img, sgdisk,
parted, genisoimage.
"""
from __future__ import annotations

import base64
import functools
import gzip
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

from ssh_targets import ROOT_DEVICE_HINTS, TARGET_DISK, SSHTargets

REPO_ROOT = Path(__file__).resolve().parents[2]
PLAYBOOKS = REPO_ROOT / "Playbooks"
VENV = Path(os.environ.get("IRONIC_ANSIBLE_VENV", REPO_ROOT / "var" / "ansible-venv"))
PYTHON = "/usr/bin/python3"
RUN_TIMEOUT = 300
MIB = 1024 * 1024

# The test images: 4 MiB, one partition from 1 MiB on, a marker inside it.
IMAGE_SIZE = 4 * MIB
MARKER_OFFSET = MIB + 4096
RAW_MARKER = b"SWIFT-IRONIC-RAW-IMAGE-MARKER"
QCOW2_MARKER = b"SWIFT-IRONIC-QCOW2-IMAGE-MARKER"
LOCAL_MARKER = b"SWIFT-IRONIC-LOCAL-IMAGE-MARKER"

RECAP = re.compile(r"^(?P<host>\S+)\s+:\s+ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+"
                   r"unreachable=(?P<unreachable>\d+)\s+failed=(?P<failed>\d+)\s+"
                   r"skipped=(?P<skipped>\d+)\s+rescued=(?P<rescued>\d+)\s+ignored=(?P<ignored>\d+)",
                   re.MULTILINE)
FATAL = re.compile(r"^fatal: \[(?P<host>[^\]]+)\]: (?P<kind>FAILED|UNREACHABLE)! => (?P<json>\{.*\})$",
                   re.MULTILINE)

for tool in ("qemu-img", "sgdisk", "parted", "genisoimage", "blkid", "sfdisk", "unshare"):
    if shutil.which(tool) is None:
        pytestmark = pytest.mark.skip(reason=f"{tool} is not installed (make deps)")


def _run(*argv: str, timeout: float = 60, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, check=True,
                          **kwargs)


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
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("playbooks")


@pytest.fixture(scope="module")
def targets(workdir):
    if os.geteuid() != 0:
        pytest.skip("the simulated ramdisks run sshd as root")
    if not os.access("/usr/sbin/sshd", os.X_OK):
        pytest.skip("no /usr/sbin/sshd: run scripts/install-openssh-server.sh")
    with SSHTargets(workdir / "targets", count=3) as started:
        yield started


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass


@pytest.fixture(scope="module")
def images(workdir):
    """The test images and configdrives, served from 127.0.0.1; yields a dict of facts."""
    root = workdir / "www"
    root.mkdir()
    gpt_raw = root / "gpt.raw"
    _make_image(gpt_raw, "gpt", RAW_MARKER)
    msdos_raw = workdir / "msdos.raw"
    _make_image(msdos_raw, "msdos", QCOW2_MARKER)
    qcow2 = root / "msdos.qcow2"
    _run("qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(msdos_raw), str(qcow2))
    local_raw = workdir / "local.raw"
    _make_image(local_raw, "gpt", LOCAL_MARKER)
    local = workdir / "conductor-image.qcow2"
    _run("qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(local_raw), str(local))

    # Ironic's configdrive: base64 of a gzipped ISO 9660 image labelled config-2.
    tree = workdir / "configdrive" / "openstack" / "latest"
    tree.mkdir(parents=True)
    (tree / "meta_data.json").write_text(json.dumps({"uuid": "swift-ironic-test"}))
    iso = workdir / "configdrive.iso"
    _run("genisoimage", "-quiet", "-o", str(iso), "-V", "config-2", "-r", "-J", str(workdir / "configdrive"))
    encoded = base64.b64encode(gzip.compress(iso.read_bytes()))
    (root / "configdrive").write_bytes(encoded)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             functools.partial(QuietHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield {
            "gpt_raw": gpt_raw, "gpt_raw_url": f"{url}/gpt.raw", "gpt_raw_sha256": _sha256(gpt_raw),
            "qcow2_url": f"{url}/msdos.qcow2", "qcow2_sha256": _sha256(qcow2),
            "local": local, "local_sha256": _sha256(local),
            "iso": iso.read_bytes(), "configdrive_encoded": encoded,
            "configdrive_url": f"{url}/configdrive",
        }
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _make_image(path: Path, table: str, marker: bytes) -> None:
    with open(path, "wb") as f:
        f.truncate(IMAGE_SIZE)
    if table == "gpt":
        _run("sgdisk", "-n", "1:2048:0", "-c", "1:root", str(path))
    else:
        _run("parted", "-s", str(path), "mklabel", "msdos", "mkpart", "primary", "1MiB", "100%")
    with open(path, "r+b") as f:
        f.seek(MARKER_OFFSET)
        f.write(marker)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------------------------
# Running a playbook as the conductor does
# --------------------------------------------------------------------------------------------

class PlaybookRun:
    def __init__(self, argv, proc: subprocess.CompletedProcess, seconds: float):
        self.argv, self.proc, self.seconds = argv, proc, seconds
        self.output = proc.stdout + proc.stderr
        self.recap = {m["host"]: {k: int(v) for k, v in m.groupdict().items() if k != "host"}
                      for m in RECAP.finditer(proc.stdout)}
        self.fatal = {}
        for m in FATAL.finditer(proc.stdout):
            self.fatal.setdefault(m["host"], []).append((m["kind"], json.loads(m["json"])))

    def __str__(self) -> str:
        return f"exit {self.proc.returncode} after {self.seconds:.1f}s\n{self.output}"

    def failed(self, host: str) -> int:
        return self.recap[host]["failed"]


def nodes_for(targets) -> list[dict]:
    return [{"name": str(uuid.uuid4()), "ip": "127.0.0.1", "user": "root", "port": t.port, "extra": {}}
            for t in targets]


def run_playbook(venv: Path, key: Path, playbook: str, ironic: dict, tags: list[str] | None = None,
                 cwd: Path | None = None) -> PlaybookRun:
    extra = {"ironic": ironic, "ansible_python_interpreter": PYTHON}
    argv = [str(venv / "bin" / "ansible-playbook"), str(PLAYBOOKS / playbook),
            "-i", str(PLAYBOOKS / "inventory"), "-e", json.dumps(extra), "--private-key", str(key)]
    if tags:
        argv += ["--tags", ",".join(tags)]
    env = dict(os.environ, ANSIBLE_CONFIG=str(PLAYBOOKS / "ansible.cfg"))
    started = time.monotonic()
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=RUN_TIMEOUT, env=env,
                          cwd=cwd or "/", stdin=subprocess.DEVNULL)
    return PlaybookRun(argv, proc, time.monotonic() - started)


def read_marker(disk: Path, marker: bytes) -> bytes:
    with open(disk, "rb") as f:
        f.seek(MARKER_OFFSET)
        return f.read(len(marker))


def partitions(disk: Path) -> list[tuple[int, int, int, str]]:
    """(number, start sector, end sector, name) from parted."""
    out = _run("parted", "-s", "-m", str(disk), "unit", "s", "print").stdout
    found = []
    for line in out.splitlines()[2:]:
        fields = line.rstrip(";").split(":")
        if fields[0].isdigit():
            found.append((int(fields[0]), int(fields[1][:-1]), int(fields[2][:-1]), fields[5]))
    return found


def check_configdrive(disk: Path, iso: bytes) -> tuple[int, int, int, str]:
    """The configdrive partition: the last one, ending at the disk's end, labelled config-2."""
    parts = partitions(disk)
    last = max(parts, key=lambda p: p[1])
    number, start, end, _ = last
    size = disk.stat().st_size
    assert end >= size // 512 - 34 - 1, f"configdrive partition does not end at the disk's end: {parts}"
    probe = _run("blkid", "-p", "-O", str(start * 512), "-o", "export", str(disk)).stdout
    assert "LABEL=config-2" in probe and "TYPE=iso9660" in probe, probe
    with open(disk, "rb") as f:
        f.seek(start * 512)
        assert f.read(len(iso)) == iso
    return last


def wipe(disk: Path, size: int) -> None:
    """A blank disk file again (a fresh sparse file of the same size)."""
    with open(disk, "wb") as f:
        f.truncate(size)


# --------------------------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------------------------

def test_ansible_lint_passes(ansible_venv):
    env = dict(os.environ, ANSIBLE_CONFIG=str(PLAYBOOKS / "ansible.cfg"),
               PATH=f"{ansible_venv / 'bin'}:{os.environ['PATH']}", NO_COLOR="1")
    proc = subprocess.run([str(ansible_venv / "bin" / "ansible-lint"), "--nocolor",
                           "-c", str(PLAYBOOKS / ".ansible-lint"), "Playbooks/"],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Profile 'production' was required, and it passed" in proc.stdout + proc.stderr


def test_clean_steps_file_has_ironic_shape():
    import yaml  # openstacksdk brings PyYAML
    steps = yaml.safe_load((PLAYBOOKS / "clean_steps.yaml").read_text())
    by_name = {s["name"]: s for s in steps}
    assert set(by_name) == {"erase_devices_metadata", "erase_devices"}
    assert by_name["erase_devices_metadata"]["priority"] == 99
    assert by_name["erase_devices"]["priority"] == 0
    for name, step in by_name.items():
        assert step["interface"] == "deploy"
        tags = step["args"]["tags"]
        assert tags["required"] is True and tags["description"]
        assert tags["value"] == [name]


def test_raw_deploy_three_nodes_one_without_disk(ansible_venv, targets, images, workdir):
    """One run, three nodes: two get the raw GPT image streamed and the configdrive (a file on
    the conductor); the third has no disk at the hint's path and fails alone."""
    size = targets[0].disk.stat().st_size
    for t in targets:
        wipe(t.disk, size)
    targets[2].disk.unlink()
    location = workdir / "configdrive-node.b64"
    location.write_bytes(images["configdrive_encoded"])
    nodes = nodes_for(targets)
    try:
        run = run_playbook(ansible_venv, targets.private_key, "deploy.yaml", {
            "nodes": nodes,
            "image": {"url": images["gpt_raw_url"], "checksum": "sha256:" + images["gpt_raw_sha256"],
                      "disk_format": "raw", "validate_certs": "yes"},
            "root_device_hints": ROOT_DEVICE_HINTS,
            "configdrive": {"type": "file", "location": str(location)},
        })
    finally:
        wipe(targets[2].disk, size)
    print(f"raw deploy of 3 nodes: {run.seconds:.1f}s")
    assert run.proc.returncode == 2, run
    ok, broken = nodes[:2], nodes[2]
    for node in ok:
        assert run.failed(node["name"]) == 0, run
        assert node["name"] not in run.fatal, run
    assert run.failed(broken["name"]) == 1, run
    [(kind, result)] = run.fatal[broken["name"]]
    assert kind == "FAILED"
    assert "root device hints" in result["msg"] and str(TARGET_DISK) in result["msg"], result
    assert "does not exist" in result["msg"], result
    for t in targets[:2]:
        assert read_marker(t.disk, RAW_MARKER) == RAW_MARKER
        assert t.disk.stat().st_size == size, "the disk file changed size"
        assert _run("blkid", "-p", "-o", "value", "-s", "PTTYPE", str(t.disk)).stdout.strip() == "gpt"
        number, _, _, name = check_configdrive(t.disk, images["iso"])
        assert (number, name) == (2, "config-2")
        # The image's backup GPT was moved to the end of the disk: the table verifies cleanly.
        verify = _run("sgdisk", "-v", str(t.disk)).stdout
        assert "No problems found" in verify, verify
    assert location.exists(), "the conductor's configdrive file is the conductor's to remove"

    # Deploying again over a deployed disk works, and reuses the configdrive partition.
    again = run_playbook(ansible_venv, targets.private_key, "deploy.yaml", {
        "nodes": nodes[:1],
        "image": {"url": images["gpt_raw_url"], "checksum": "sha256:" + images["gpt_raw_sha256"],
                  "disk_format": "raw"},
        "root_device_hints": ROOT_DEVICE_HINTS,
        "configdrive": {"type": "file", "location": str(location)},
    })
    assert again.proc.returncode == 0, again
    assert len(partitions(targets[0].disk)) == 2
    check_configdrive(targets[0].disk, images["iso"])


def test_qcow2_deploy_three_nodes(ansible_venv, targets, images):
    """One run, three nodes: the qcow2 (msdos) image downloaded and converted, the configdrive
    from a URL."""
    size = targets[0].disk.stat().st_size
    for t in targets:
        wipe(t.disk, size)
    nodes = nodes_for(targets)
    run = run_playbook(ansible_venv, targets.private_key, "deploy.yaml", {
        "nodes": nodes,
        "image": {"url": images["qcow2_url"], "checksum": "sha256:" + images["qcow2_sha256"],
                  "disk_format": "qcow2", "mem_req": 64, "validate_certs": "yes"},
        "root_device_hints": ROOT_DEVICE_HINTS,
        "configdrive": {"type": "url", "location": images["configdrive_url"]},
    })
    print(f"qcow2 deploy of 3 nodes: {run.seconds:.1f}s")
    assert run.proc.returncode == 0, run
    for node in nodes:
        assert run.failed(node["name"]) == 0, run
    for t in targets:
        assert read_marker(t.disk, QCOW2_MARKER) == QCOW2_MARKER
        assert t.disk.stat().st_size == size
        assert _run("blkid", "-p", "-o", "value", "-s", "PTTYPE", str(t.disk)).stdout.strip() == "dos"
        number, _, _, _ = check_configdrive(t.disk, images["iso"])
        assert number == 2


def test_local_image_from_the_conductor(ansible_venv, targets, images):
    """An image_source that is a file on the conductor is copied over, checked and converted."""
    t = targets[0]
    wipe(t.disk, t.disk.stat().st_size)
    run = run_playbook(ansible_venv, targets.private_key, "deploy.yaml", {
        "nodes": nodes_for([t]),
        "image": {"source": f"file://{images['local']}", "checksum": "sha256:" + images["local_sha256"],
                  "disk_format": "qcow2"},
        "root_device_hints": ROOT_DEVICE_HINTS,
    })
    assert run.proc.returncode == 0, run
    assert read_marker(t.disk, LOCAL_MARKER) == LOCAL_MARKER
    assert len(partitions(t.disk)) == 1, "no configdrive was asked for"


@pytest.mark.parametrize("kind", ["raw", "qcow2", "local"])
def test_wrong_checksum_fails(ansible_venv, targets, images, kind):
    t = targets[1]
    wrong = "sha256:" + "0" * 64
    image = {"raw": {"url": images["gpt_raw_url"], "disk_format": "raw"},
             "qcow2": {"url": images["qcow2_url"], "disk_format": "qcow2"},
             "local": {"source": str(images["local"]), "disk_format": "qcow2"}}[kind]
    nodes = nodes_for([t])
    run = run_playbook(ansible_venv, targets.private_key, "deploy.yaml", {
        "nodes": nodes, "image": dict(image, checksum=wrong), "root_device_hints": ROOT_DEVICE_HINTS,
    })
    assert run.proc.returncode == 2, run
    assert run.failed(nodes[0]["name"]) == 1, run
    [(_, result)] = run.fatal[nodes[0]["name"]]
    print(f"wrong checksum ({kind}): {result['msg']}")
    assert "checksum" in result["msg"], result


def test_clean_erase_devices_metadata(ansible_venv, targets, images):
    """--tags erase_devices_metadata leaves no partition table and no configdrive signature."""
    t = targets[2]
    wipe(t.disk, t.disk.stat().st_size)
    nodes = nodes_for([t])
    deployed = run_playbook(ansible_venv, targets.private_key, "deploy.yaml", {
        "nodes": nodes,
        "image": {"url": images["gpt_raw_url"], "disk_format": "raw"},
        "root_device_hints": ROOT_DEVICE_HINTS,
        "configdrive": {"type": "url", "location": images["configdrive_url"]},
    })
    assert deployed.proc.returncode == 0, deployed
    _, start, _, _ = check_configdrive(t.disk, images["iso"])
    # Data in the middle of a partition, away from its first and last MiB.
    middle = 2 * MIB + 512
    with open(t.disk, "r+b") as f:
        f.seek(middle)
        f.write(RAW_MARKER)

    run = run_playbook(ansible_venv, targets.private_key, "clean.yaml",
                       {"nodes": nodes, "root_device_hints": ROOT_DEVICE_HINTS},
                       tags=["erase_devices_metadata"])
    print(f"erase_devices_metadata: {run.seconds:.1f}s")
    assert run.proc.returncode == 0, run
    assert "shred" not in run.proc.stdout.lower(), "erase_devices ran without its tag"
    table = subprocess.run(["blkid", "-p", "-o", "value", "-s", "PTTYPE", str(t.disk)],
                           capture_output=True, text=True, timeout=30)
    assert table.stdout.strip() == "", table.stdout
    assert subprocess.run(["sfdisk", "--json", str(t.disk)], capture_output=True,
                          timeout=30).returncode != 0
    probe = subprocess.run(["blkid", "-p", "-O", str(start * 512), str(t.disk)],
                           capture_output=True, text=True, timeout=30)
    assert "config-2" not in probe.stdout
    # Metadata only: the partition's data away from its ends is still there.
    with open(t.disk, "rb") as f:
        f.seek(middle)
        assert f.read(len(RAW_MARKER)) == RAW_MARKER


def test_clean_erase_devices(ansible_venv, targets, images):
    t = targets[2]
    with open(t.disk, "r+b") as f:
        f.seek(MARKER_OFFSET)
        f.write(RAW_MARKER)
    nodes = nodes_for([t])
    run = run_playbook(ansible_venv, targets.private_key, "clean.yaml",
                       {"nodes": nodes, "root_device_hints": ROOT_DEVICE_HINTS}, tags=["erase_devices"])
    print(f"erase_devices (64 MiB): {run.seconds:.1f}s")
    assert run.proc.returncode == 0, run
    with open(t.disk, "rb") as f:
        data = f.read()
    assert data.count(0) == len(data), "shred left non-zero bytes"


def test_shutdown_is_fire_and_forget(ansible_venv, targets):
    nodes = nodes_for(targets)
    for t in targets:
        t.power_log.unlink(missing_ok=True)
    run = run_playbook(ansible_venv, targets.private_key, "shutdown.yaml", {"nodes": nodes})
    assert run.proc.returncode == 0, run
    for node in nodes:
        assert run.failed(node["name"]) == 0, run
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not all(t.power_log.exists() for t in targets):
        time.sleep(0.2)
    for t in targets:
        assert t.power_log.read_text().split()[1:] == ["shutdown", "-h", "now"]


def test_simulated_target_refuses_real_disks(ansible_venv, targets):
    """Without a hint naming a file, a simulated ramdisk has no disk to deploy to; cleaning
    every disk cleans only the disk files it declares (IRONIC_SIMULATED_DISKS)."""
    nodes = nodes_for(targets[:1])
    for hints in ({}, {"name": "/dev/vda"}, {"size": 8}):
        ironic = {"nodes": nodes, "image": {"url": "http://127.0.0.1:9/none", "disk_format": "raw"}}
        if hints:
            ironic["root_device_hints"] = hints
        run = run_playbook(ansible_venv, targets.private_key, "deploy.yaml", ironic)
        assert run.proc.returncode == 2, run
        [(_, result)] = run.fatal[nodes[0]["name"]]
        assert "simulated ramdisk" in result["msg"] or "does not exist" in result["msg"], result
        clean = run_playbook(ansible_venv, targets.private_key, "clean.yaml", dict(ironic),
                             tags=["erase_devices_metadata"])
        if "name" in hints:
            assert clean.proc.returncode == 2, clean
        else:
            # Cleaning every disk of a simulation means the disk files it declares, only.
            assert clean.proc.returncode == 0, clean
            assert "disk.img" in clean.output, clean


def _root_block_device() -> str | None:
    proc = subprocess.run(["findmnt", "-n", "-o", "SOURCE", "/"], capture_output=True, text=True, timeout=10)
    source = proc.stdout.strip()
    if not source.startswith("/dev/"):
        return None
    parent = subprocess.run(["lsblk", "-n", "-p", "-s", "-o", "NAME,TYPE", source],
                            capture_output=True, text=True, timeout=10).stdout.split("\n")
    disks = [line.split()[0].lstrip("└─├│ ") for line in parent if line.strip().endswith("disk")]
    return disks[-1] if disks else source


def test_disk_holding_root_is_refused(ansible_venv, workdir):
    """The discovery module itself, run read-only on this host outside any simulation: the
    disk that holds / is refused, and so is cleaning every disk."""
    disk = _root_block_device()
    if disk is None:
        pytest.skip("/ is not on a block device here")
    env = {k: v for k, v in os.environ.items() if k != "IRONIC_SIMULATED_RAMDISK"}
    env["ANSIBLE_CONFIG"] = str(PLAYBOOKS / "ansible.cfg")
    for args in (json.dumps({"hints": {"name": disk}}), json.dumps({"mode": "all"})):
        proc = subprocess.run([str(ansible_venv / "bin" / "ansible"), "conductor", "-i",
                               str(PLAYBOOKS / "inventory"), "-m", "root_device", "-a", args,
                               "-e", f"ansible_python_interpreter={PYTHON}"],
                              capture_output=True, text=True, timeout=120, env=env, cwd=workdir)
        assert proc.returncode != 0, proc.stdout
        assert "Refusing to write to" in proc.stdout, proc.stdout
