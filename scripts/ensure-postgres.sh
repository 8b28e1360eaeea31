#!/bin/sh
# Start this machine's PostgreSQL when it is installed but not running, so that
# `make test` (and CI, which runs it in a fresh clone) can run the store tests on it.
HOST=${SOPFLOW_PG_HOST:-127.0.0.1}
PORT=${SOPFLOW_PG_PORT:-5432}
if command -v pg_isready >/dev/null 2>&1 && pg_isready -q -h "$HOST" -p "$PORT"; then
    exit 0
fi
if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    for version in $(ls /etc/postgresql); do
        pg_ctlcluster --skip-systemctl-redirect "$version" main start 2>/dev/null || true
    done
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        pg_isready -q -h "$HOST" -p "$PORT" && exit 0
        sleep 1
    done
fi
echo "PostgreSQL is not reachable on $HOST:$PORT; the store tests need it (see README)." >&2
exit 1
