#!/usr/bin/env python3
"""Keep one instance's nodes apart from every other instance on a lab bridge.

  lab_firewall.py BRIDGE INSTANCE_UUID [ADDRESS ...]

makes the bridge's nftables table (family bridge: frames between the bridge's ports)
hold exactly these addresses for the instance, or, with no address, removes the
instance (and the table once no instance is left). Prints JSON: changed, table.

A frame to a node goes through the chain of the node's instance (the `instance_of`
verdict map, by destination address): from the instance's own nodes, anything; from
anyone else, PostgreSQL's port, and TCP segments that open no connection (the answers
to connections the node made: the bridge has no connection tracking here, so a new
connection is told by its SYN). Everything else from another instance is dropped:
etcd, Patroni's REST API, SSH. The control host's own traffic does not cross the
bridge's forward hook: it keeps reaching every node.  (managed by dbaas: lab_firewall)
"""

import fcntl
import ipaddress
import json
import re
import subprocess
import sys
import uuid

OPEN_PORTS = (5432,)


def table_name(bridge: str) -> str:
    return "dbaas_" + re.sub(r"[^A-Za-z0-9]", "_", bridge)


def names(instance: str) -> tuple[str, str]:
    """The instance's chain and set: its uuid's hex, never client text."""
    hexed = uuid.UUID(instance).hex
    return f"i_{hexed}", f"n_{hexed}"


def _nft(*args: str, script: str | None = None) -> str:
    result = subprocess.run(
        ["nft", *args], input=script, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        sys.exit(f"nft {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout


def current(table: str) -> dict:
    """{"map": {address: chain}, "sets": {name: {addresses}}, "chains": {names}}, or {}"""
    found = subprocess.run(
        ["nft", "-j", "list", "table", "bridge", table], capture_output=True, text=True
    )
    if found.returncode != 0:
        return {}
    state: dict = {"map": {}, "sets": {}, "chains": set()}
    for item in json.loads(found.stdout)["nftables"]:
        if "map" in item:
            for key, verdict in item["map"].get("elem", []):
                state["map"][key] = verdict["jump"]["target"]
        elif "set" in item:
            state["sets"][item["set"]["name"]] = set(item["set"].get("elem", []))
        elif "chain" in item:
            state["chains"].add(item["chain"]["name"])
    return state


def _elements(verb: str, table: str, name: str, items) -> list[str]:
    """One command adding (or deleting) these elements, or none when there are none."""
    if not items:
        return []
    return [f"{verb} element bridge {table} {name} {{ {', '.join(sorted(items))} }}"]


def plan(table: str, instance: str, addresses: list[str], state: dict) -> list[str]:
    """The nft commands that make the table right, in one transaction; [] if it is."""
    chain, members = names(instance)
    wanted = set(addresses)
    mapped = {a for a, c in state.get("map", {}).items() if c == chain}
    commands: list[str] = []
    if wanted:
        if not state:
            commands += [
                f"add table bridge {table}",
                f"add map bridge {table} instance_of {{ type ipv4_addr : verdict ; }}",
                f"add chain bridge {table} forward"
                " { type filter hook forward priority filter ; policy accept ; }",
                f"add rule bridge {table} forward ip daddr vmap @instance_of",
            ]
        if chain not in state.get("chains", set()):
            ports = ", ".join(str(p) for p in OPEN_PORTS)
            commands += [
                f"add set bridge {table} {members} {{ type ipv4_addr ; }}",
                f"add chain bridge {table} {chain}",
                f"add rule bridge {table} {chain} ip saddr @{members} accept",
                f"add rule bridge {table} {chain} tcp dport {{ {ports} }} accept",
                f"add rule bridge {table} {chain} tcp flags & (syn | ack) != syn accept",
                f"add rule bridge {table} {chain} drop",
            ]
        present = state.get("sets", {}).get(members, set())
        # An address another instance held (since deleted) is taken over.
        taken = {a for a in wanted if state.get("map", {}).get(a) not in (None, chain)}
        commands += _elements("delete", table, members, present - wanted)
        commands += _elements("add", table, members, wanted - present)
        commands += _elements("delete", table, "instance_of", (mapped - wanted) | taken)
        jumps = [f"{a} : jump {chain}" for a in (wanted - mapped) | taken]
        return commands + _elements("add", table, "instance_of", jumps)
    if not state:
        return []
    others = {c for c in state["map"].values() if c != chain}
    if not others and not (state["chains"] - {"forward", chain}):
        return [f"delete table bridge {table}"]
    commands += _elements("delete", table, "instance_of", mapped)
    if chain in state["chains"]:
        commands += [f"delete chain bridge {table} {chain}"]
    if members in state["sets"]:
        commands.append(f"delete set bridge {table} {members}")
    return commands


def main(argv: list[str]) -> None:
    bridge, instance, *addresses = argv[1:]
    addresses = [str(ipaddress.IPv4Address(a)) for a in addresses]  # data, checked
    table = table_name(bridge)
    # Two instances' runs at once: each reads and changes the table alone.
    with open("/run/dbaas-lab-firewall.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        commands = plan(table, instance, addresses, current(table))
        if commands:
            _nft("-f", "-", script="\n".join(commands) + "\n")
    print(json.dumps({"changed": bool(commands), "table": table, "commands": commands}))


if __name__ == "__main__":
    main(sys.argv)
