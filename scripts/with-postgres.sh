#!/usr/bin/env bash
# Runs a command with a throwaway PostgreSQL server: initialises a cluster in a temporary
# directory, starts it on a free port on 127.0.0.1, exports LOOPWISE_TEST_POSTGRES_URL for the
# command, and stops and removes the server afterwards, whatever the command's outcome.
#
#   scripts/with-postgres.sh cargo test --workspace
#
# Needs initdb, pg_ctl and postgres (Debian: the postgresql package). As root, the server runs as
# the postgres user, because PostgreSQL refuses to run as root.
set -euo pipefail

if [ "$#" -eq 0 ]; then
    echo "usage: $0 COMMAND [ARGUMENTS...]" >&2
    exit 2
fi

find_tool() {
    if command -v "$1" >/dev/null 2>&1; then
        command -v "$1"
        return
    fi
    local candidate
    candidate=$(ls -1d /usr/lib/postgresql/*/bin/"$1" 2>/dev/null | sort -V | tail -n 1 || true)
    if [ -n "$candidate" ]; then
        echo "$candidate"
        return
    fi
    echo "$0: $1 not found; install PostgreSQL (Debian: apt-get install postgresql)" >&2
    exit 2
}

INITDB=$(find_tool initdb)
PG_CTL=$(find_tool pg_ctl)

directory=$(mktemp -d "${TMPDIR:-/tmp}/loopwise-postgres.XXXXXX")
as_server_user=()
if [ "$(id -u)" = 0 ]; then
    chown postgres: "$directory"
    as_server_user=(runuser -u postgres --)
fi

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

cleanup() {
    "${as_server_user[@]}" "$PG_CTL" -D "$directory/data" -m fast -w stop >/dev/null 2>&1 || true
    rm -rf "$directory"
}
trap cleanup EXIT

"${as_server_user[@]}" "$INITDB" -D "$directory/data" -U postgres -A trust -E UTF8 --no-sync >"$directory/initdb.log" 2>&1 \
    || { cat "$directory/initdb.log" >&2; exit 1; }
"${as_server_user[@]}" "$PG_CTL" -D "$directory/data" -l "$directory/server.log" -w -t 60 \
    -o "-p $port -c listen_addresses=127.0.0.1 -k $directory -c max_connections=300 -c fsync=off" start >/dev/null \
    || { cat "$directory/server.log" >&2; exit 1; }

export LOOPWISE_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$port/postgres"
echo "== PostgreSQL $("${as_server_user[@]}" "$PG_CTL" --version | awk "{print \$3}") at $LOOPWISE_TEST_POSTGRES_URL" >&2
status=0
"$@" || status=$?
exit "$status"
