#!/usr/bin/env bash
# Idempotent set-up of the hypervisor side for DBAAS_PROVIDER=libvirt (as root, Debian
# 12): qemu, libvirt and its Python binding in the virtualenv, and libvirtd running.
# `make setup` does not need any of it; `make setup-libvirt` (and `make test`) do.
# Without /dev/kvm, qemu emulates the CPU (TCG): it works, slowly.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(qemu-system-x86 qemu-utils libvirt-daemon libvirt-daemon-driver-qemu
              libvirt-clients libvirt-dev pkg-config genisoimage
              libxml2-utils)  # xmllint, for virt-xml-validate
URI=${DBAAS_LIBVIRT_URI:-qemu:///system}
QEMU_CONF=/etc/libvirt/qemu.conf

say() { echo "setup-libvirt: $*"; }

# shellcheck source=scripts/packages.sh
. scripts/packages.sh

python_binding() {
    .venv/bin/python -c "import libvirt, lxml" 2>/dev/null && return 0
    say "installing libvirt-python and lxml into .venv (community.libvirt needs them)"
    .venv/bin/pip install -q libvirt-python lxml
}

qemu_user() {
    # libvirt resolves its built-in qemu user at start, even when qemu.conf names
    # another (libvirt-daemon-system would create it; that package needs systemd).
    getent passwd libvirt-qemu >/dev/null && return 0
    say "creating the system user libvirt-qemu"
    useradd --system --user-group --no-create-home --home-dir /var/lib/libvirt \
        --shell /usr/sbin/nologin libvirt-qemu
}

qemu_as_root() {
    # The nodes' disks live in the service's data directory (0700, root's): qemu runs
    # as root to open them, rather than relabelling the directories for another user.
    grep -qsx 'user = "root"' "$QEMU_CONF" && return 0
    say "qemu runs as root ($QEMU_CONF)"
    printf '\n# dbaas: the nodes disks are in the service data directory (root only)\nuser = "root"\ngroup = "root"\n' >>"$QEMU_CONF"
    if [ -f /run/libvirtd.pid ] && kill -0 "$(cat /run/libvirtd.pid)" 2>/dev/null; then
        say "restarting libvirtd (pid $(cat /run/libvirtd.pid)) for the change"
        kill "$(cat /run/libvirtd.pid)"
        for _ in $(seq 50); do kill -0 "$(cat /run/libvirtd.pid 2>/dev/null)" 2>/dev/null || break; sleep 0.1; done
    fi
}

start_daemons() {
    # No systemd on this host: the daemons run detached, found again by their PID files
    # (the directories a packaged service would get from systemd, made here).
    mkdir -p /var/log/libvirt/qemu /var/lib/libvirt/qemu /var/cache/libvirt/qemu
    if ! { [ -f /run/virtlogd.pid ] && kill -0 "$(cat /run/virtlogd.pid)" 2>/dev/null; }; then
        say "starting virtlogd"
        virtlogd -d
    fi
    virsh -c "$URI" version >/dev/null 2>&1 && return 0
    say "starting libvirtd"
    libvirtd -d
    for _ in $(seq 100); do
        virsh -c "$URI" version >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    say "libvirtd does not answer at $URI"; exit 1
}

install_packages "${APT_PACKAGES[@]}"
python_binding
qemu_user
qemu_as_root
start_daemons
if [ -c /dev/kvm ] && grep -qw -e vmx -e svm /proc/cpuinfo; then
    say "ready ($URI, KVM)"
else
    say "ready ($URI, no hardware virtualisation: qemu emulates, slowly)"
fi
