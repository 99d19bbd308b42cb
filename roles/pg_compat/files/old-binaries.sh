#!/bin/sh
# The old PostgreSQL major's binaries, runnable on a newer root image, for pg_upgrade
# (which needs both majors on one machine, and no Debian suite ships both):
#   old-binaries.sh OLD_IMAGE NEW_IMAGE MAJOR OUT_TAR
# OUT_TAR holds, at their own paths, OLD_IMAGE's /usr/lib/postgresql/MAJOR and
# /usr/share/postgresql/MAJOR, plus the shared libraries NEW_IMAGE lacks for them
# (found with ldd in a throwaway container of NEW_IMAGE until none is missing) in
# /usr/lib/dbaas-compat-pgMAJOR, named in /etc/ld.so.conf.d. Only sonames the new
# image does not have go there, so nothing of the new suite is shadowed. libLLVM is
# left out: the old server runs without JIT. (managed by dbaas: roles/pg_compat)
set -eu
old=$1 new=$2 major=$3 out=$4
lib=/usr/lib/dbaas-compat-pg$major

work=$(mktemp -d "$out.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/root/usr/lib/postgresql" "$work/root/usr/share/postgresql" \
    "$work/root$lib" "$work/root/etc/ld.so.conf.d"
cp -a "$old/usr/lib/postgresql/$major" "$work/root/usr/lib/postgresql/"
cp -a "$old/usr/share/postgresql/$major" "$work/root/usr/share/postgresql/"
rm -rf "$work/root/usr/lib/postgresql/$major/lib/bitcode" # JIT's only
echo "$lib" >"$work/root/etc/ld.so.conf.d/zz-dbaas-compat-pg$major.conf"

systemd-nspawn -q --register=no --keep-unit --volatile=overlay -D "$new" \
    --bind="$work/root:/run/bundle" --bind-ro="$old:/run/old" \
    sh -euc '
        major=$1 lib=$2
        cp -a /run/bundle/usr/lib/postgresql/$major /usr/lib/postgresql/
        mkdir -p "$lib"
        cp /run/bundle/etc/ld.so.conf.d/* /etc/ld.so.conf.d/
        while :; do
            ldconfig
            missing=$(for file in /usr/lib/postgresql/$major/bin/* \
                    /usr/lib/postgresql/$major/lib/*.so "$lib"/*; do
                    [ -f "$file" ] && ldd "$file" 2>/dev/null | awk "/not found/ {print \$1}"
                done | grep -v "^libLLVM" | sort -u)
            [ -n "$missing" ] || break
            for so in $missing; do
                found=$(ls /run/old/usr/lib/*/"$so" /run/old/lib/*/"$so" 2>/dev/null | head -n 1)
                [ -n "$found" ] || { echo "$so is not in the old image" >&2; exit 1; }
                cp -L "$found" "$lib/$so"
            done
        done
        cp -a "$lib/." "/run/bundle$lib/"
        # It runs: the version it prints is the proof.
        /usr/lib/postgresql/$major/bin/postgres -V
    ' sh "$major" "$lib" 2>&1 | grep -v "^Attempted to remove disk file system" >&2

tar -C "$work/root" -cf "$out.part" .
mv "$out.part" "$out"
