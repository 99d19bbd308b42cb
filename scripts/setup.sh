#!/usr/bin/env bash
# Idempotent set-up of a Debian 12 host (as root) for dbaas: Debian packages, the
# virtualenv, Redis, the local PostgreSQL the tests use, and the schema.
# Every step checks before it acts, so running it again costs a second or two.
set -euo pipefail
cd "$(dirname "$0")/.."

DATA_DIR=${DBAAS_DATA_DIR:-$PWD/.data}
APT_PACKAGES=(python3 python3-venv python3-dev gcc curl jq openssh-client redis-server redis-tools
              postgresql postgresql-client
              # the nspawn lab: root images, nodes, their disks and network
              debootstrap systemd-container iproute2 util-linux e2fsprogs
              # isolation of the lab's instances from each other (the bridge's filter)
              nftables
              # `vagrant validate` of the Vagrantfile (the VMs themselves need a hypervisor)
              vagrant vagrant-libvirt)

say() { echo "setup: $*"; }

# shellcheck source=scripts/packages.sh
. scripts/packages.sh

python_env() {
    [ -x .venv/bin/python ] || { say "creating .venv"; python3 -m venv .venv; }
    local stamp=.venv/.dbaas-installed
    if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
        say "installing Python packages"
        .venv/bin/pip install -q -e '.[test]'
        touch "$stamp"
    fi
}

# What the Redis on 127.0.0.1:6379 answers to PING: PONG, NOAUTH ... or nothing. The
# password goes in the environment, never on a command line.
redis_ping() {
    if [ -n "${1:-}" ]; then
        REDISCLI_AUTH=$1 redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null
    else
        redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null
    fi
}

start_redis() {
    # RQ loads pickles from Redis: it listens on loopback only, with a generated
    # password (kept 0600 in the data dir; the API and the worker read it from there).
    local dir=$DATA_DIR/redis
    mkdir -p -m 700 "$dir"; chmod 700 "$dir"
    if [ -n "${DBAAS_REDIS_URL:-}" ]; then
        redis-cli -u "$DBAAS_REDIS_URL" ping 2>/dev/null | grep -q PONG && return 0
        say "Redis at DBAAS_REDIS_URL does not answer; start it or fix DBAAS_REDIS_URL"; exit 1
    fi
    [ -s "$dir/password" ] || (umask 077; .venv/bin/python -c \
        'import secrets; print(secrets.token_urlsafe(32))' > "$dir/password")
    local password
    password=$(cat "$dir/password")
    case "$(redis_ping)" in
    PONG)
        # It answers without a password. Ours (its PID file is in our data dir), from
        # before the password: restart it with one. Anyone else's: not ours to touch.
        local pid
        pid=$(cat "$dir/redis.pid" 2>/dev/null || true)
        if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then
            say "a Redis without a password answers on 127.0.0.1:6379 and is not ours:"
            say "stop it, or give its URL (with a password) in DBAAS_REDIS_URL"; exit 1
        fi
        say "restarting our Redis (pid $pid) with a password"
        kill "$pid"
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done ;;
    NOAUTH*)
        [ "$(redis_ping "$password")" = PONG ] && return 0
        say "a Redis with another password answers on 127.0.0.1:6379 (another data dir's?):"
        say "stop it, or give its URL in DBAAS_REDIS_URL"; exit 1 ;;
    esac
    (umask 077; cat > "$dir/redis.conf" <<CONF
# Managed by dbaas (scripts/setup.sh)
bind 127.0.0.1 -::1
protected-mode yes
port 6379
dir $dir
appendonly yes
pidfile $dir/redis.pid
logfile $dir/redis.log
daemonize yes
requirepass $password
CONF
    )
    say "starting Redis on 127.0.0.1:6379 (data in $dir, password in $dir/password)"
    redis-server "$dir/redis.conf"
    for _ in $(seq 50); do
        [ "$(redis_ping "$password")" = PONG ] && return 0
        sleep 0.1
    done
    say "Redis did not start; see $dir/redis.log"; exit 1
}

start_postgresql() {
    # The API test suite runs on PostgreSQL too, against the Debian cluster.
    local version cluster port status
    if ! pg_lsclusters -h | grep -q .; then
        version=$(ls /usr/lib/postgresql | sort -V | tail -1)
        say "creating PostgreSQL cluster $version/main"
        pg_createcluster "$version" main >/dev/null
    fi
    read -r version cluster port status _ < <(pg_lsclusters -h | head -1)
    if [ "$status" != online ]; then
        say "starting PostgreSQL $version/$cluster on port $port"
        pg_ctlcluster "$version" "$cluster" start
    fi
    if ! runuser -u postgres -- psql -p "$port" -tAc \
            "SELECT 1 FROM pg_roles WHERE rolname = 'root'" | grep -q 1; then
        say "creating PostgreSQL role root (peer authentication, for the tests)"
        runuser -u postgres -- createuser -p "$port" --superuser root
    fi
}

service_ssh_key() {
    # The key the service logs in to lab nodes with: made once, kept with the data.
    local key=$DATA_DIR/ssh/id_ed25519
    [ -f "$key" ] && return 0
    say "creating the service's SSH key $key"
    mkdir -p -m 700 "$DATA_DIR/ssh"
    ssh-keygen -q -t ed25519 -N "" -C "dbaas service" -f "$key"
}

secret_key() {
    # Encrypts instances' internal credentials at rest; kept out of the database.
    [ -n "${DBAAS_SECRET_KEY:-}${DBAAS_SECRET_KEY_FILE:-}" ] || [ -f "$DATA_DIR/secret.key" ] && return 0
    say "creating the secret key $DATA_DIR/secret.key"
    (umask 077; .venv/bin/python -c \
        'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())' \
        > "$DATA_DIR/secret.key")
}

install_packages "${APT_PACKAGES[@]}"
python_env
# The data dir holds the secret key, the SSH key, Redis' password and the metadata:
# its owner's only.
mkdir -p "$DATA_DIR"
chmod 700 "$DATA_DIR"
service_ssh_key
secret_key
start_redis
start_postgresql
# Quiet when it works; when it fails, what it said.
if ! migrated=$(DBAAS_DATA_DIR=$DATA_DIR .venv/bin/dbaas db upgrade 2>&1); then
    printf '%s\n' "$migrated" >&2
    say "the schema migration failed (above)"; exit 1
fi
chmod 600 "$DATA_DIR"/dbaas.db* 2>/dev/null || true
# The root CA: clients verify the nodes' certificates with it.
DBAAS_DATA_DIR=$DATA_DIR .venv/bin/dbaas ca init
say "ready (data in $DATA_DIR)"
