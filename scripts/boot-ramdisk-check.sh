#!/usr/bin/env bash
# Boot checks for the lab images, under QEMU (KVM when /dev/kvm is usable,
# TCG otherwise).
#
#   scripts/boot-ramdisk-check.sh [--ramdisk] [OPTIONS]
#       Boots the deploy ramdisk (scripts/build-deploy-ramdisk.sh) with the
#       host root shared over virtio-9p and checks that the unmodified
#       ironic-python-agent inside it reaches an Ironic API on the host and
#       calls lookup with the machine's MAC. The API is a small fake (Python
#       standard library) on 127.0.0.1 that serves Ironic's version documents
#       and answers every lookup with 404, so the agent keeps retrying.
#
#   scripts/boot-ramdisk-check.sh --test-image [OPTIONS]
#       Boots the whole-disk test image (scripts/build-test-image.sh) from a
#       virtio disk and checks that SWIFT-IRONIC-TEST-IMAGE-BOOTED appears on
#       the serial console.
#
# Options:
#   --images DIR     where the images are (default: var/images)
#   --timeout SEC    give up after SEC seconds (default: 180 for the ramdisk,
#                    60 for the test image)
#   --logs DIR       keep the serial log, QEMU's output and the API's request
#                    log here (default: a temporary directory, removed on
#                    success)
#   --tcg            do not use KVM even when /dev/kvm is there
#   --smp N          virtual CPUs (default: 2)
#   --append ARGS    extra kernel parameters for the ramdisk (e.g. rd.debug)
#
# Exit status 0 when the check passes; otherwise non-zero, with the tail of
# the serial log (and of the API's request log) on stderr. QEMU and the fake
# API are stopped by their PIDs in every case.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)

MODE=ramdisk
IMAGES="$REPO_ROOT/var/images"
TIMEOUT=
LOGDIR=
USE_KVM=auto
SMP=2
EXTRA_APPEND=
MAC=52:54:00:12:34:56

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case "$1" in
        --ramdisk)    MODE=ramdisk ;;
        --test-image) MODE=test-image ;;
        --images)     IMAGES=$2; shift ;;
        --timeout)    TIMEOUT=$2; shift ;;
        --logs)       LOGDIR=$2; shift ;;
        --tcg)        USE_KVM=no ;;
        --smp)        SMP=$2; shift ;;
        --append)     EXTRA_APPEND=$2; shift ;;
        -h|--help)    usage; exit 0 ;;
        *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
IMAGES=$(realpath -m "$IMAGES")
[ -n "$TIMEOUT" ] || { [ "$MODE" = ramdisk ] && TIMEOUT=180 || TIMEOUT=60; }

log() { printf '[boot-check] %s\n' "$*"; }

KEEP_LOGS=yes
if [ -z "$LOGDIR" ]; then
    LOGDIR=$(mktemp -d /tmp/boot-check.XXXXXX)
    KEEP_LOGS=no
fi
mkdir -p "$LOGDIR"
SERIAL="$LOGDIR/serial.log"
QEMU_OUT="$LOGDIR/qemu.log"
API_LOG="$LOGDIR/api-requests.log"
: >"$SERIAL"; : >"$QEMU_OUT"; : >"$API_LOG"

QEMU_PID=
API_PID=
stop_children() {
    # Only the processes started here, by PID.
    for pid in $QEMU_PID $API_PID; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in $QEMU_PID $API_PID; do
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    QEMU_PID=; API_PID=
}
trap stop_children EXIT
trap 'exit 130' INT TERM

fail() {
    echo "[boot-check] FAIL: $*" >&2
    stop_children
    echo "---- serial console ($SERIAL), last 60 lines ----" >&2
    tail -n 60 "$SERIAL" | tr -d '\r' >&2 || true
    if [ -s "$QEMU_OUT" ]; then
        echo "---- qemu ($QEMU_OUT) ----" >&2
        tail -n 20 "$QEMU_OUT" >&2
    fi
    if [ "$MODE" = ramdisk ]; then
        echo "---- API requests ($API_LOG), last 20 ----" >&2
        tail -n 20 "$API_LOG" >&2 || true
    fi
    echo "[boot-check] logs kept in $LOGDIR" >&2
    exit 1
}

# Accelerator: KVM when the device opens, TCG (much slower) otherwise.
ACCEL=(-accel tcg)
ACCEL_NAME=TCG
if [ "$USE_KVM" = auto ] && [ -c /dev/kvm ] && { exec 9<>/dev/kvm; } 2>/dev/null; then
    exec 9>&-
    # QEMU's default CPU model, not -cpu host: under nested KVM the host
    # model's MSRs (IA32_ARCH_CAPABILITIES) can be refused and QEMU aborts.
    ACCEL=(-enable-kvm)
    ACCEL_NAME=KVM
fi
if [ "$ACCEL_NAME" = TCG ]; then
    log "no usable /dev/kvm (or --tcg): running under TCG emulation, expect it to be slow"
fi

now() { date +%s.%N; }
elapsed() { awk -v s="$1" -v e="$(now)" 'BEGIN{printf "%.1f", e-s}'; }

# ---------------------------------------------------------------------------
if [ "$MODE" = test-image ]; then
    IMAGE="$IMAGES/test-image.raw"
    MARKER=SWIFT-IRONIC-TEST-IMAGE-BOOTED
    [ -f "$IMAGE" ] || fail "$IMAGE missing (run scripts/build-test-image.sh)"
    # A throw-away qcow2 overlay: the check never writes to the image itself.
    OVERLAY="$LOGDIR/test-image-overlay.qcow2"
    qemu-img create -q -f qcow2 -F raw -b "$IMAGE" "$OVERLAY"
    log "booting $IMAGE from a virtio disk ($ACCEL_NAME, timeout ${TIMEOUT}s)"
    START=$(now)
    qemu-system-x86_64 "${ACCEL[@]}" -m 256 -smp 1 -nographic -monitor none \
        -drive "file=$OVERLAY,format=qcow2,if=virtio" -boot c -net none \
        -serial "file:$SERIAL" -no-reboot </dev/null >"$QEMU_OUT" 2>&1 &
    QEMU_PID=$!
    deadline=$(( $(date +%s) + TIMEOUT ))
    until grep -q "$MARKER" "$SERIAL" 2>/dev/null; do
        kill -0 "$QEMU_PID" 2>/dev/null || fail "QEMU exited before the marker appeared"
        [ "$(date +%s)" -lt "$deadline" ] || fail "no $MARKER on the serial console within ${TIMEOUT}s"
        sleep 0.2
    done
    T=$(elapsed "$START")
    log "PASS: $MARKER on the serial console ${T}s after QEMU started ($ACCEL_NAME)"
    stop_children
    [ "$KEEP_LOGS" = yes ] || rm -rf "$LOGDIR"
    exit 0
fi

# ---------------------------------------------------------------------------
# Ramdisk mode.
KERNEL="$IMAGES/ipa.kernel"
INITRD="$IMAGES/ipa.initramfs"
for f in "$KERNEL" "$INITRD" "$IMAGES/ipa-venv/bin/ironic-python-agent"; do
    [ -e "$f" ] || fail "$f missing (run scripts/build-deploy-ramdisk.sh)"
done

# The fake Ironic API. It binds an ephemeral port on 127.0.0.1 (QEMU's user
# network forwards the guest's 10.0.2.2 there) and writes the port to a file.
API_PY="$LOGDIR/fake-ironic-api.py"
PORT_FILE="$LOGDIR/api-port"
rm -f "$PORT_FILE"
cat >"$API_PY" <<'EOF'
import json, sys, time, urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOG = open(sys.argv[1], "a", buffering=1)
MIN_VERSION, MAX_VERSION = "1.1", "1.78"


def version_doc(host):
    return {"id": "v1", "status": "CURRENT",
            "min_version": MIN_VERSION, "version": MAX_VERSION,
            "links": [{"href": "http://%s/v1/" % host, "rel": "self"}]}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-ironic-api"

    def log_message(self, fmt, *args):       # requests go to LOG, below
        pass

    def record(self, status):
        LOG.write("%.3f %s %s %s %d version=%s ua=%s\n" % (
            time.time(), self.client_address[0], self.command,
            urllib.parse.unquote(self.path),
            status, self.headers.get("X-OpenStack-Ironic-API-Version", "-"),
            self.headers.get("User-Agent", "-")))

    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-OpenStack-Ironic-API-Minimum-Version", MIN_VERSION)
        self.send_header("X-OpenStack-Ironic-API-Maximum-Version", MAX_VERSION)
        self.send_header("X-OpenStack-Ironic-API-Version",
                         self.headers.get("X-OpenStack-Ironic-API-Version", MIN_VERSION))
        self.send_header("OpenStack-API-Version", "baremetal " + MAX_VERSION)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        self.record(status)

    def error(self, status, message):
        fault = {"faultstring": message, "faultcode": "Client", "debuginfo": None}
        self.reply(status, {"error_message": json.dumps(fault)})

    def do_GET(self):
        host = self.headers.get("Host", "localhost")
        path = self.path.split("?", 1)[0].rstrip("/")
        if path == "":
            doc = version_doc(host)
            self.reply(200, {"name": "OpenStack Ironic API",
                             "description": "Ironic is an OpenStack project which enables the "
                                            "provision and management of baremetal machines.",
                             "versions": [doc], "default_version": doc})
        elif path == "/v1":
            doc = version_doc(host)
            doc["media_types"] = [{"base": "application/json",
                                   "type": "application/vnd.openstack.ironic.v1+json"}]
            self.reply(200, doc)
        elif path == "/v1/lookup":
            self.error(404, "Node could not be found.")
        else:
            self.error(404, "The resource could not be found.")

    do_HEAD = do_GET

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.error(404, "The resource could not be found.")

    do_PUT = do_PATCH = do_DELETE = do_POST


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
with open(sys.argv[2] + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
import os
os.replace(sys.argv[2] + ".tmp", sys.argv[2])
server.serve_forever()
EOF
/usr/bin/python3 "$API_PY" "$API_LOG" "$PORT_FILE" >"$LOGDIR/api.stderr" 2>&1 &
API_PID=$!
for _ in $(seq 1 50); do [ -s "$PORT_FILE" ] && break; sleep 0.1; done
[ -s "$PORT_FILE" ] || { cat "$LOGDIR/api.stderr" >&2; fail "the fake Ironic API did not start"; }
PORT=$(cat "$PORT_FILE")
curl -fsS "http://127.0.0.1:$PORT/" >/dev/null 2>&1 \
    || /usr/bin/python3 -c "import urllib.request,sys; urllib.request.urlopen(sys.argv[1])" \
        "http://127.0.0.1:$PORT/" \
    || fail "the fake Ironic API on 127.0.0.1:$PORT does not answer"
: >"$API_LOG"   # only the machine's requests from here on
log "fake Ironic API on 127.0.0.1:$PORT (the machine reaches it as 10.0.2.2:$PORT)"

APPEND="console=ttyS0 ipa-api-url=http://10.0.2.2:$PORT ipa-insecure=1"
APPEND+=" BOOTIF=01-${MAC//:/-}"
[ -z "$EXTRA_APPEND" ] || APPEND+=" $EXTRA_APPEND"

start_ramdisk() {
    log "booting $KERNEL + $INITRD ($ACCEL_NAME, ${SMP} vCPU, timeout ${TIMEOUT}s)"
    : >"$SERIAL"
    START=$(now)
    qemu-system-x86_64 "${ACCEL[@]}" -m 1536 -smp "$SMP" -nographic -monitor none \
        -kernel "$KERNEL" -initrd "$INITRD" -append "$APPEND" \
        -netdev user,id=n0 -device "virtio-net-pci,netdev=n0,mac=$MAC" \
        -fsdev local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap \
        -device virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot \
        -serial "file:$SERIAL" -no-reboot </dev/null >"$QEMU_OUT" 2>&1 &
    QEMU_PID=$!
}
log "append: $APPEND"
start_ramdisk
# Some nested hypervisors (e.g. KVM-PVM) run real-mode code but triple-fault
# in the kernel's switch to protected mode: no "Linux version" line ever
# reaches the console. Then the check goes on under TCG and says so.
if [ "$ACCEL_NAME" = KVM ]; then
    for _ in $(seq 1 100); do
        tr -d '\000' <"$SERIAL" | grep -aq 'Linux version' && break
        kill -0 "$QEMU_PID" 2>/dev/null || break
        sleep 0.2
    done
    if ! tr -d '\000' <"$SERIAL" | grep -aq 'Linux version'; then
        log "the kernel did not start under KVM within 20 s (nested KVM that cannot run it?); retrying under TCG"
        kill "$QEMU_PID" 2>/dev/null || true; wait "$QEMU_PID" 2>/dev/null || true
        ACCEL=(-accel tcg); ACCEL_NAME=TCG
        start_ramdisk
    fi
fi

WANT="GET /v1/lookup?addresses="
deadline=$(( $(date +%s) + TIMEOUT ))
first_api=
until grep -F "$WANT" "$API_LOG" | grep -qi "$MAC"; do
    kill -0 "$QEMU_PID" 2>/dev/null || fail "QEMU exited before the agent called lookup"
    kill -0 "$API_PID" 2>/dev/null || fail "the fake Ironic API died"
    if [ -z "$first_api" ] && [ -s "$API_LOG" ]; then
        first_api=$(elapsed "$START")
        log "first request from the machine after ${first_api}s: $(head -n 1 "$API_LOG" | cut -d' ' -f3-4)"
    fi
    [ "$(date +%s)" -lt "$deadline" ] \
        || fail "no lookup with $MAC from the agent within ${TIMEOUT}s"
    sleep 0.2
done
T=$(elapsed "$START")
LOOKUP=$(grep -F "$WANT" "$API_LOG" | grep -i "$MAC" | head -n 1)
log "PASS: the agent called lookup ${T}s after QEMU started ($ACCEL_NAME)"
log "  $(echo "$LOOKUP" | cut -d' ' -f3-)"
IPA_START=$(tr -d '\r' <"$SERIAL" | grep -ao 'uptime [0-9.]*s, starting' | head -n 1 | grep -o '[0-9.]*' || true)
[ -z "$IPA_START" ] || log "  (init started the agent at guest uptime ${IPA_START}s)"
stop_children
[ "$KEEP_LOGS" = yes ] || rm -rf "$LOGDIR"
exit 0
