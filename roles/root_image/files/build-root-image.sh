#!/bin/sh
# Build one root image directory with debootstrap, atomically and under a lock.
# Usage: build-root-image.sh CACHE_DIR IMAGE SUITE MIRROR STAMP PACKAGES
# (managed by dbaas: roles/root_image)
set -eu
cache=$1 image=$2 suite=$3 mirror=$4 stamp=$5 packages=$6
target=$cache/$image
mkdir -p "$cache"
exec 9>"$cache/.$image.lock"
flock 9
# Another job may have built it while this one waited for the lock.
if [ -f "$target.stamp" ] && [ "$(cat "$target.stamp")" = "$stamp" ] && [ -d "$target" ]; then
    echo "unchanged"
    exit 0
fi
work=$cache/.$image.building
rm -rf "$work"
debootstrap --variant=minbase --include="$packages" "$suite" "$work" "$mirror" >"$cache/$image.build.log" 2>&1 \
    || { echo "debootstrap failed; see $cache/$image.build.log" >&2; exit 1; }

# Patroni owns PostgreSQL: no default cluster, and nothing starts before its
# configuration is written (the node enables its units then).
rm -rf "$work"/etc/postgresql/*/main "$work"/var/lib/postgresql/*/main
for unit in postgresql.service etcd.service patroni.service; do
    systemctl --root="$work" disable "$unit" >/dev/null 2>&1 || true
done
systemctl --root="$work" enable systemd-networkd.service ssh.service >/dev/null 2>&1
# Per-node identity is made at first boot or by the node role, never shared.
rm -f "$work"/etc/ssh/ssh_host_*
: >"$work/etc/machine-id"
rm -rf "$work"/var/cache/apt/archives/*.deb "$work"/var/lib/apt/lists/*

rm -rf "$target.old"
[ -d "$target" ] && mv "$target" "$target.old"
mv "$work" "$target"
rm -rf "$target.old"
echo "$stamp" >"$target.stamp"
echo "built"
