#!/usr/bin/env bash
# Idempotent set-up of a Debian 12 host (as root) for dbaas: Debian packages, the
# virtualenv, Redis, the local PostgreSQL the tests use, and the schema.
# Every step checks before it acts, so running it again costs a second or two.
set -euo pipefail
cd "$(dirname "$0")/.."

DATA_DIR=${DBAAS_DATA_DIR:-$PWD/.data}
REDIS_URL=${DBAAS_REDIS_URL:-redis://127.0.0.1:6379/0}
APT_PACKAGES=(python3 python3-venv python3-dev gcc curl jq openssh-client redis-server redis-tools
              postgresql postgresql-client
              # the nspawn lab: root images, nodes, their disks and network
              debootstrap systemd-container iproute2 util-linux e2fsprogs
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

start_redis() {
    redis-cli -u "$REDIS_URL" ping >/dev/null 2>&1 && return 0
    case "$REDIS_URL" in
        redis://127.0.0.1:6379*|redis://localhost:6379*) ;;
        *) say "Redis at $REDIS_URL does not answer; start it or fix DBAAS_REDIS_URL"; exit 1 ;;
    esac
    say "starting Redis on 127.0.0.1:6379 (data in $DATA_DIR/redis)"
    mkdir -p "$DATA_DIR/redis"
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 \
        --dir "$DATA_DIR/redis" --appendonly yes \
        --pidfile "$DATA_DIR/redis/redis.pid" --logfile "$DATA_DIR/redis/redis.log"
    for _ in $(seq 50); do
        redis-cli -u "$REDIS_URL" ping >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    say "Redis did not start; see $DATA_DIR/redis/redis.log"; exit 1
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
    [ -n "${DBAAS_SECRET_KEY:-}" ] || [ -f "$DATA_DIR/secret.key" ] && return 0
    say "creating the secret key $DATA_DIR/secret.key"
    (umask 077; .venv/bin/python -c \
        'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())' \
        > "$DATA_DIR/secret.key")
}

install_packages "${APT_PACKAGES[@]}"
python_env
mkdir -p "$DATA_DIR"
service_ssh_key
secret_key
start_redis
start_postgresql
DBAAS_DATA_DIR=$DATA_DIR .venv/bin/dbaas db upgrade 2>/dev/null
say "ready (data in $DATA_DIR)"
