#!/usr/bin/python3
# Licensed under the Apache License, Version 2.0.
"""Streams a raw image from HTTP(S) onto a disk, checking its checksum on the way."""

from __future__ import annotations

DOCUMENTATION = r"""
module: stream_image
short_description: Write a raw image from a URL straight onto a disk
description:
  - Reads O(url) in chunks and writes them from the first byte of O(dest), so an image larger
    than the ramdisk's memory needs no room in it.
  - O(dest) must exist (a block device, or the regular file of a simulated target); it is never
    truncated or replaced.
  - The image may not be larger than O(dest).
  - With O(checksum), the bytes read are hashed while they are written; a mismatch fails the
    task, and the disk then holds a bad image.
options:
  url: {description: HTTP(S) URL of the raw image., type: str, required: true}
  dest: {description: The disk to write., type: path, required: true}
  checksum:
    description:
      - C(<algorithm>:<hex digest>) (md5, sha1, sha256, sha384, sha512), a bare digest (the
        algorithm follows from its length), or C(<algorithm>:<URL>) of a checksum file that
        lists the image's file name.
    type: str
  validate_certs: {description: Check the server's TLS certificate., type: bool, default: true}
  timeout: {description: Seconds a connection or read may stall., type: int, default: 60}
  chunk_size: {description: Bytes per read and write., type: int, default: 1048576}
"""

EXAMPLES = r"""
- name: Stream the image to the root disk
  stream_image:
    url: "{{ ironic.image.url }}"
    dest: "{{ ironic_image_target }}"
    checksum: "{{ ironic.image.checksum | default(omit) }}"
"""

RETURN = r"""
size: {description: Bytes written., returned: success, type: int}
checksum: {description: "<algorithm>:<digest> of what was written.", returned: when checksummed, type: str}
"""

import hashlib
import os
import posixpath
import time
from urllib.parse import urlparse

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.urls import open_url

DIGEST_LENGTHS = {32: "md5", 40: "sha1", 64: "sha256", 96: "sha384", 128: "sha512"}


def parse_checksum(module, value, url):
    """(algorithm, expected hex digest) from the task's checksum, or (None, None)."""
    if not value:
        return None, None
    value = value.strip()
    algorithm, _, digest = value.partition(":")
    if not digest:
        algorithm, digest = DIGEST_LENGTHS.get(len(value), ""), value
    algorithm = algorithm.lower()
    if algorithm not in hashlib.algorithms_available:
        module.fail_json(msg="Unsupported checksum %r: no such hash algorithm" % value)
    if digest.startswith(("http://", "https://")):
        digest = checksum_from_file(module, digest, url)
    return algorithm, digest.strip().lower()


def checksum_from_file(module, checksum_url, url):
    try:
        text = open_url(checksum_url, validate_certs=module.params["validate_certs"],
                        timeout=module.params["timeout"]).read().decode("utf-8", "replace")
    except Exception as e:  # noqa: BLE001 - any failure to read it fails the task the same way
        module.fail_json(msg="Cannot read the checksum file %s: %s" % (checksum_url, e))
    wanted = posixpath.basename(urlparse(url).path)
    lines = [line.split() for line in text.splitlines() if line.strip()]
    for fields in lines:
        if len(fields) >= 2 and fields[-1].lstrip("*") in (wanted, "./" + wanted):
            return fields[0]
    if len(lines) == 1 and lines[0]:
        return lines[0][0]
    module.fail_json(msg="The checksum file %s lists no checksum for %s" % (checksum_url, wanted))


def disk_size(fd):
    size = os.lseek(fd, 0, os.SEEK_END)
    os.lseek(fd, 0, os.SEEK_SET)
    return size


def main():
    module = AnsibleModule(
        argument_spec={
            "url": {"type": "str", "required": True},
            "dest": {"type": "path", "required": True},
            "checksum": {"type": "str", "no_log": False},
            "validate_certs": {"type": "bool", "default": True},
            "timeout": {"type": "int", "default": 60},
            "chunk_size": {"type": "int", "default": 1024 * 1024},
        },
    )
    url, dest = module.params["url"], module.params["dest"]
    algorithm, expected = parse_checksum(module, module.params["checksum"], url)
    hasher = hashlib.new(algorithm) if algorithm else None

    if not os.path.exists(dest):
        module.fail_json(msg="The disk %s does not exist" % dest)
    try:
        response = open_url(url, validate_certs=module.params["validate_certs"],
                            timeout=module.params["timeout"])
    except Exception as e:  # noqa: BLE001
        module.fail_json(msg="Cannot download the image %s: %s" % (url, e))

    started = time.monotonic()
    written = 0
    # No O_CREAT, no O_TRUNC: the disk is written in place, whatever it is.
    fd = os.open(dest, os.O_WRONLY)
    try:
        capacity = disk_size(fd)
        length = response.headers.get("Content-Length")
        if length and length.isdigit() and int(length) > capacity:
            module.fail_json(msg="The image %s (%d bytes) is larger than the disk %s (%d bytes)"
                             % (url, int(length), dest, capacity))
        while True:
            try:
                chunk = response.read(module.params["chunk_size"])
            except Exception as e:  # noqa: BLE001
                module.fail_json(msg="Reading the image %s failed after %d bytes: %s" % (url, written, e))
            if not chunk:
                break
            if written + len(chunk) > capacity:
                module.fail_json(msg="The image %s is larger than the disk %s (%d bytes)"
                                 % (url, dest, capacity))
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view):]
            if hasher:
                hasher.update(chunk)
            written += len(chunk)
        os.fsync(fd)
    finally:
        os.close(fd)
    if length and length.isdigit() and written != int(length):
        module.fail_json(msg="The image %s ended after %d of %s bytes" % (url, written, length))

    result = {"changed": True, "size": written, "dest": dest,
              "seconds": round(time.monotonic() - started, 3)}
    if hasher:
        actual = hasher.hexdigest()
        result["checksum"] = "%s:%s" % (algorithm, actual)
        if actual != expected:
            module.fail_json(msg="Image checksum mismatch for %s: expected %s:%s, got %s:%s; "
                             "%s now holds a bad image" % (url, algorithm, expected, algorithm,
                                                           actual, dest), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
