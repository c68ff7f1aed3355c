#!/usr/bin/env bash
# Create (or refresh) the Python virtualenv used by the client-compatibility
# tests in Tests/Client: the real `baremetal` CLI (python-ironicclient),
# openstacksdk and pytest, pinned in Tests/Client/requirements.txt.
#
# Usage (from anywhere):  Tests/Client/setup-venv.sh
#   VENV=path    where the venv goes; relative paths are taken from the repo
#                root (default: .venv)
#   PYTHON=cmd   interpreter used to create the venv (default: python3)
#
# Idempotent: when the venv exists and requirements.txt (and the interpreter)
# have not changed since the last successful install, nothing is reinstalled.
# On a fresh Debian/Ubuntu machine it installs python3 / python3-venv with
# apt-get when they are missing (as root, or through sudo).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "$here/../.." && pwd)"
requirements="$here/requirements.txt"
python="${PYTHON:-python3}"

venv="${VENV:-.venv}"
case "$venv" in
    /*) ;;
    *) venv="$repo_root/$venv" ;;
esac
stamp="$venv/.requirements.stamp"

log() { printf 'setup-venv: %s\n' "$*" >&2; }

apt_install() {
    if ! command -v apt-get >/dev/null 2>&1; then
        log "missing $*; no apt-get here, install it by hand"
        exit 1
    fi
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then
            sudo="sudo"
        else
            log "missing $*; not root and no sudo, install it by hand"
            exit 1
        fi
    fi
    log "installing $* with apt-get"
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# 1. An interpreter that can make venvs with pip in them.  Debian splits
#    ensurepip out of the standard library into python3-venv, so
#    `import venv` alone is not enough.
if ! command -v "$python" >/dev/null 2>&1; then
    apt_install python3 python3-venv
fi
if ! "$python" -c 'import venv, ensurepip' >/dev/null 2>&1; then
    # python3-venv is the generic package; python3.X-venv is what it pulls in.
    pyver="$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
    apt_install python3-venv "python${pyver}-venv"
fi

# 2. The venv itself; recreate it when it is broken (e.g. an earlier run was
#    interrupted, or the interpreter it pointed at went away).
if [ -d "$venv" ] && ! "$venv/bin/python" -m pip --version >/dev/null 2>&1; then
    log "existing venv at $venv is unusable; recreating it"
    rm -rf "$venv"
fi
if [ ! -d "$venv" ]; then
    log "creating venv at $venv"
    "$python" -m venv "$venv"
fi

# 3. Requirements, unless they are already installed from this exact file.
want="$( { cat "$requirements"; "$venv/bin/python" -c 'import sys; print(sys.version)'; } | sha256sum | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    log "requirements unchanged; venv at $venv is up to date"
    exit 0
fi
log "installing $(basename "$requirements") into $venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
# Prove the entry points are there before declaring success.
"$venv/bin/baremetal" --version >/dev/null
"$venv/bin/python" -c 'import openstack, ironicclient, pytest, websocket'
printf '%s\n' "$want" >"$stamp"
log "done: $venv"
