"""Simulated deploy ramdisks for the ansible deploy tests and benchmarks.

Each target is an OpenSSH ``sshd`` of its own on 127.0.0.1 and a free port, running as root on
this host, with its own host key, its own sparse disk file and one authorized key shared by
all targets.

Nodes the conductor batches into one ``ansible-playbook`` run share their root device hints,
as real nodes of one kind share ``/dev/sda``. So each sshd runs in a mount namespace of its own
in which its directory is bind-mounted at ``/run/ironic-simulated-ramdisk``: every target sees
its own disk file at the same path, ``TARGET_DISK``, and the hint ``{"name": TARGET_DISK}``
names it on all of them. A target whose ``disk.img`` is removed has no disk at that path.

What Ansible runs there runs on this machine, so two things keep the machine's own disks safe:

* every session's environment has ``IRONIC_SIMULATED_RAMDISK=<target dir>`` and
  ``IRONIC_SIMULATED_DISKS`` (the disk file, for cleaning every disk): the playbooks'
  disk discovery then accepts only a regular file (the target's ``disk.img``, named by the
  ``name`` root device hint) as a disk;
* ``shutdown``, ``poweroff``, ``halt`` and ``reboot`` come first on the sessions' PATH as stubs
  that only append their arguments to ``<target dir>/power.log``.

Usage::

    with SSHTargets(tmp_path / "targets", count=3) as targets:
        for t in targets:
            print(t.port, t.disk)            # (port, disk path on this host)
        targets.private_key                  # for ansible-playbook --private-key
        ROOT_DEVICE_HINTS                    # {"name": TARGET_DISK}, for ironic.root_device_hints

Needs root, ``/usr/sbin/sshd`` (``scripts/install-openssh-server.sh``), ``ssh-keygen`` and
util-linux's ``unshare``. Only the processes started here are stopped, by PID.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

SSHD = "/usr/sbin/sshd"
SSH_KEYGEN = "ssh-keygen"
START_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0
DEFAULT_DISK_SIZE = 64 * 1024 * 1024
# The PATH sshd gives sessions, behind the stubs.
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
POWER_COMMANDS = ("shutdown", "poweroff", "halt", "reboot")
# Where each target sees its own directory, in its own mount namespace.
TARGET_ROOT = Path("/run/ironic-simulated-ramdisk")
# Each target's disk, as the target sees it.
TARGET_DISK = TARGET_ROOT / "disk.img"
ROOT_DEVICE_HINTS = {"name": str(TARGET_DISK)}


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class SSHTarget:
    """One simulated ramdisk: an sshd on 127.0.0.1:port and the disk file it stands for."""

    index: int
    directory: Path
    port: int = 0
    pid: int | None = None
    proc: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def disk(self) -> Path:
        """The disk file, as this host sees it (``TARGET_DISK`` inside the target)."""
        return self.directory / "disk.img"

    @property
    def log(self) -> Path:
        return self.directory / "sshd.log"

    @property
    def power_log(self) -> Path:
        """Where the power command stubs write what they were asked (one line per call)."""
        return self.directory / "power.log"

    @property
    def address(self) -> tuple[int, Path]:
        return self.port, self.disk

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError as e:
            return f"<cannot read {self.log}: {e}>"


class SSHTargets:
    """Starts ``count`` simulated ramdisks under ``directory``; a context manager.

    ``disk_size`` is each sparse disk file's size in bytes. ``user`` is who may log in: the
    user running this (root, in the tests).
    """

    def __init__(self, directory: Path, count: int, disk_size: int = DEFAULT_DISK_SIZE,
                 user: str | None = None):
        self.directory = Path(directory)
        self.count = count
        self.disk_size = disk_size
        self.user = user or _current_user()
        self.targets: list[SSHTarget] = []

    # -- keys ---------------------------------------------------------------------------

    @property
    def private_key(self) -> Path:
        return self.directory / "id_ed25519"

    @property
    def public_key(self) -> Path:
        return self.directory / "id_ed25519.pub"

    def _keygen(self, path: Path, comment: str) -> None:
        if not path.exists():
            subprocess.run([SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
                           check=True, capture_output=True, timeout=30)

    # -- life cycle ---------------------------------------------------------------------

    def start(self) -> list[SSHTarget]:
        if not os.access(SSHD, os.X_OK):
            raise RuntimeError(f"{SSHD} is missing: run scripts/install-openssh-server.sh")
        self.directory.mkdir(parents=True, exist_ok=True)
        self._keygen(self.private_key, "swift-ironic simulated ramdisks")
        # sshd wants its privilege separation directory; the package makes it only at boot.
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        # The mount point of every target's directory; on this host it stays an empty directory.
        TARGET_ROOT.mkdir(mode=0o755, parents=True, exist_ok=True)
        try:
            for index in range(self.count):
                target = SSHTarget(index, self.directory / f"target-{index}")
                self._prepare(target)
                self._launch(target)
                self.targets.append(target)
        except BaseException:
            self.stop()
            raise
        return self.targets

    def _prepare(self, target: SSHTarget) -> None:
        d = target.directory
        d.mkdir(parents=True, exist_ok=True)
        self._keygen(d / "ssh_host_ed25519_key", f"target-{target.index}")
        shutil.copyfile(self.public_key, d / "authorized_keys")
        with open(target.disk, "wb") as f:
            f.truncate(self.disk_size)
        stubs = d / "bin"
        stubs.mkdir(exist_ok=True)
        for name in POWER_COMMANDS:
            stub = stubs / name
            stub.write_text("#!/bin/sh\n"
                            "# A simulated ramdisk powers nothing off: the call is only written down.\n"
                            f'echo "$(date +%s.%N) {name} $*" >> {target.power_log}\n')
            stub.chmod(0o755)
        (d / "sshd_config").write_text(
            "# A simulated deploy ramdisk (Tests/Client/ssh_targets.py)\n"
            "ListenAddress 127.0.0.1\n"
            f"AllowUsers {self.user}\n"
            "PermitRootLogin prohibit-password\n"
            "PubkeyAuthentication yes\n"
            "AuthenticationMethods publickey\n"
            "PasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\n"
            "UsePAM no\n"
            "PermitUserEnvironment no\n"
            "X11Forwarding no\n"
            "AllowTcpForwarding no\n"
            "AllowAgentForwarding no\n"
            "PermitTunnel no\n"
            "PrintMotd no\n"
            "PrintLastLog no\n"
            # No Subsystem sftp: files must reach the target through the SSH session (piped).
            "MaxStartups 100:30:200\n"
            "MaxSessions 50\n"
            "LogLevel VERBOSE\n"
            f"SetEnv PATH={stubs}:{SYSTEM_PATH} IRONIC_SIMULATED_RAMDISK={d} IRONIC_SIMULATED_DISKS={TARGET_DISK}\n")

    def _launch(self, target: SSHTarget, attempts: int = 5) -> None:
        d = target.directory
        last = ""
        for _ in range(attempts):
            target.port = free_loopback_port()
            # unshare and sh exec: the PID is the sshd's.
            argv = ["unshare", "--mount", "--propagation", "private", "--",
                    "sh", "-c", 'mount --bind "$0" "$1" && shift && exec "$@"', str(d), str(TARGET_ROOT),
                    SSHD, "-D", "-e", "-f", str(d / "sshd_config"),
                    "-o", "ListenAddress=127.0.0.1", "-p", str(target.port),
                    "-h", str(d / "ssh_host_ed25519_key"),
                    "-o", f"AuthorizedKeysFile={d / 'authorized_keys'}",
                    "-o", "StrictModes=no",
                    "-o", f"PidFile={d / 'sshd.pid'}"]
            with open(target.log, "ab") as log:
                target.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                               stderr=subprocess.STDOUT, start_new_session=True)
            target.pid = target.proc.pid
            if self._wait_banner(target):
                return
            last = target.log_tail(5)
            self._stop_one(target)
        raise RuntimeError(f"sshd for target {target.index} did not start: {last}")

    @staticmethod
    def _wait_banner(target: SSHTarget) -> bool:
        """Whether the sshd answers with its SSH banner within START_TIMEOUT."""
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if target.proc.poll() is not None:
                return False
            try:
                with socket.create_connection(("127.0.0.1", target.port), timeout=2) as s:
                    if s.recv(64).startswith(b"SSH-2.0-"):
                        return True
            except OSError:
                pass
            time.sleep(0.05)
        return False

    def stop(self) -> None:
        for target in self.targets:
            self._stop_one(target)

    @staticmethod
    def _stop_one(target: SSHTarget) -> None:
        """Stops this target's sshd and the sessions it forked (each in a session of its own),
        by PID."""
        if target.proc is None or target.pid is None:
            return
        children = _descendants(target.pid) if target.proc.poll() is None else []
        if target.proc.poll() is None:
            target.proc.terminate()
            try:
                target.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                target.proc.kill()
                target.proc.wait(timeout=STOP_TIMEOUT)
        for pid in children:
            _signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        while children and time.monotonic() < deadline:
            children = [pid for pid in children if _alive(pid)]
            time.sleep(0.05)
        for pid in children:
            _signal(pid, signal.SIGKILL)
        target.proc = None

    def __enter__(self) -> "SSHTargets":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def __iter__(self):
        return iter(self.targets)

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> SSHTarget:
        return self.targets[index]

    def addresses(self) -> list[tuple[int, Path]]:
        """``(port, disk path)`` of every target."""
        return [t.address for t in self.targets]


def start_targets(directory: Path, count: int, disk_size: int = DEFAULT_DISK_SIZE) -> SSHTargets:
    """Starts ``count`` targets; call ``.stop()`` on the result (or use ``SSHTargets`` in ``with``)."""
    targets = SSHTargets(directory, count, disk_size)
    targets.start()
    return targets


def _current_user() -> str:
    import pwd
    return pwd.getpwuid(os.getuid()).pw_name


def _parent(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            # The command name (field 2) may hold spaces and parentheses: split after its end.
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def _descendants(root: int) -> list[int]:
    """Every live process under ``root``, children first found by their parent PID."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            ppid = _parent(int(entry))
            if ppid is not None:
                parents.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is gone for our purpose.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass
