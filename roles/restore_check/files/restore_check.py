"""Restore a backup somewhere throwaway and check it: a container of the instance's own
root image (read-only, no network) on this host, its data directory in a scratch
directory, the repository shared read-only. pgBackRest restores the backup, PostgreSQL
recovers to consistency and is promoted, pg_amcheck checks every database; then it is
all removed. Prints one JSON line: {"ok", "seconds", "recovered_to", "error"}.

    restore_check.py IMAGE_DIR REPOSITORY_DIR SCRATCH_DIR CONFIG_FILE STANZA LABEL MAJOR
"""

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

# Run inside the container as postgres; its inputs come as environment variables, its
# values are never part of the script's text.
CHECK = r"""
set -eu
bin=/usr/lib/postgresql/$MAJOR/bin
pgbackrest --config=/mnt/pgbackrest.conf --stanza="$STANZA" --set="$LABEL" \
    --type=immediate --target-action=promote \
    --pg1-path=/mnt/data --log-level-console=warn restore
# The restored configuration is a node's (its addresses, TLS files, sizes): overridden.
"$bin/pg_ctl" -D /mnt/data -w -t 3600 -l /mnt/postgresql.log -o "\
 -c listen_addresses='' -c unix_socket_directories=/mnt/run -c port=5432 \
 -c ssl=off -c archive_mode=off -c hba_file=/mnt/hba.conf \
 -c ident_file=/mnt/data/pg_ident.conf -c shared_buffers=128MB \
 -c synchronous_standby_names= -c synchronous_commit=local \
 -c cluster_name=restore-check" start
for _ in $(seq 3600); do
    [ "$(psql -h /mnt/run -XAtc 'select pg_is_in_recovery()' postgres)" = f ] && break
    sleep 1
done
# The last transaction recovery replayed (empty: none after the backup's start).
psql -h /mnt/run -XAtc \
    'select coalesce(pg_last_xact_replay_timestamp()::text, $$$$)' postgres >/mnt/recovered_to
if ! "$bin/pg_amcheck" -h /mnt/run --all --install-missing >/mnt/amcheck.log 2>&1; then
    tail -n 20 /mnt/amcheck.log >&2
    "$bin/pg_ctl" -D /mnt/data -m fast -w stop
    exit 3
fi
"$bin/pg_ctl" -D /mnt/data -m fast -w stop
"""


# What systemd-nspawn says as a container of a read-only directory ends: not the check's.
NSPAWN_NOISE = ("Attempted to remove disk file system", "waiting for server", "server st")


def _descendants(pid: int) -> list[int]:
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, queue = [], [pid]
    while queue:
        children = parents.get(queue.pop(), [])
        found += children
        queue += children
    return found


def _kill_tree(pid: int) -> None:
    """systemd-nspawn and every process of its container (a killed nspawn alone would
    leave them running)."""
    for each in [*reversed(_descendants(pid)), pid]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(each, signal.SIGKILL)


def _image_user(image: Path, name: str) -> tuple[int, int]:
    for line in (image / "etc" / "passwd").read_text().splitlines():
        fields = line.split(":")
        if fields[0] == name:
            return int(fields[2]), int(fields[3])
    raise LookupError(f"no {name} user in the image")


def check(
    image: Path, repository: Path, scratch: Path, config: Path, env: dict, timeout: float = 3600
) -> dict:
    uid, gid = _image_user(image, "postgres")
    for part in ("data", "run"):
        (scratch / part).mkdir(mode=0o700, parents=True, exist_ok=True)
    # The configuration (it holds the passphrase) readable by the container's postgres only.
    shutil.move(config, scratch / "pgbackrest.conf")
    # Only local connections of the container's own postgres user.
    (scratch / "hba.conf").write_text("local all all trust\n")
    for path in (scratch, *scratch.iterdir()):
        shutil.chown(path, uid, gid)
    command = [
        "systemd-nspawn",
        "--quiet",
        f"--directory={image}",
        "--read-only",
        "--private-network",
        "--register=no",
        "--keep-unit",
        f"--machine=rc{scratch.name[:10]}",
        f"--bind-ro={repository}:/var/lib/pgbackrest",
        f"--bind={scratch}:/mnt",
        # pgBackRest, and the archive-get PostgreSQL runs during recovery, read it there.
        "--setenv=PGBACKREST_CONFIG=/mnt/pgbackrest.conf",
        "--tmpfs=/tmp",
        "--user=postgres",
        "--chdir=/mnt",
        *(f"--setenv={key}={value}" for key, value in env.items()),
        "/bin/sh",
        "-c",
        CHECK,
    ]
    started = time.monotonic()
    try:
        run = subprocess.run(
            command, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        # systemd-nspawn was killed; its container (and PostgreSQL in it) goes with it.
        return {
            "ok": False,
            "seconds": round(time.monotonic() - started, 1),
            "recovered_to": None,
            "error": f"not done within {timeout} s",
        }
    seconds = round(time.monotonic() - started, 1)
    if run.returncode != 0:
        lines = [
            line
            for line in (run.stdout + "\n" + run.stderr).splitlines()
            if line.strip() and not line.startswith(NSPAWN_NOISE)
        ]
        return {
            "ok": False,
            "seconds": seconds,
            "recovered_to": None,
            "error": " ".join(lines[-5:])[-1500:] or f"exit {run.returncode}",
        }
    recovered = (scratch / "recovered_to").read_text().strip() or None
    return {"ok": True, "seconds": seconds, "recovered_to": recovered, "error": None}


def main(argv: list[str]) -> None:
    image, repository, scratch, config, stanza, label, major = argv[1:8]
    scratch_dir = Path(scratch)
    try:
        result = check(
            Path(image),
            Path(repository),
            scratch_dir,
            Path(config),
            {"STANZA": stanza, "LABEL": label, "MAJOR": major},
        )
    except (OSError, LookupError) as error:
        result = {"ok": False, "seconds": None, "recovered_to": None, "error": str(error)}
    finally:
        shutil.rmtree(scratch_dir, ignore_errors=True)
        Path(config).unlink(missing_ok=True)
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv)
