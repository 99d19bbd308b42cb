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

(umask 077; touch "$DATA_DIR/api.log" "$DATA_DIR/worker.log"; chmod 600 "$DATA_DIR"/*.log)
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
Admin token (also in $TOKEN_FILE): $TOKEN

Try it, in another shell (the same with curl: README.md):

  export DBAAS_URL=$URL DBAAS_TOKEN=$TOKEN PATH=$PWD/.venv/bin:\$PATH
  I=\$(dbaas instances create --name demo --version "PostgreSQL 15" --nodes 3 --sync 1 | jq -r .uuid)
  dbaas instances wait \$I
  DBAAS_USER_PASSWORD=app-Secret-1 dbaas users create \$I --name app --wait >/dev/null
  dbaas databases create \$I --name app_db --owner app --wait >/dev/null
  PGPASSWORD=app-Secret-1 psql "\$(dbaas instances uri \$I --user app --database app_db)" -c 'select inet_server_addr()'
  dbaas instances delete \$I --wait

The first instance also builds the root image (about a minute, once; progress in
GET /v1/postgres/instances/<uuid>/operations and in $DATA_DIR/worker.log).

Ctrl-C stops the API and the worker.
INFO
# Until Ctrl-C, or until one of them stops (then the EXIT trap stops the other).
wait -n "$API_PID" "$WORKER_PID" || true
