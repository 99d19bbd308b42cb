#!/bin/sh
# In a throwaway container of the new major's image, the pg_compat bundle at
# /run/bundle.tar: initdb and fill a cluster of the old major, pg_upgrade it (check,
# then link mode), print the new server's version number and the rows it holds.
#   pg_upgrade_in_container.sh OLD_MAJOR NEW_MAJOR
set -eu
old_bin=/usr/lib/postgresql/$1/bin new_bin=/usr/lib/postgresql/$2/bin
tar -C / -xf /run/bundle.tar && ldconfig
mkdir -p /srv/pg && chown postgres /srv/pg && cd /srv/pg
as_postgres() { su postgres -s /bin/sh -c "$1"; }
initdb_options="--data-checksums -E UTF8 --locale=C.UTF-8 -A trust"
server_options="-o '-k /srv/pg -c listen_addresses=' -w"

as_postgres "$old_bin/initdb -D /srv/pg/old $initdb_options >/dev/null"
as_postgres "$old_bin/pg_ctl -D /srv/pg/old $server_options start >/dev/null"
as_postgres "psql -h /srv/pg -qc 'create table t as select generate_series(1, 10000) n'"
as_postgres "$old_bin/pg_ctl -D /srv/pg/old -w stop >/dev/null"

as_postgres "$new_bin/initdb -D /srv/pg/new $initdb_options >/dev/null"
upgrade="$new_bin/pg_upgrade -b $old_bin -B $new_bin -d /srv/pg/old -D /srv/pg/new -s /srv/pg"
as_postgres "$upgrade --check" | grep -q 'Clusters are compatible'
as_postgres "$upgrade --link >/dev/null"
as_postgres "$new_bin/pg_ctl -D /srv/pg/new $server_options start >/dev/null"
as_postgres "psql -h /srv/pg -Atc 'show server_version_num' -c 'select count(*) from t'"
