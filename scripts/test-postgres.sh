#!/usr/bin/env bash
# A throwaway PostgreSQL server for the store tests, under var/test-postgres/ (gitignored).
#
#   scripts/test-postgres.sh start    initdb on first use, then start on 127.0.0.1 and a free port (idempotent)
#   scripts/test-postgres.sh stop     stop this server (pg_ctl on this data directory only)
#   scripts/test-postgres.sh status   exit 0 when this server runs
#   scripts/test-postgres.sh url      print its superuser URL, for IRONIC_TEST_POSTGRES_URL
#   scripts/test-postgres.sh with CMD...
#                                     start (unless already running), run CMD with IRONIC_TEST_POSTGRES_URL
#                                     set, stop again if this call started it; exits with CMD's status
#
# It uses Debian's /usr/lib/postgresql/<version>/bin (package `postgresql`, see `make deps`) and
# never touches another PostgreSQL server on the machine. PostgreSQL refuses to run as root: as
# root, the server runs as the `postgres` system user (created by the Debian package), which owns
# the data directory. Override the directory with IRONIC_TEST_POSTGRES_DIR.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DIR="${IRONIC_TEST_POSTGRES_DIR:-$ROOT/var/test-postgres}"
DATA="$DIR/data"
SOCKETS="$DIR/socket"
LOG="$DIR/server.log"
SUPERUSER=ironic_test

die() { echo "test-postgres: $*" >&2; exit 1; }

bindir() {
    local dir
    dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
    [ -n "$dir" ] && [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ] \
        || die "no PostgreSQL server binaries under /usr/lib/postgresql/*/bin; run 'make deps' (Debian package postgresql)"
    echo "$dir"
}

# Runs a command as the user that owns the cluster: `postgres` when we are root, ourselves otherwise.
as_owner() {
    if [ "$(id -u)" = 0 ]; then
        id postgres >/dev/null 2>&1 || die "running as root needs the 'postgres' system user (Debian package postgresql)"
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

running() {
    [ -f "$DATA/PG_VERSION" ] && as_owner "$(bindir)/pg_ctl" -D "$DATA" status >/dev/null 2>&1
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

init_cluster() {
    local bin="$1"
    mkdir -p "$DIR"
    local password
    password="$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')"
    rm -rf "$DATA" "$SOCKETS"
    mkdir -p "$SOCKETS"
    umask 077
    printf '%s\n' "$password" > "$DIR/password"
    printf '%s\n' "$password" > "$DIR/pwfile"
    if [ "$(id -u)" = 0 ]; then
        chown -R postgres: "$DIR"
        runuser -u postgres -- test -w "$DIR" \
            || die "the postgres user cannot reach $DIR (a parent directory is private); set IRONIC_TEST_POSTGRES_DIR to a directory it can reach"
    fi
    as_owner "$bin/initdb" -D "$DATA" -U "$SUPERUSER" --pwfile="$DIR/pwfile" -E UTF8 --locale=C.UTF-8 \
        --auth-local=scram-sha-256 --auth-host=scram-sha-256 >"$DIR/initdb.log" 2>&1 \
        || { cat "$DIR/initdb.log" >&2; die "initdb failed"; }
    rm -f "$DIR/pwfile"
}

start() {
    if running; then return 0; fi
    local bin
    bin="$(bindir)"
    [ -f "$DATA/PG_VERSION" ] && [ -f "$DIR/password" ] || init_cluster "$bin"
    local attempt port
    for attempt in 1 2 3; do
        port="$(free_port)"
        # Throwaway data: durability settings off for speed; connections for parallel tests.
        if as_owner "$bin/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 start -o "\
-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$SOCKETS \
-c max_connections=300 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" >/dev/null; then
            echo "$port" > "$DIR/port"
            echo "test-postgres: running on 127.0.0.1:$port (data in $DATA)"
            return 0
        fi
        echo "test-postgres: start attempt $attempt failed; see $LOG" >&2
    done
    tail -n 20 "$LOG" >&2 || true
    die "could not start PostgreSQL"
}

stop() {
    if running; then
        as_owner "$(bindir)/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null
        echo "test-postgres: stopped"
    fi
}

url() {
    running || die "not running; start it with 'make postgres-up' (scripts/test-postgres.sh start)"
    echo "postgresql://$SUPERUSER:$(cat "$DIR/password")@127.0.0.1:$(cat "$DIR/port")/postgres?sslmode=disable"
}

with() {
    [ "$#" -gt 0 ] || die "usage: $0 with COMMAND..."
    local started=""
    if ! running; then
        start
        started=1
    fi
    local status=0
    if [ -n "$started" ]; then
        # Stop even when the command fails or we are interrupted.
        trap 'stop' EXIT
        trap 'exit 130' INT TERM
    fi
    IRONIC_TEST_POSTGRES_URL="$(url)" "$@" || status=$?
    return "$status"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) running ;;
    url) url ;;
    with) shift; with "$@" ;;
    *) die "usage: $0 start|stop|status|url|with COMMAND..." ;;
esac
