#!/usr/bin/env python3
"""Prepare, start, stop or inspect one lab node: a systemd-nspawn container.

  nspawn_node.py prepare STATE_DIR IMAGE_DIR NAME ADDRESS/PREFIX DISK_GB PUBLIC_KEY
  nspawn_node.py start NAME ROOT BRIDGE DISK STATE_DIR ADDRESS BOOT_TIMEOUT RAM_MB CPUS
                       CGROUP [BIND...]
  nspawn_node.py stop STATE_DIR
  nspawn_node.py status STATE_DIR
  nspawn_node.py rebase STATE_DIR IMAGE_DIR
  nspawn_node.py restore STATE_DIR IMAGE_DIR
  nspawn_node.py forget STATE_DIR IMAGE_NAME

`prepare` makes the node's root (an overlay on the image) with its identity (hostname,
address, SSH host keys, the service's key) and its data disk (a sparse file on a loop
device, grown, never shrunk); it prints JSON: changed, what changed, the loop device.
One process instead of a dozen Ansible tasks: a node is ready in a fraction of the time.

`start` runs the node in cgroups of its own (v1 `memory` and `cpu`, under dbaas/NAME):
a memory limit of RAM_MB and a CPU quota of CPUS cores, applied again to a running
node (a resize). The host has no systemd to delegate cgroups: the hierarchies are ours.
CGROUP is the tree the node's systemd gets: `legacy` (the host's v1 hierarchies, as
nspawn chooses on this host) or `unified` (cgroup v2, for systemd 256+, which refuses v1).

The node is tracked by its init's PID (the nspawn process's child): the init outlives
nspawn, and SIGKILL to it ends the node's whole PID namespace at once.
Prints one word: started, running, stopped, absent.

`rebase` moves a stopped node onto another image (a major upgrade): its root's upper
layer is set aside as `upper.<old image>` and a fresh one starts, keeping only the
node's SSH host keys (the service pins them); the data disk is untouched. `restore`
is the way back: the set-aside layer returns, the other is discarded. `forget`
removes a set-aside layer once it is not needed. Each prints changed or unchanged.
(managed by dbaas: node_nspawn)
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path


def start_time(pid: int) -> str | None:
    """The process's start time (in clock ticks since boot): with the PID, an identity
    that survives PID reuse."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _record(state: Path, name: str, pid: int) -> None:
    (state / name).write_text(f"{pid} {start_time(pid)}\n")


def _recorded(state: Path, name: str) -> int | None:
    """The recorded PID if that very process still runs (not a zombie, not a reuse)."""
    try:
        pid_text, started = (state / name).read_text().split()
        pid = int(pid_text)
    except (OSError, ValueError):
        return None
    if not is_alive(pid) or start_time(pid) != started:
        return None
    return pid


def is_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def node_init(state: Path) -> int | None:
    """The node's init PID, if that process is still this node's init."""
    return _recorded(state, "init.pid")


def _command_name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


NETWORK = """# Managed by dbaas (node_nspawn): the node's only network, no gateway.
[Match]
Name=host0

[Network]
Address={address}
LinkLocalAddressing=no
IPv6AcceptRA=no
# A link that drops for a moment must not take the address away: PostgreSQL and etcd
# restarted meanwhile would come back without it, listening on localhost only.
ConfigureWithoutCarrier=yes
IgnoreCarrierLoss=yes
"""


def _run(*command: str) -> str:
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip()


def _write(path: Path, content: str, mode: int, changes: list[str]) -> None:
    if path.exists() and path.read_text() == content and (path.stat().st_mode & 0o777) == mode:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)
    path.chmod(mode)
    changes.append(str(path))


def built_on(state: Path) -> str | None:
    """The name of the image the node's root is an overlay on (recorded by prepare)."""
    try:
        return (state / "image").read_text().strip() or None
    except FileNotFoundError:
        return None


def prepare(state: Path, image: Path, name: str, address: str, disk_gb: int, key: str) -> dict:
    changes: list[str] = []
    recorded = built_on(state)
    if recorded is not None and recorded != image.name:
        # An overlay's upper layer belongs to its lower one: the node's root of one
        # image on another would mix two systems' files.
        sys.exit(f"the node's root is built on {recorded}, not {image.name}: rebase it first")
    # The overlay's root takes the upper dir's mode: the node's services (networkd,
    # dbus, ...) run as other users and must be able to enter "/".
    for directory, mode in (("", 0o700), ("upper", 0o755), ("work", 0o700), ("merged", 0o755)):
        path = state / directory
        if not path.is_dir():
            path.mkdir(parents=True)
            changes.append(str(path))
        path.chmod(mode)
    if recorded is None:
        (state / "image").write_text(image.name + "\n")
    merged = state / "merged"
    if subprocess.run(["findmnt", "-n", str(merged)], capture_output=True).returncode != 0:
        options = f"lowerdir={image},upperdir={state / 'upper'},workdir={state / 'work'}"
        _run("mount", "-t", "overlay", "overlay", "-o", options, str(merged))
        changes.append(f"mounted {merged}")
    _write(
        merged / "etc/systemd/network/10-host0.network",
        NETWORK.format(address=address),
        0o644,
        changes,
    )
    _write(merged / "etc/hostname", f"{name}\n", 0o644, changes)
    (merged / "root/.ssh").mkdir(mode=0o700, exist_ok=True)
    _write(merged / "root/.ssh/authorized_keys", key.strip() + "\n", 0o600, changes)
    if not (merged / "etc/ssh/ssh_host_ed25519_key").exists():
        _run("ssh-keygen", "-A", "-f", str(merged))
        changes.append("SSH host keys")

    disk = state / "data.img"
    wanted = disk_gb * 1024**3
    grown = not disk.exists() or disk.stat().st_size < wanted
    if grown:
        with open(disk, "ab") as handle:
            handle.truncate(wanted)  # sparse; never shrinks
        changes.append(f"disk {disk_gb} GB")
    attached = _run("losetup", "-j", str(disk))
    if attached:
        loop = attached.split(":")[0]
        if grown:
            _run("losetup", "-c", loop)  # tell the loop device its new size
    else:
        loop = _run("losetup", "--find", "--show", str(disk))
        changes.append(f"attached {loop}")
    return {"changed": bool(changes), "changes": changes, "loop": loop}


CGROUP_ROOT = Path("/sys/fs/cgroup")
CFS_PERIOD_US = 100_000
# The hierarchies a node gets a group of its own in: the two that limit it, and the two
# systemd tracks processes with (the named v1 "systemd" one, and cgroup2 beside it).
# nspawn puts the node under its own group in each: without the last two, every node's
# systemd managed the same /payload/system.slice/<unit> groups, so a unit started on
# two nodes at once raced (status 219/CGROUP: a data disk left unmounted), and a unit
# stopped on one node could take that unit's processes on the others with it.
LIMITS = ("memory", "cpu")
TRACKING = ("systemd", "unified")


def cgroups(name: str) -> dict[str, Path]:
    """The node's cgroup in each hierarchy this host mounts."""
    return {
        hierarchy: CGROUP_ROOT / hierarchy / "dbaas" / name
        for hierarchy in LIMITS + TRACKING
        if (CGROUP_ROOT / hierarchy).is_dir()
    }


def limit(name: str, ram_mb: int, cpus: float) -> None:
    """Make the node's cgroups, with these limits (a running node's too)."""
    groups = cgroups(name)
    for group in groups.values():
        group.mkdir(parents=True, exist_ok=True)
    memory = groups["memory"]
    (memory / "memory.limit_in_bytes").write_text(str(ram_mb * 1024 * 1024))
    cpu = groups["cpu"]
    (cpu / "cpu.cfs_period_us").write_text(str(CFS_PERIOD_US))
    (cpu / "cpu.cfs_quota_us").write_text(str(int(cpus * CFS_PERIOD_US)))


def _join_cgroups(name: str) -> None:
    """In nspawn's process before it runs: the node is born in its cgroups. (Moving a
    booting node's processes afterwards races its systemd, which then fails to attach
    units to paths it computed before the move.)"""
    for group in cgroups(name).values():
        (group / "cgroup.procs").write_text(str(os.getpid()))


def remove_cgroups(name: str) -> None:
    """Once the node's processes are gone: its groups, deepest first (the node's
    systemd made its units' groups below them; an empty cgroup can be removed)."""
    for group in cgroups(name).values():
        if not group.is_dir():
            continue
        below = sorted((p for p in group.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts))
        for directory in [*below, group]:
            for _ in range(50):
                try:
                    directory.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:  # the last process still leaving
                    time.sleep(0.1)


def bind_options(binds: list[str]) -> list[str]:
    """`rw:SOURCE:TARGET` or `ro:SOURCE:TARGET` -> nspawn's --bind / --bind-ro. A
    writable source (the instance's backup repository) is made if missing; a read-only
    one (another instance's, to restore from) must exist."""
    options = []
    for bind in binds:
        mode, source, target = bind.split(":", 2)
        if mode not in ("rw", "ro") or not source.startswith("/") or not target.startswith("/"):
            sys.exit(f"not a bind (rw|ro:/source:/target): {bind}")
        if mode == "rw":
            Path(source).mkdir(mode=0o700, parents=True, exist_ok=True)
        elif not Path(source).is_dir():
            sys.exit(f"the directory to share read-only is missing: {source}")
        options.append(f"--bind{'-ro' if mode == 'ro' else ''}={source}:{target}")
    return options


def start(
    name: str,
    root: str,
    bridge: str,
    disk: str,
    state: Path,
    ram_mb: int,
    cpus: float,
    cgroup: str = "legacy",
    binds: list[str] = (),
) -> str:
    limit(name, ram_mb, cpus)
    if node_init(state):
        return "running"
    shared = bind_options(list(binds))
    log = open(state / "console.log", "ab")  # noqa: SIM115 (inherited by the node)
    nspawn = subprocess.Popen(
        [
            "systemd-nspawn",
            "--quiet",
            f"--directory={root}",
            f"--machine={name}",
            "--boot",
            "--register=no",
            "--keep-unit",
            f"--network-bridge={bridge}",
            f"--bind={disk}:/dev/vdb",
            *shared,
            "--console=pipe",
        ],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        env=nspawn_environment(cgroup),
        start_new_session=True,  # outlives the worker, the API and this script
        preexec_fn=lambda: _join_cgroups(name),  # noqa: PLW1509 (one write, no locks taken)
    )
    _record(state, "nspawn.pid", nspawn.pid)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        # nspawn's first child only sets the namespaces up and goes away; the node's
        # init is the child that has become systemd.
        for child in children(nspawn.pid):
            if _command_name(child) == "systemd":
                _record(state, "init.pid", child)
                return "started"
        if nspawn.poll() is not None:
            sys.exit(f"systemd-nspawn exited with {nspawn.returncode}; see {state}/console.log")
        time.sleep(0.05)
    sys.exit("the node's init did not start within 30 s")


def nspawn_environment(cgroup: str) -> dict[str, str]:
    """nspawn's environment for the node's cgroup tree. `unified`: cgroup v2 (under the
    node's own unified group) even on this host with v1 hierarchies, for a systemd 256+
    (Debian testing's), which refuses to boot on v1."""
    if cgroup not in ("legacy", "unified"):
        sys.exit(f"not a cgroup tree (legacy|unified): {cgroup}")
    environment = {k: v for k, v in os.environ.items() if k != "SYSTEMD_NSPAWN_UNIFIED_HIERARCHY"}
    if cgroup == "unified":
        environment["SYSTEMD_NSPAWN_UNIFIED_HIERARCHY"] = "1"
    return environment


def _until(check, seconds: float, every: float) -> bool:
    """Whether `check()` came true within `seconds`, asked every `every` seconds."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(every)
    return check()


def _sshd_answers(address: str) -> bool:
    try:
        socket.create_connection((address, 22), timeout=1).close()
        return True
    except OSError:
        return False


def wait_for_sshd(address: str, seconds: float) -> bool:
    """Until the node's sshd accepts connections: checked every 0.1 s, where Ansible's
    wait_for checks every second (a node boots in about one)."""
    return _until(lambda: _sshd_answers(address), seconds, every=0.1)


def _wait_gone(pid: int, seconds: float) -> bool:
    return _until(lambda: not is_alive(pid), seconds, every=0.05)


def stop(state: Path) -> str:
    init = node_init(state)
    nspawn = _recorded(state, "nspawn.pid")
    if init is None and nspawn is not None:
        # Killing nspawn would not stop the node: find its init through it.
        init = next((c for c in children(nspawn) if _command_name(c) == "systemd"), None)
    if init is None and nspawn is None:
        remove_cgroups(state.name)
        return "absent"
    if init is not None:
        # The plug pulled, as libvirt's destroy: a node stops only to be removed with
        # its disk, and a clean power-off of a cluster's last nodes would wait seconds
        # for etcd and Patroni peers already gone.
        os.kill(init, signal.SIGKILL)
        _wait_gone(init, 10)
    # nspawn exits once its node is gone (and takes the veth with it).
    if nspawn is not None and not _wait_gone(nspawn, 10):
        os.kill(nspawn, signal.SIGKILL)
        _wait_gone(nspawn, 5)
    remove_cgroups(state.name)
    return "stopped"


def _stopped_and_unmounted(state: Path) -> None:
    """The node stopped (a node on the root being replaced has nothing to keep) and
    its root unmounted."""
    stop(state)
    merged = state / "merged"
    if subprocess.run(["findmnt", "-n", str(merged)], capture_output=True).returncode == 0:
        _run("umount", str(merged))


def _fresh_work_dir(state: Path) -> None:
    """overlayfs wants an empty work directory for a new upper layer."""
    shutil.rmtree(state / "work", ignore_errors=True)
    (state / "work").mkdir(mode=0o700)


def _record_image(state: Path, name: str) -> None:
    temporary = state / "image.tmp"
    temporary.write_text(name + "\n")
    temporary.replace(state / "image")


def _layers(state: Path, image_name: str) -> tuple[Path, Path, Path, Path]:
    """The upper layer, the one set aside for `image_name`, the fresh one a rebase
    builds, and the marker of a rebase under way (written once the fresh layer is
    whole, removed once the image is recorded)."""
    return state / "upper", state / f"upper.{image_name}", state / "upper.new", state / "rebasing"


def rebase(state: Path, image: Path) -> str:
    """Onto `image`. Interrupted anywhere, run again it finishes (or restore undoes it)."""
    current = built_on(state)
    if current is None:
        sys.exit(f"{state} records no image: prepare the node first")
    if current == image.name:
        return "unchanged"
    _stopped_and_unmounted(state)
    upper, aside, fresh, marker = _layers(state, current)
    if not marker.exists():
        shutil.rmtree(fresh, ignore_errors=True)
        keys = fresh / "etc/ssh"
        keys.mkdir(parents=True)
        for key in (upper / "etc/ssh").glob("ssh_host_*"):
            shutil.copy2(key, keys / key.name)
        fresh.chmod(0o755)
        shutil.rmtree(aside, ignore_errors=True)  # a stale copy of an earlier attempt
        marker.write_text(image.name + "\n")
    if fresh.is_dir():
        if upper.is_dir():
            upper.rename(aside)
        fresh.rename(upper)
    _fresh_work_dir(state)
    _record_image(state, image.name)
    marker.unlink()
    return "changed"


def restore(state: Path, image: Path) -> str:
    """Back onto `image`, whose upper layer a rebase set aside (or a rebase away from
    it stopped halfway)."""
    current = built_on(state)
    upper, aside, fresh, marker = _layers(state, image.name)
    if current == image.name and not marker.exists():
        return "unchanged"
    if current != image.name and not aside.is_dir():
        sys.exit(f"{state} kept no root of {image.name} to go back to")
    _stopped_and_unmounted(state)
    if aside.is_dir():
        shutil.rmtree(upper, ignore_errors=True)
        aside.rename(upper)
    shutil.rmtree(fresh, ignore_errors=True)
    _fresh_work_dir(state)
    _record_image(state, image.name)
    marker.unlink(missing_ok=True)
    return "changed"


def forget(state: Path, image_name: str) -> str:
    aside = state / f"upper.{image_name}"
    if "/" in image_name or not aside.is_dir() or built_on(state) == image_name:
        return "unchanged"
    shutil.rmtree(aside)
    return "changed"


def main(argv: list[str]) -> None:
    command = argv[1]
    if command == "prepare":
        state, image, name, address, disk_gb, key = argv[2:8]
        result = prepare(Path(state), Path(image), name, address, int(disk_gb), key)
        print(json.dumps(result))
    elif command == "start":
        name, root, bridge, disk, state, address, boot_timeout, ram_mb, cpus, cgroup = argv[2:12]
        started = start(
            name, root, bridge, disk, Path(state), int(ram_mb), float(cpus), cgroup, argv[12:]
        )
        print(started)
        if not wait_for_sshd(address, float(boot_timeout)):
            sys.exit(f"the node's sshd on {address} did not answer within {boot_timeout} s")
    elif command == "stop":
        print(stop(Path(argv[2])))
    elif command == "status":
        print("running" if node_init(Path(argv[2])) else "absent")
    elif command in ("rebase", "restore"):
        print((rebase if command == "rebase" else restore)(Path(argv[2]), Path(argv[3])))
    elif command == "forget":
        print(forget(Path(argv[2]), argv[3]))
    else:
        sys.exit(f"unknown command {command}")


if __name__ == "__main__":
    main(sys.argv)
