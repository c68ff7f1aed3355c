#!/usr/bin/env bash
# Builds the whole-disk test image used to check deploys end to end:
#
#   OUTDIR/test-image.raw     64 MiB, MBR + one partition; boots and prints
#                             SWIFT-IRONIC-TEST-IMAGE-BOOTED on COM1 and the screen
#   OUTDIR/test-image.qcow2   the same disk converted with qemu-img
#   OUTDIR/test-image.{raw,qcow2}.sha256   hex SHA-256 digests (image_info's os_hash_value)
#
# The boot code and partition table are written by build_test_image.py
# (Python 3, standard library only). Idempotent: nothing is rewritten while
# the inputs (the two scripts, the qemu-img version) are unchanged.
#
# Usage: scripts/build-test-image.sh [OUTDIR]   (default: var/images)
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
OUTDIR=$(realpath -m "${1:-$REPO_ROOT/var/images}")
PYTHON=/usr/bin/python3

log() { printf '[build-test-image] %s\n' "$*"; }

# qemu-img (qemu-utils) converts to qcow2; python3 writes the disk.
missing=()
for p in qemu-utils python3; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ "${#missing[@]}" -gt 0 ]; then
    log "installing Debian packages: ${missing[*]}"
    [ "$(id -u)" -eq 0 ] || { echo "need root to install ${missing[*]}" >&2; exit 1; }
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

mkdir -p "$OUTDIR"
RAW="$OUTDIR/test-image.raw"
QCOW="$OUTDIR/test-image.qcow2"
STAMP="$OUTDIR/.test-image.stamp"
INPUTS="$(sha256sum "${BASH_SOURCE[0]}" "$SCRIPT_DIR/build_test_image.py" | awk '{print $1}' | tr '\n' ' ')$(qemu-img --version | head -n 1)"

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$INPUTS" ] \
        && [ -f "$RAW" ] && [ -f "$QCOW" ] && [ -f "$RAW.sha256" ] && [ -f "$QCOW.sha256" ] \
        && [ "$(cat "$RAW.sha256")" = "$(sha256sum "$RAW" | cut -d' ' -f1)" ]; then
    log "up to date: $RAW ($(cat "$RAW.sha256"))"
    exit 0
fi

log "writing $RAW"
"$PYTHON" "$SCRIPT_DIR/build_test_image.py" "$RAW"
log "converting to $QCOW"
qemu-img convert -q -f raw -O qcow2 "$RAW" "$QCOW.tmp"
mv "$QCOW.tmp" "$QCOW"
for f in "$RAW" "$QCOW"; do
    sha256sum "$f" | cut -d' ' -f1 >"$f.sha256"
done
printf '%s' "$INPUTS" >"$STAMP"
log "raw   $(du -h --apparent-size "$RAW" | cut -f1) ($(du -h "$RAW" | cut -f1) on disk) sha256 $(cat "$RAW.sha256")"
log "qcow2 $(du -h "$QCOW" | cut -f1) sha256 $(cat "$QCOW.sha256")"
