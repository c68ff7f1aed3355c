# Licensed under the Apache License, Version 2.0.
"""Filters of the deploy playbooks."""

from __future__ import annotations

import json

MIB = 1024 * 1024


def ironic_partition_ends(results, wipe_mib=1):
    """The areas to zero at the start and the end of every partition.

    ``results`` are the registered loop results of ``sfdisk --json <disk>`` (one per disk, with
    the disk as ``item.path``); a disk whose sfdisk failed has no table and no areas. Returns a
    list of ``{disk, sector, seek, count}``, in sectors of the disk's sector size.
    """
    areas = []
    for result in results or []:
        if result.get("rc") != 0 or not result.get("stdout"):
            continue
        table = json.loads(result["stdout"]).get("partitiontable", {})
        sector = int(table.get("sectorsize", 512))
        disk = result["item"]["path"]
        wipe = max(1, int(wipe_mib) * MIB // sector)
        for part in table.get("partitions", []):
            start, size = int(part["start"]), int(part["size"])
            count = min(size, wipe)
            areas.append({"disk": disk, "sector": sector, "seek": start, "count": count})
            if size > count:
                areas.append({"disk": disk, "sector": sector, "seek": start + size - count,
                              "count": count})
    return areas


class FilterModule:
    def filters(self):
        return {"ironic_partition_ends": ironic_partition_ends}
