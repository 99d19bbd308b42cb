#!/bin/sh
# Work out and download the newest packages of a suite for machines built from IMAGE,
# without changing the image or needing the machines on the network:
#   plan-updates.sh IMAGE_DIR WORK_DIR ARCHIVE_DIR SUITE MIRROR SECURITY_MIRROR
# WORK_DIR/status/<machine> holds each machine's /var/lib/dpkg/status. One throwaway
# container of the image (a tmpfs over it) runs apt against each status in turn and
# writes WORK_DIR/plan/<machine> (the .deb files its dist-upgrade installs, one per
# line; empty: up to date) and WORK_DIR/plan/<machine>.tar (those files). Downloads are
# kept in ARCHIVE_DIR for the next machine and the next run. (managed by dbaas:
# roles/package_updates)
set -eu
image=$1 work=$2 archives=$3 suite=$4 mirror=$5 security=$6

mkdir -p "$archives/partial" "$work/plan" "$work/empty/partial"
rm -f "$work"/plan/*
{
    echo "deb $mirror $suite main"
    echo "deb $mirror $suite-updates main"
    echo "deb $security $suite-security main"
} >"$work/sources.list"

# One run at a time per archive directory (apt's own lock would fail, not wait).
exec 9>"$archives/.lock"
flock 9
systemd-nspawn -q --register=no --keep-unit --volatile=overlay --resolv-conf=copy-host \
    -D "$image" --bind="$work:/run/updates" --bind="$archives:/var/cache/apt/archives" \
    --setenv=DEBIAN_FRONTEND=noninteractive sh -euc '
        cp /run/updates/sources.list /etc/apt/sources.list
        apt-get update -qq
        mkdir /tmp/status
        for listed in /run/updates/status/*; do
            machine=${listed##*/}
            # A copy: apt locks the directory of the status it reads.
            status=/tmp/status/$machine
            cp "$listed" "$status"
            options="-qq -o Dir::State::status=$status"
            # The whole list: against an empty cache, apt prints every file it needs.
            apt-get $options -o Dir::Cache::Archives=/run/updates/empty --print-uris \
                dist-upgrade | cut -d" " -f2 >"/run/updates/plan/$machine"
            apt-get $options --download-only -y dist-upgrade
        done
        apt-get -qq autoclean' >"$work/apt.log" 2>&1 \
    || { echo "apt failed in a container of $image:" >&2; tail -20 "$work/apt.log" >&2; exit 1; }

for plan in "$work"/plan/*; do
    [ -s "$plan" ] || continue
    tar -cf "$plan.tar" -C "$archives" -T "$plan"
done
for plan in "$work"/plan/*; do
    case $plan in *.tar) continue ;; esac
    echo "${plan##*/}: $(wc -l <"$plan") packages"
done
