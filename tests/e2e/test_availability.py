"""A partition: the primary's links to the other nodes cut, the machine alive and its
clients still connected. Writers on both sides record every acknowledged commit; once
the link is back, the healed cluster holds every one of them, and a row no client saw
acknowledged can only be an attempt that failed (a broken connection's last write)."""

import re
import subprocess
import threading
import time

import psycopg

from tests.e2e.test_instances import instance_uri, patroni_cluster
from tests.support.lab import ssh

PASSWORD = "parted-Secret-1"
# What a member's journal says of who leads: printed when the rejoin does not happen.
STORY = re.compile(
    r"promot|demot|rewind|leader|lock|timeline|follow|acquire|bootstrap|crash|FATAL|PANIC",
    re.IGNORECASE,
)


class KeyedWriter(threading.Thread):
    """Inserts (writer, seq) with its own ever-growing seq, one every 20 ms: it knows
    what it asked for, what was acknowledged, and what failed (in doubt)."""

    def __init__(self, name: str, conninfo: str):
        super().__init__(daemon=True)
        self.name, self.conninfo = name, conninfo
        self.acknowledged: dict[int, float] = {}
        self.in_doubt: set[int] = set()
        self.stop = threading.Event()

    def run(self) -> None:
        conn, seq = None, 0
        while not self.stop.is_set():
            seq += 1
            try:
                if conn is None:
                    conn = psycopg.connect(self.conninfo, autocommit=True)
                conn.execute("insert into w values (%s, %s)", (self.name, seq))
                self.acknowledged[seq] = time.monotonic()
            except psycopg.Error:
                self.in_doubt.add(seq)
                if conn is not None:
                    conn.close()
                conn = None
                time.sleep(0.2)
            time.sleep(0.02)
        if conn is not None:
            conn.close()

    def acknowledged_after(self, moment: float) -> list[int]:
        return [seq for seq, at in self.acknowledged.items() if at > moment]


def cut(bridge: str, isolated: str, others: list[str]) -> str:
    """Drop every frame between `isolated` and `others` on the lab bridge (before the
    lab's own filter); this host still reaches every node."""
    table = f"dbaas_test_cut_{bridge}"
    peers = ", ".join(others)
    rules = f"""table bridge {table} {{
        chain forward {{
            type filter hook forward priority -10; policy accept;
            ip saddr {isolated} ip daddr {{ {peers} }} drop
            ip saddr {{ {peers} }} ip daddr {isolated} drop
        }}
    }}"""
    subprocess.run(["nft", "-f", "-"], input=rules, text=True, check=True)
    return table


def heal(table: str) -> None:
    subprocess.run(["nft", "delete", "table", "bridge", table], capture_output=True)


def in_recovery(address: str) -> bool | None:
    try:
        with psycopg.connect(
            host=address, user="parted", password=PASSWORD, dbname="app", connect_timeout=2
        ) as conn:
            return conn.execute("select pg_is_in_recovery()").fetchone()[0]
    except psycopg.Error:
        return None  # stopped or restarting: not taking writes either


def rejoined(members: list[dict], old_name: str) -> bool:
    return (
        len(members) == 3
        and all(m["state"] in ("running", "streaming") for m in members)
        and sum(m["role"] == "sync_standby" for m in members) == 1
        and next(m for m in members if m["name"] == old_name)["role"] != "leader"
    )


def patroni_journal(pipeline, address: str, lines: int | None = None) -> str:
    tail = f" -n {lines}" if lines else ""
    key = pipeline.data_dir / "ssh" / "id_ed25519"
    return ssh(key, address, f"journalctl -u patroni --no-pager{tail}", check=False).stdout


def test_a_partitioned_primary_loses_no_acknowledged_write(lab_pipeline):
    pipeline = lab_pipeline
    pipeline.worker.start()
    path, active = pipeline.served_instance(
        "parted", "parted", PASSWORD, "app", nodes_number=3, sync_replica_number=1
    )
    instance = active
    ips = active["ipsv4"]
    uri = instance_uri(pipeline, instance, "app")
    with psycopg.connect(uri, user="parted", password=PASSWORD) as conn:
        conn.execute("create table w (writer text, seq bigint, primary key (writer, seq))")

    old = next(m for m in patroni_cluster(ips[0])["members"] if m["role"] == "leader")
    others = [ip for ip in ips if ip != old["host"]]
    login = f"user=parted password={PASSWORD} dbname=app connect_timeout=2"
    writers = [
        # Follows the primary wherever it is.
        KeyedWriter(
            "follower",
            f"host={','.join(ips)} port=5432 {login} target_session_attrs=read-write",
        ),
        # Stays with the old primary: the client on the isolated side.
        KeyedWriter("isolated", f"host={old['host']} port=5432 {login}"),
    ]
    for writer in writers:
        writer.start()
    table = None
    try:
        time.sleep(3)
        assert all(writer.acknowledged for writer in writers)
        table = cut(pipeline.bridge, old["host"], others)
        cut_at = time.monotonic()
        # The majority elects a new primary once the old one's key expires ...
        pipeline.wait_for(
            lambda: any(
                m["role"] == "leader" and m["name"] != old["name"]
                for m in patroni_cluster(others[0])["members"]
            ),
            "a new primary on the majority side",
            90,
        )
        # ... and the isolated one, without the DCS, has demoted itself.
        pipeline.wait_for(lambda: in_recovery(old["host"]) is not False, "the demotion", 90)
        demoted_at = time.monotonic()
        pipeline.wait_for(
            lambda: writers[0].acknowledged_after(demoted_at), "writes on the new primary", 60
        )
        late = writers[1].acknowledged_after(cut_at + 1)
        print(
            f"partition: old primary demoted after {demoted_at - cut_at:.1f} s; "
            f"acknowledged on it after the cut: {len(late)}"
        )
        time.sleep(3)
        heal(table)
        table = None
        healed_at = time.monotonic()
        try:
            pipeline.wait_for(
                lambda: rejoined(patroni_cluster(others[0])["members"], old["name"]),
                "the old primary to rejoin as a replica",
                180,
            )
        except BaseException:
            print("old primary:", old["name"], "members:", patroni_cluster(others[0])["members"])
            for address in ips:
                said = patroni_journal(pipeline, address, lines=5000).splitlines()
                story = [x for x in said if STORY.search(x) and "no action" not in x]
                print(f"--- {address} ---", *story[-80:], sep="\n")
            raise
        print(f"partition: rejoined {time.monotonic() - healed_at:.1f} s after the link came back")
    finally:
        if table is not None:
            heal(table)
        for writer in writers:
            writer.stop.set()
            writer.join(10)

    with psycopg.connect(uri, user="parted", password=PASSWORD) as conn:
        present = set(conn.execute("select writer, seq from w").fetchall())
    for writer in writers:
        acknowledged = {(writer.name, seq) for seq in writer.acknowledged}
        in_doubt = {(writer.name, seq) for seq in writer.in_doubt}
        mine = {row for row in present if row[0] == writer.name}
        assert acknowledged <= present, f"{writer.name}: acknowledged rows lost"
        assert mine - acknowledged <= in_doubt, f"{writer.name}: rows nobody asked for"
    nodes = pipeline.nodes(instance)
    assert all(node["status"] == "ACTIVE" for node in nodes.values())
    assert pipeline.api.get(path).json["status"] == "ACTIVE"
    journal = patroni_journal(pipeline, old["host"])
    said = [line for line in journal.splitlines() if "rewind" in line or "demot" in line]
    print("partition: the old primary's Patroni on rewind and demotion:", *said[-8:], sep="\n  ")
