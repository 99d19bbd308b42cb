#!/bin/sh
# Build a cached form of a root image, atomically and under a lock:
#   build-root.sh image CACHE_DIR IMAGE STAMP SUITE MIRROR PACKAGES [WHEEL_DIR]
#     the image directory, with debootstrap (and the wheels of WHEEL_DIR, PyPI packages
#     the suite lacks, installed with the image's pip): nspawn nodes boot it as it is;
#   build-root.sh disk CACHE_DIR IMAGE STAMP SIZE_GB
#     from that directory, a bootable disk for virtual machines: the same tree plus a
#     kernel, cloud-init (reads the node's NoCloud seed) and ifupdown (cloud-init's
#     network output on Debian), as an ext4 filesystem in a qcow2 file, with the kernel
#     and initrd beside it for direct kernel boot.
# Prints "built" or "unchanged". (managed by dbaas: roles/root_image)
set -eu
form=$1 cache=$2 image=$3 stamp=$4
shift 4

# Take the target's lock, then stop at once if another job built it meanwhile.
lock_unless_built() { # TARGET STAMP_FILE
    mkdir -p "$cache"
    exec 9>"$cache/.$(basename "$1").lock"
    flock 9
    if [ -d "$1" ] && [ -f "$2" ] && [ "$(cat "$2")" = "$stamp" ]; then
        echo "unchanged"
        exit 0
    fi
}

# Put the finished work in the target's place: readers see the old or the new.
swap_in() { # WORK TARGET
    rm -rf "$2.old"
    if [ -d "$2" ]; then mv "$2" "$2.old"; fi
    mv "$1" "$2"
    rm -rf "$2.old"
}

build_image() { # SUITE MIRROR PACKAGES [WHEEL_DIR]
    target=$cache/$image
    lock_unless_built "$target" "$target.stamp"
    work=$cache/.$image.building
    rm -rf "$work"
    # A suite newer than this debootstrap (Debian testing) bootstraps as sid does.
    script=/usr/share/debootstrap/scripts/$1
    [ -e "$script" ] || script=/usr/share/debootstrap/scripts/sid
    debootstrap --variant=minbase --include="$3" "$1" "$work" "$2" "$script" \
        >"$cache/$image.build.log" 2>&1 \
        || { echo "debootstrap failed; see $cache/$image.build.log" >&2; exit 1; }
    if [ -n "${4:-}" ]; then
        # Into /usr/local, beside the suite's packages, offline.
        systemd-nspawn -q --register=no --keep-unit -D "$work" --bind-ro="$4:/run/wheels" \
            sh -c 'pip install --no-index --no-deps --break-system-packages /run/wheels/*.whl' \
            >>"$cache/$image.build.log" 2>&1 \
            || { echo "pip install failed; see $cache/$image.build.log" >&2; exit 1; }
    fi

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

    swap_in "$work" "$target"
    echo "$stamp" >"$target.stamp"
}

build_disk() { # SIZE_GB
    target=$cache/$image.disk
    lock_unless_built "$target" "$target/stamp"
    work=$cache/.$image.disk.building
    log=$cache/$image.disk.log
    root=$work/root
    rm -rf "$work"
    mkdir -p "$work"
    cp -a "$cache/$image" "$root"
    # apt runs inside the copy (the host's network reaches the Debian mirror).
    systemd-nspawn -q --register=no --keep-unit --resolv-conf=copy-host -D "$root" \
        --setenv=DEBIAN_FRONTEND=noninteractive sh -c '
            apt-get update -qq &&
            apt-get install -y -qq --no-install-recommends linux-image-cloud-amd64 cloud-init ifupdown &&
            apt-get clean && rm -rf /var/lib/apt/lists/*' >"$log" 2>&1 \
        || { echo "installing the kernel failed; see $log" >&2; exit 1; }
    printf '/dev/vda / ext4 errors=remount-ro 0 1\n' >"$root/etc/fstab"
    # ifupdown brings the seed's address up; systemd-networkd (the containers' way)
    # would only hold the boot in wait-online for two minutes.
    systemctl --root="$root" disable systemd-networkd.service \
        systemd-networkd-wait-online.service systemd-networkd.socket >/dev/null 2>&1 || true
    # The seed is the only data source: no probing of cloud metadata services at boot.
    printf 'datasource_list: [ NoCloud, None ]\n' >"$root/etc/cloud/cloud.cfg.d/90-dbaas.cfg"
    : >"$root/etc/machine-id"
    cp -L "$root/vmlinuz" "$work/vmlinuz"
    cp -L "$root/initrd.img" "$work/initrd.img"
    truncate -s "${1}G" "$work/root.raw"
    mkfs.ext4 -q -L root -d "$root" "$work/root.raw" >>"$log" 2>&1
    qemu-img convert -O qcow2 "$work/root.raw" "$work/root.qcow2"
    rm -rf "$root" "$work/root.raw"
    echo "$stamp" >"$work/stamp"
    swap_in "$work" "$target"
}

case $form in
    image) build_image "$@" ;;
    disk) build_disk "$@" ;;
    *) echo "unknown form: $form (image or disk)" >&2; exit 2 ;;
esac
echo "built"
