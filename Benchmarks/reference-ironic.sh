#!/usr/bin/env bash
# The reference: upstream OpenStack Ironic from PyPI, run the way bench.py runs
# swift-ironic -- one all-in-one `ironic` service (API embedded in the
# conductor), fake-hardware, noauth, SQLite, no RPC bus (rpc_transport = none,
# so no JSON-RPC and no message queue), listening on 127.0.0.1 only.
#
# Usage:
#   Benchmarks/reference-ironic.sh setup
#       Create or refresh the venv (default <repo>/.venv-ironic-ref) with
#       ironic==$IRONIC_VERSION. Idempotent: does nothing when it is already
#       installed.
#   Benchmarks/reference-ironic.sh serve [--port PORT] [--workdir DIR]
#       Write ironic.conf into DIR (default: a new temp dir), create the
#       SQLite schema, then exec the `ironic` service in the foreground on
#       127.0.0.1:PORT (default: a free port). Because of the exec, the PID
#       that started this script is the service's master process; it forks
#       one worker. SIGTERM to the master stops both.
#   Benchmarks/reference-ironic.sh
#       setup, then serve on a free port in a temp dir (for trying it by hand).
#
# Environment:
#   REF_VENV        venv location (default <repo>/.venv-ironic-ref)
#   IRONIC_VERSION  the PyPI release to install (default 39.0.0)
#   PYTHON          interpreter for the venv (default python3; Ironic 39
#                   needs Python >= 3.11)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "$here/.." && pwd)"
venv="${REF_VENV:-$repo_root/.venv-ironic-ref}"
version="${IRONIC_VERSION:-39.0.0}"
python="${PYTHON:-python3}"
stamp="$venv/.ironic-ref.stamp"

log() { printf 'reference-ironic: %s\n' "$*" >&2; }

free_port() {
    "$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

setup() {
    if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
        log "ironic $version needs Python >= 3.11; $python is $("$python" -V 2>&1)"
        exit 1
    fi
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$version" ] && [ -x "$venv/bin/ironic" ]; then
        log "ironic $version already installed in $venv"
        return
    fi
    if [ -d "$venv" ] && ! "$venv/bin/python" -m pip --version >/dev/null 2>&1; then
        log "existing venv at $venv is unusable; recreating it"
        rm -rf "$venv"
    fi
    [ -d "$venv" ] || { log "creating venv at $venv"; "$python" -m venv "$venv"; }
    log "installing ironic==$version into $venv (a few minutes the first time)"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "ironic==$version"
    "$venv/bin/python" -c 'import ironic.command.singleprocess'
    printf '%s\n' "$version" >"$stamp"
    log "done: $venv"
}

serve() {
    local port="" workdir=""
    while [ $# -gt 0 ]; do
        case "$1" in
            --port) port="$2"; shift 2 ;;
            --workdir) workdir="$2"; shift 2 ;;
            *) log "unknown argument: $1"; exit 2 ;;
        esac
    done
    [ -x "$venv/bin/ironic" ] || { log "no ironic in $venv; run '$0 setup' first"; exit 1; }
    [ -n "$port" ] || port="$(free_port)"
    [ -n "$workdir" ] || workdir="$(mktemp -d -t ironic-ref.XXXXXX)"
    mkdir -p "$workdir/locks"
    workdir="$(cd "$workdir" && pwd)"

    # Interfaces: fake-hardware's own fakes (or the no-op ones), so no deploy
    # step touches images, DHCP, PXE or a BMC -- the same work swift-ironic's
    # fake-hardware does.
    cat >"$workdir/ironic.conf" <<EOF
[DEFAULT]
host = reference-conductor
auth_strategy = noauth
rpc_transport = none
enabled_hardware_types = fake-hardware
enabled_bios_interfaces = no-bios,fake
enabled_boot_interfaces = fake
enabled_console_interfaces = no-console,fake
enabled_deploy_interfaces = fake
enabled_firmware_interfaces = no-firmware,fake
enabled_inspect_interfaces = no-inspect,fake
enabled_management_interfaces = fake
enabled_network_interfaces = noop
enabled_power_interfaces = fake
enabled_raid_interfaces = no-raid,fake
enabled_rescue_interfaces = no-rescue,fake
enabled_storage_interfaces = noop
enabled_vendor_interfaces = no-vendor,fake
use_stderr = true

[api]
host_ip = 127.0.0.1
port = $port
max_limit = 1000

[database]
connection = sqlite:///$workdir/ironic.sqlite

[conductor]
heartbeat_interval = 5
automated_clean = false

[dhcp]
dhcp_provider = none

[oslo_concurrency]
lock_path = $workdir/locks
EOF
    "$venv/bin/ironic-dbsync" --config-file "$workdir/ironic.conf" create_schema >"$workdir/dbsync.log" 2>&1 \
        || { log "ironic-dbsync failed; see $workdir/dbsync.log"; exit 1; }
    log "ironic $version on http://127.0.0.1:$port (workdir $workdir)"
    cd "$workdir"
    exec "$venv/bin/ironic" --config-file "$workdir/ironic.conf"
}

case "${1:-}" in
    setup) setup ;;
    serve) shift; serve "$@" ;;
    "") setup; serve ;;
    *) log "usage: $0 [setup | serve [--port PORT] [--workdir DIR]]"; exit 2 ;;
esac
