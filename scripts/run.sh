#!/usr/bin/env bash
# `make run`: the API and a worker in the foreground; Ctrl-C stops both (by PID).
set -euo pipefail
cd "$(dirname "$0")/.."

DATA_DIR=${DBAAS_DATA_DIR:-$PWD/.data}
HOST=${DBAAS_HOST:-127.0.0.1}
PORT=${DBAAS_PORT:-8080}
export DBAAS_DATA_DIR=$DATA_DIR
TOKEN_FILE=$DATA_DIR/admin.token

# One admin token per data directory, kept 0600 and shown at every start.
if [ ! -s "$TOKEN_FILE" ]; then
    (umask 077; .venv/bin/dbaas token create --admin --description "make run" 2>/dev/null \
        | tail -1 > "$TOKEN_FILE")
fi
TOKEN=$(cat "$TOKEN_FILE")

.venv/bin/dbaas serve --host "$HOST" --port "$PORT" >>"$DATA_DIR/api.log" 2>&1 &
API_PID=$!
.venv/bin/dbaas worker >>"$DATA_DIR/worker.log" 2>&1 &
WORKER_PID=$!
stop() {
    trap - INT TERM EXIT
    echo; echo "stopping API ($API_PID) and worker ($WORKER_PID); logs in $DATA_DIR"
    kill "$API_PID" "$WORKER_PID" 2>/dev/null || true
    wait "$API_PID" "$WORKER_PID" 2>/dev/null || true
}
trap stop INT TERM EXIT

URL=http://$HOST:$PORT
for _ in $(seq 100); do
    curl -fsS -o /dev/null "$URL/openapi.json" 2>/dev/null && break
    kill -0 "$API_PID" 2>/dev/null || { echo "the API did not start; see $DATA_DIR/api.log"; exit 1; }
    sleep 0.2
done

cat <<INFO

dbaas is running: API $URL (docs: $URL/docs), logs in $DATA_DIR/{api,worker}.log
Admin token (also in $TOKEN_FILE):

  export DBAAS_URL=$URL DBAAS_TOKEN=$TOKEN

Try it (README.md has the whole walk-through: instance, user, database, psql):

  curl -s -H "Authorization: Bearer \$DBAAS_TOKEN" \$DBAAS_URL/v1/types/postgres/versions

The first instance also builds the root image (about a minute, once; progress in
GET /v1/postgres/instances/<uuid>/operations and in $DATA_DIR/worker.log).

Ctrl-C stops the API and the worker.
INFO
# Until Ctrl-C, or until one of them stops (then the EXIT trap stops the other).
wait -n "$API_PID" "$WORKER_PID" || true
