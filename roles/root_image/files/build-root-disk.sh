#!/bin/sh
# The root image as a bootable disk for virtual machines, from the image directory:
# the same tree plus a kernel, cloud-init (reads the node's NoCloud seed) and ifupdown
# (cloud-init's network output on Debian), as an ext4 filesystem in a qcow2 file, with
# the kernel and initrd beside it for direct kernel boot. Atomic, under a lock.
# Usage: build-root-disk.sh CACHE_DIR IMAGE STAMP SIZE_GB
# (managed by dbaas: roles/root_image)
set -eu
cache=$1 image=$2 stamp=$3 size=$4
source=$cache/$image
target=$cache/$image.disk
exec 9>"$cache/.$image.disk.lock"
flock 9
if [ -f "$target/stamp" ] && [ "$(cat "$target/stamp")" = "$stamp" ]; then
    echo "unchanged"
    exit 0
fi
work=$cache/.$image.disk.building
log=$cache/$image.disk.log
rm -rf "$work"
mkdir -p "$work"
cp -a "$source" "$work/root"
# apt runs inside the copy (the host's network reaches the Debian mirror).
systemd-nspawn -q --register=no --keep-unit --resolv-conf=copy-host -D "$work/root" \
    --setenv=DEBIAN_FRONTEND=noninteractive sh -c '
        apt-get update -qq &&
        apt-get install -y -qq --no-install-recommends linux-image-cloud-amd64 cloud-init ifupdown &&
        apt-get clean && rm -rf /var/lib/apt/lists/*' >"$log" 2>&1 \
    || { echo "installing the kernel failed; see $log" >&2; exit 1; }
root=$work/root
printf '/dev/vda / ext4 errors=remount-ro 0 1\n' >"$root/etc/fstab"
# ifupdown brings the seed's address up; systemd-networkd (the containers' way) would
# only hold the boot in wait-online for two minutes.
systemctl --root="$root" disable systemd-networkd.service systemd-networkd-wait-online.service \
    systemd-networkd.socket >/dev/null 2>&1 || true
# The seed is the only data source: no probing of cloud metadata services at boot.
printf 'datasource_list: [ NoCloud, None ]\n' >"$root/etc/cloud/cloud.cfg.d/90-dbaas.cfg"
: >"$root/etc/machine-id"
cp -L "$root/vmlinuz" "$work/vmlinuz"
cp -L "$root/initrd.img" "$work/initrd.img"
truncate -s "${size}G" "$work/root.raw"
mkfs.ext4 -q -L root -d "$root" "$work/root.raw" >>"$log" 2>&1
qemu-img convert -O qcow2 "$work/root.raw" "$work/root.qcow2"
rm -rf "$work/root" "$work/root.raw"
echo "$stamp" >"$work/stamp"
rm -rf "$target.old"
[ -d "$target" ] && mv "$target" "$target.old"
mv "$work" "$target"
rm -rf "$target.old"
echo "built"
