#!/usr/bin/python3
# Licensed under the Apache License, Version 2.0.
"""Puts a configdrive into a partition at the end of the root disk."""

from __future__ import annotations

DOCUMENTATION = r"""
module: configdrive_partition
short_description: Write a configdrive to a partition at the end of a disk
description:
  - Decodes O(src) as Ironic hands a configdrive over (base64 of a gzipped ISO 9660 image; a
    plain gzipped or plain image is taken as well) and checks that it is an ISO 9660 or VFAT
    image.
  - Reuses a partition that already holds a file system labelled C(config-2). Otherwise it
    creates a partition just large enough (whole MiB, 1 MiB aligned) at the very end of the
    disk, after the last partition, named C(config-2) on GPT disks; a GPT whose backup header
    is not at the end of the disk (an image smaller than the disk) is moved there first. On an
    MBR disk larger than 2 TiB the partition ends below 2 TiB, where MBR can address it.
  - Writes the image into the partition by offset, so a regular file (a simulated target's
    disk) works as well as a block device; the kernel is told about new partitions of a block
    device.
  - The disk must have a partition table (the whole-disk image's).
options:
  src: {description: The configdrive as fetched to the target., type: path, required: true}
  disk: {description: The root disk., type: path, required: true}
  max_size_mib: {description: Largest configdrive accepted., type: int, default: 64}
"""

EXAMPLES = r"""
- name: Write the configdrive
  configdrive_partition:
    src: /tmp/ironic-deploy.x/configdrive
    disk: /dev/vda
"""

RETURN = r"""
partition: {description: Number of the configdrive partition., returned: success, type: int}
offset: {description: Byte offset of the partition on the disk., returned: success, type: int}
size: {description: Bytes of the partition., returned: success, type: int}
image_size: {description: Bytes of the decoded configdrive., returned: success, type: int}
created: {description: Whether the partition was created now., returned: success, type: bool}
table: {description: "gpt or msdos.", returned: success, type: str}
"""

import base64
import binascii
import gzip
import os
import stat

from ansible.module_utils.basic import AnsibleModule

MIB = 1024 * 1024
LABEL = "config-2"
MBR_LIMIT_BYTES = 2 ** 32 * 512
GPT_BACKUP_SECTORS = 33  # the backup header and a 128-entry table in 512-byte sectors


def decode(module, raw):
    """The configdrive image from what the conductor handed over."""
    data = raw
    if not data.startswith(b"\x1f\x8b") and not looks_like_image(data):
        try:
            data = base64.b64decode(b"".join(raw.split()), validate=True)
        except (binascii.Error, ValueError):
            module.fail_json(msg="The configdrive is neither base64 nor a gzip or disk image")
    if data.startswith(b"\x1f\x8b"):
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as e:
            module.fail_json(msg="The configdrive's gzip data is damaged: %s" % e)
    if not looks_like_image(data):
        module.fail_json(msg="The configdrive is neither an ISO 9660 nor a VFAT image after decoding")
    return data


def looks_like_image(data):
    iso = data[0x8001:0x8006] == b"CD001"
    vfat = len(data) >= 512 and data[510:512] == b"\x55\xaa" and (b"FAT" in data[54:90])
    return iso or vfat


class Disk:
    def __init__(self, module, path):
        self.module = module
        self.path = path
        st = os.stat(path)
        self.is_block = stat.S_ISBLK(st.st_mode)
        if not (self.is_block or stat.S_ISREG(st.st_mode)):
            module.fail_json(msg="%s is neither a block device nor a regular file" % path)
        with open(path, "rb") as f:
            self.size = f.seek(0, os.SEEK_END)
        self.sector = 512
        if self.is_block:
            out = self.run(["blockdev", "--getss", path])
            self.sector = int(out.strip() or 512)

    def run(self, argv, check=True):
        rc, out, err = self.module.run_command(argv)
        if check and rc != 0:
            self.module.fail_json(msg="%s failed on %s: %s" % (argv[0], self.path, (err or out).strip()),
                                  cmd=argv, rc=rc)
        return out

    def table_type(self):
        rc, out, _ = self.module.run_command(["blkid", "--probe", "--match-tag", "PTTYPE",
                                              "--output", "value", self.path])
        value = out.strip() if rc == 0 else ""
        return {"dos": "msdos"}.get(value, value)

    def partitions(self):
        """[(number, start sector, end sector, name)] from parted, in sectors."""
        out = self.run(["parted", "--script", "--machine", self.path, "unit", "s", "print"])
        found = []
        for line in out.splitlines()[2:]:
            fields = line.rstrip(";").split(":")
            if len(fields) >= 4 and fields[0].isdigit():
                found.append((int(fields[0]), int(fields[1].rstrip("s")), int(fields[2].rstrip("s")),
                              fields[5] if len(fields) > 5 else ""))
        return found

    def label_at(self, offset):
        rc, out, _ = self.module.run_command(["blkid", "--probe", "--offset", str(offset),
                                              "--match-tag", "LABEL", "--output", "value", self.path])
        return out.strip() if rc == 0 else ""

    def reread(self):
        if self.is_block:
            # The kernel learns about the new partition; neither tool is vital, both may be absent.
            self.module.run_command(["partx", "--update", self.path])
            self.module.run_command(["partprobe", self.path])


def align_down(value, step):
    return value - value % step


def create(module, disk, table, image_size):
    ss = disk.sector
    align = MIB // ss
    need = -(-image_size // MIB) * MIB // ss  # whole MiB, in sectors
    if table == "gpt":
        last_usable = disk.size // ss - 1 - GPT_BACKUP_SECTORS
    else:
        last_usable = min(disk.size, MBR_LIMIT_BYTES) // ss - 1
    start = align_down(last_usable + 1 - need, align)
    end = last_usable
    parts = disk.partitions()
    after = max([p[2] for p in parts], default=0)
    if start <= after:
        module.fail_json(msg="No room for a %d MiB configdrive partition at the end of %s: the last "
                         "partition ends at sector %d of %d" % (need * ss // MIB, disk.path, after,
                                                                 disk.size // ss))
    if table == "msdos" and len(parts) >= 4:
        module.fail_json(msg="%s already has four MBR partitions; a configdrive partition needs a "
                         "fifth" % disk.path)
    if table == "gpt":
        argv = ["parted", "--script", "--align", "none", disk.path, "unit", "s",
                "mkpart", LABEL, str(start), str(end)]
    else:
        argv = ["parted", "--script", "--align", "none", disk.path, "unit", "s",
                "mkpart", "primary", str(start), str(end)]
    disk.run(argv)
    for number, first, last, _ in disk.partitions():
        if first == start:
            return number, first, last
    module.fail_json(msg="parted made no partition at sector %d of %s" % (start, disk.path))


def main():
    module = AnsibleModule(
        argument_spec={
            "src": {"type": "path", "required": True},
            "disk": {"type": "path", "required": True},
            "max_size_mib": {"type": "int", "default": 64},
        },
    )
    with open(module.params["src"], "rb") as f:
        image = decode(module, f.read())
    if len(image) > module.params["max_size_mib"] * MIB:
        module.fail_json(msg="The configdrive is %d bytes, more than the %d MiB a configdrive "
                         "partition may hold" % (len(image), module.params["max_size_mib"]))

    disk = Disk(module, module.params["disk"])
    table = disk.table_type()
    if table not in ("gpt", "msdos"):
        module.fail_json(msg="%s has no partition table (found %r); the configdrive partition needs "
                         "the whole-disk image's msdos or gpt table" % (disk.path, table or "none"))
    if table == "gpt":
        # The image's backup GPT sits at the image's end, not the disk's: move it out there.
        disk.run(["sgdisk", "--move-second-header", disk.path])

    created = False
    found = None
    for number, first, last, name in disk.partitions():
        if (last - first + 1) * disk.sector >= len(image) and (
                disk.label_at(first * disk.sector) == LABEL or name == LABEL):
            found = (number, first, last)
    if found is None:
        found = create(module, disk, table, len(image))
        created = True
    number, first, last = found
    offset, size = first * disk.sector, (last - first + 1) * disk.sector

    with open(disk.path, "r+b") as f:
        f.seek(offset)
        same = f.read(len(image)) == image
        if not same:
            f.seek(offset)
            f.write(image)
            f.flush()
            os.fsync(f.fileno())
    if created or not same:
        disk.reread()
    module.exit_json(changed=created or not same, partition=number, offset=offset, size=size,
                     image_size=len(image), created=created, table=table, disk=disk.path)


if __name__ == "__main__":
    main()
