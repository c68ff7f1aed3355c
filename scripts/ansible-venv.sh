#!/usr/bin/env bash
# Creates (or refreshes) a Python venv with the conductor's Ansible: ansible-core and
# ansible-lint from PyPI, pinned in Playbooks/requirements.txt.
#
#   scripts/ansible-venv.sh DIR       e.g. scripts/ansible-venv.sh var/ansible-venv
#   PYTHON=cmd                        interpreter that creates the venv (default: python3)
#
# DIR/bin/ansible-playbook is then what [ansible] ansible_playbook_script names.
# Idempotent: when DIR holds an install of this exact requirements file by this interpreter,
# nothing is installed again. Relative paths start at the repository root. It says what it did
# on standard error.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REQUIREMENTS="$ROOT/Playbooks/requirements.txt"
PYTHON="${PYTHON:-python3}"

log() { printf 'ansible-venv: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }
# The first line a command prints (read whole, so the command never writes into a closed pipe).
first_line() { local out; out="$(PATH="$venv/bin:$PATH" "$@" 2>&1)"; printf '%s' "${out%%$'\n'*}"; }

[ $# -eq 1 ] || die "usage: $0 DIR"
venv="$1"
case "$venv" in /*) ;; *) venv="$ROOT/$venv" ;; esac
stamp="$venv/.ansible-requirements.stamp"

command -v "$PYTHON" >/dev/null 2>&1 || die "no $PYTHON on PATH (set PYTHON)"
"$PYTHON" -c 'import venv, ensurepip' >/dev/null 2>&1 \
    || die "$PYTHON cannot make venvs with pip (Debian: apt-get install python3-venv)"

# A venv whose interpreter went away, or an interrupted first run, is made anew.
if [ -d "$venv" ] && ! "$venv/bin/python" -m pip --version >/dev/null 2>&1; then
    log "the venv at $venv is unusable; recreating it"
    rm -rf "$venv"
fi
if [ ! -d "$venv" ]; then
    log "creating a venv at $venv with $("$PYTHON" -c 'import sys; print(sys.executable, sys.version.split()[0])')"
    "$PYTHON" -m venv "$venv"
fi

want="$( { cat "$REQUIREMENTS"; "$venv/bin/python" -c 'import sys; print(sys.version)'; } | sha256sum | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] \
    && [ -x "$venv/bin/ansible-playbook" ] && [ -x "$venv/bin/ansible-lint" ]; then
    log "up to date: $venv ($(first_line "$venv/bin/ansible-playbook" --version))"
    exit 0
fi

log "installing $(grep -v '^#' "$REQUIREMENTS" | grep . | tr '\n' ' ')into $venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQUIREMENTS"
# The entry points must answer before the install counts.
"$venv/bin/ansible-playbook" --version >/dev/null
PATH="$venv/bin:$PATH" "$venv/bin/ansible-lint" --nocolor --version >/dev/null
printf '%s\n' "$want" >"$stamp"
log "installed: $(first_line "$venv/bin/ansible-playbook" --version); $(first_line "$venv/bin/ansible-lint" --nocolor --version)"
