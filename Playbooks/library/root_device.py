#!/usr/bin/python3
# Licensed under the Apache License, Version 2.0.
"""Finds the disk a deploy or clean works on, and refuses disks that are in use."""

from __future__ import annotations

DOCUMENTATION = r"""
module: root_device
short_description: Choose the root disk from Ironic root device hints
description:
  - Lists the disks with C(lsblk) and picks the one the root device hints describe
    (exact matches of C(name), C(size) in GiB, C(serial), C(model), C(vendor), C(wwn),
    C(wwn_with_extension), C(wwn_vendor_extension), C(hctl), C(rotational)).
  - Without hints it picks the smallest disk of at least O(min_size_gib) GiB.
  - A C(name) hint may name a regular file, which then is the disk (a simulated target).
  - Refuses a block device that is read-only, holds C(/), or has anything mounted or in use
    as swap on it or on its partitions and holders.
  - When the environment has E(IRONIC_SIMULATED_RAMDISK) set, the target is a simulation on
    a host with real disks: only a regular file may be a disk there, and cleaning every disk
    means the files E(IRONIC_SIMULATED_DISKS) lists (colon-separated).
options:
  hints:
    description: The node's root device hints (C(ironic.root_device_hints)).
    type: dict
    default: {}
  mode:
    description:
      - V(one) returns the one disk to deploy to.
      - V(all) returns every disk to clean; only a C(name) hint naming a regular file narrows
        it down, to that file.
    type: str
    choices: [one, all]
    default: one
  min_size_gib:
    description: Smallest disk size chosen when there are no hints.
    type: int
    default: 4
"""

EXAMPLES = r"""
- name: Find the root disk
  root_device:
    hints: "{{ ironic.root_device_hints | default({}) }}"
  register: discover_root
"""

RETURN = r"""
device:
  description: The chosen disk (mode V(one)).
  returned: success
  type: dict
  sample: {path: /dev/vda, size: 68719476736, sector_size: 512, is_file: false}
devices:
  description: Every disk chosen (one element in mode V(one)).
  returned: success
  type: list
"""

import json
import os
import stat

from ansible.module_utils.basic import AnsibleModule

GIB = 1024 ** 3

STRING_HINTS = ("serial", "model", "vendor", "wwn", "wwn_with_extension",
                "wwn_vendor_extension", "hctl")
KNOWN_HINTS = set(STRING_HINTS) | {"name", "size", "rotational"}
LSBLK_COLUMNS = "NAME,KNAME,TYPE,SIZE,RO,ROTA,SERIAL,MODEL,VENDOR,WWN,HCTL,MOUNTPOINT,MAJ:MIN,LOG-SEC"
# Kernel disks that are never a node's root disk.
VIRTUAL_PREFIXES = ("/dev/zram", "/dev/ram", "/dev/loop", "/dev/nbd", "/dev/fd")


def as_bool(value):
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "yes", "on")


def as_int(value, default=0):
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def as_str(value):
    return "" if value is None else str(value).strip()


def fail_hints(module, hints, why):
    module.fail_json(msg="No disk matches the root device hints %s: %s" % (
        json.dumps(hints, sort_keys=True), why), hints=hints)


class Disk:
    """One candidate disk: a block device from lsblk, or a regular file."""

    def __init__(self, path, size, sector_size=512, is_file=False, entry=None):
        self.path = path
        self.size = size
        self.sector_size = sector_size
        self.is_file = is_file
        self.entry = entry or {}

    def value(self, hint):
        e = self.entry
        if hint == "rotational":
            return as_bool(e.get("rota", False))
        if hint == "wwn_with_extension":
            return as_str(e.get("wwn"))
        if hint == "wwn_vendor_extension":
            wwn = as_str(e.get("wwn"))
            # lsblk's WWN is <wwn><vendor extension> for NAA type 6 names (32 hex digits).
            return "0x" + wwn[18:] if wwn.startswith("0x") and len(wwn) == 34 else ""
        if hint == "wwn":
            wwn = as_str(e.get("wwn"))
            return wwn[:18] if wwn.startswith("0x") and len(wwn) == 34 else wwn
        return as_str(e.get(hint))

    def describe(self):
        what = "file" if self.is_file else as_str(self.entry.get("model")) or "disk"
        return "%s (%s, %d GiB)" % (self.path, what, self.size // GIB)

    def result(self):
        return {"path": self.path, "size": self.size, "sector_size": self.sector_size,
                "is_file": self.is_file, "size_gib": self.size // GIB,
                "serial": self.value("serial"), "model": self.value("model"),
                "vendor": self.value("vendor"), "wwn": self.value("wwn"),
                "rotational": self.value("rotational") if not self.is_file else False}


def list_block_devices(module):
    rc, out, err = module.run_command(["lsblk", "--json", "--bytes", "--paths", "--output", LSBLK_COLUMNS])
    if rc != 0:
        module.fail_json(msg="lsblk failed: %s" % (err or out).strip(), rc=rc)
    try:
        return json.loads(out).get("blockdevices", [])
    except ValueError as e:
        module.fail_json(msg="lsblk printed no JSON: %s" % e)


def subtree(entry):
    yield entry
    for child in entry.get("children", []) or []:
        for node in subtree(child):
            yield node


def mounts():
    """(major:minor, source, mount point) of every mount in this namespace."""
    found = []
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                fields = line.split()
                if " - " not in line or len(fields) < 5:
                    continue
                tail = line.split(" - ", 1)[1].split()
                found.append((fields[2], tail[1] if len(tail) > 1 else "", fields[4]))
    except OSError:
        pass
    return found


def swaps():
    found = set()
    try:
        with open("/proc/swaps") as f:
            for line in f.readlines()[1:]:
                if line.split():
                    found.add(os.path.realpath(line.split()[0]))
    except OSError:
        pass
    return found


def uses(entry, mount_table, swap_table):
    """What keeps a disk busy: its mounts, swap, and whether it holds /."""
    numbers, paths = set(), set()
    busy = []
    for node in subtree(entry):
        numbers.add(as_str(node.get("maj:min")))
        paths.add(os.path.realpath(as_str(node.get("name"))))
        if node.get("mountpoint"):
            busy.append("%s on %s" % (node.get("name"), node.get("mountpoint")))
    holds_root = False
    for number, source, point in mount_table:
        real_source = os.path.realpath(source) if source.startswith("/dev/") else ""
        if number in numbers or real_source in paths:
            busy.append("%s on %s" % (source or number, point))
            holds_root = holds_root or point == "/"
    try:
        root = os.stat("/").st_dev
        if "%d:%d" % (os.major(root), os.minor(root)) in numbers:
            holds_root = True
    except OSError:
        pass
    for path in swap_table & paths:
        busy.append("%s as swap" % path)
    return holds_root, sorted(set(busy))


def refuse_busy(module, entry, mount_table, swap_table):
    path = entry.get("name")
    if as_bool(entry.get("ro", False)):
        module.fail_json(msg="Refusing to write to %s: it is read-only" % path)
    holds_root, busy = uses(entry, mount_table, swap_table)
    if holds_root:
        module.fail_json(msg="Refusing to write to %s: it holds the root file system / (in use: %s)"
                         % (path, ", ".join(busy) or "/"))
    if busy:
        module.fail_json(msg="Refusing to write to %s: it has mounted or active partitions (%s)"
                         % (path, ", ".join(busy)))


def file_disk(path):
    """A Disk for a regular file (a simulated target's disk), or None."""
    real = os.path.realpath(path)
    try:
        st = os.stat(real)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    return Disk(real, st.st_size, 512, True)


def matches(disk, hints):
    for hint, wanted in hints.items():
        if hint == "name":
            continue  # matched by path before
        if hint == "size":
            if disk.size // GIB != as_int(wanted, -1):
                return False
        elif hint == "rotational":
            if disk.is_file or disk.value("rotational") != as_bool(wanted):
                return False
        elif disk.is_file or disk.value(hint) != as_str(wanted):
            return False
    return True


def main():
    module = AnsibleModule(
        argument_spec={
            "hints": {"type": "dict", "default": {}},
            "mode": {"type": "str", "choices": ["one", "all"], "default": "one"},
            "min_size_gib": {"type": "int", "default": 4},
        },
        supports_check_mode=True,
    )
    hints = {k: v for k, v in (module.params["hints"] or {}).items() if v is not None}
    mode = module.params["mode"]
    unknown = sorted(set(hints) - KNOWN_HINTS)
    if unknown:
        module.fail_json(msg="Unsupported root device hints %s (supported: %s)"
                         % (", ".join(unknown), ", ".join(sorted(KNOWN_HINTS))))
    simulated = os.environ.get("IRONIC_SIMULATED_RAMDISK", "")

    name = as_str(hints.get("name"))
    if name and not name.startswith("/"):
        name = "/dev/" + name

    # A name hint naming a regular file: that file is the disk, in either mode.
    if name:
        disk = file_disk(name)
        if disk is not None:
            if not matches(disk, hints):
                fail_hints(module, hints, "%s is a regular file of %d GiB; a file has no other "
                           "properties to match" % (disk.path, disk.size // GIB))
            module.exit_json(changed=False, device=disk.result(), devices=[disk.result()],
                             simulated=bool(simulated))

    if name and not os.path.lexists(name):
        fail_hints(module, hints, "%s does not exist" % name)

    if simulated and mode == "all" and not name:
        # Cleaning every disk of a simulation: the disks it declares (regular files).
        declared = [file_disk(path) for path in os.environ.get("IRONIC_SIMULATED_DISKS", "").split(":") if path]
        files = [disk for disk in declared if disk is not None]
        if not files:
            module.fail_json(msg="No disk to clean: this target is a simulated ramdisk "
                             "(IRONIC_SIMULATED_RAMDISK=%s) declaring no disk file in "
                             "IRONIC_SIMULATED_DISKS" % simulated)
        module.exit_json(changed=False, device=files[0].result(), devices=[d.result() for d in files],
                         simulated=True, read_only=[])

    if simulated:
        if name:
            fail_hints(module, hints, "%s is not a regular file, and this target is a simulated "
                       "ramdisk (IRONIC_SIMULATED_RAMDISK=%s): only a regular file named by the "
                       "'name' hint can be its disk" % (name, simulated))
        module.fail_json(msg="Refusing to choose a disk: this target is a simulated ramdisk "
                         "(IRONIC_SIMULATED_RAMDISK=%s) and the root device hints %s name no "
                         "regular file" % (simulated, json.dumps(hints, sort_keys=True)))

    entries = [e for e in list_block_devices(module)
               if as_str(e.get("type")) == "disk"
               and not as_str(e.get("name")).startswith(VIRTUAL_PREFIXES)
               and as_int(e.get("size")) > 0]
    disks = [Disk(as_str(e.get("name")), as_int(e.get("size")), as_int(e.get("log-sec"), 512) or 512,
                  False, e) for e in entries]
    seen = ", ".join(d.describe() for d in disks) or "none"
    mount_table, swap_table = mounts(), swaps()

    if mode == "all":
        # Cleaning erases every writable disk, as Ironic does: all of them must be free first.
        writable = [d for d in disks if not as_bool(d.entry.get("ro", False))]
        for disk in writable:
            refuse_busy(module, disk.entry, mount_table, swap_table)
        if not writable:
            module.fail_json(msg="No disk to clean (disks seen: %s)" % seen)
        module.exit_json(changed=False, device=writable[0].result(),
                         devices=[d.result() for d in writable], simulated=False,
                         read_only=[d.path for d in disks if d not in writable])

    if name:
        real = os.path.realpath(name)
        candidates = [d for d in disks if os.path.realpath(d.path) == real]
        if not candidates:
            fail_hints(module, hints, "%s is neither a regular file nor a disk (disks seen: %s)"
                       % (name, seen))
    elif hints:
        candidates = list(disks)
    else:
        big = [d for d in disks if d.size >= module.params["min_size_gib"] * GIB]
        if not big:
            module.fail_json(msg="No root device hints, and no disk of at least %d GiB (disks seen: %s)"
                             % (module.params["min_size_gib"], seen))
        candidates = [min(big, key=lambda d: (d.size, d.path))]

    chosen = [d for d in candidates if matches(d, hints)]
    if not chosen:
        fail_hints(module, hints, "disks seen: %s" % seen)
    # The first match in the kernel's order, as the agent picks it.
    disk = chosen[0]
    refuse_busy(module, disk.entry, mount_table, swap_table)
    module.exit_json(changed=False, device=disk.result(), devices=[disk.result()], simulated=False)


if __name__ == "__main__":
    main()
