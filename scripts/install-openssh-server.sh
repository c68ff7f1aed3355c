#!/usr/bin/env bash
# Installs Debian's openssh-server for the simulated ramdisks of the ansible deploy tests
# (Tests/Client/ssh_targets.py), without letting the package start a system sshd.
#
#   scripts/install-openssh-server.sh
#
# The tests run their own sshd processes on 127.0.0.1 and free ports; a system sshd on port 22
# of every address is exactly what must not appear. Debian's maintainer scripts start services
# through invoke-rc.d, which asks /usr/sbin/policy-rc.d first: exit status 101 means "do not".
# So the install runs under such a policy. A policy already in place (container images ship
# one) is left as it is; one written here is removed again afterwards, whatever happens.
#
# Afterwards it checks that no sshd listens that did not listen before, and fails naming it if
# one does. Idempotent: with the package installed it only runs that check.
set -euo pipefail

POLICY=/usr/sbin/policy-rc.d
MARKER="# written by swift-ironic scripts/install-openssh-server.sh"

log() { printf 'install-openssh-server: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO=sudo; fi

# PIDs of processes named sshd that listen on a TCP socket, one a line.
listening_sshd() {
    ss -Hltnp 2>/dev/null | grep -o '("sshd",pid=[0-9]*' | sed 's/.*pid=//' | sort -u || true
}

before="$(listening_sshd)"

if dpkg -s openssh-server >/dev/null 2>&1; then
    log "openssh-server already installed ($(dpkg-query -W -f='${Version}' openssh-server))"
else
    wrote_policy=""
    if [ -e "$POLICY" ]; then
        log "keeping the existing $POLICY"
    else
        printf '#!/bin/sh\n%s\n# Forbid starting services while openssh-server installs.\nexit 101\n' "$MARKER" \
            | $SUDO tee "$POLICY" >/dev/null
        $SUDO chmod 0755 "$POLICY"
        wrote_policy=yes
        log "wrote $POLICY (no service may start during the install)"
    fi
    remove_policy() {
        if [ -n "$wrote_policy" ] && grep -qF "$MARKER" "$POLICY" 2>/dev/null; then
            $SUDO rm -f "$POLICY"
            log "removed $POLICY again"
        fi
    }
    trap remove_policy EXIT
    log "installing openssh-server with apt-get"
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openssh-server >/dev/null
    remove_policy
    trap - EXIT
    log "installed openssh-server $(dpkg-query -W -f='${Version}' openssh-server)"
fi

[ -x /usr/sbin/sshd ] || die "/usr/sbin/sshd is missing after the install"

after="$(listening_sshd)"
new=""
for pid in $after; do
    if ! printf '%s\n' "$before" | grep -qx "$pid"; then new="$new $pid"; fi
done
if [ -n "$new" ]; then
    ss -Hltnp 2>/dev/null | grep '"sshd"' >&2 || true
    die "an sshd we did not start is listening (pid$new); stop it (e.g. 'systemctl disable --now ssh') before running the tests"
fi
if [ -n "$after" ]; then
    log "note: sshd already listened before this script ran (pid $(echo $after)); left alone"
fi
log "ok: no sshd listening that this script started"
