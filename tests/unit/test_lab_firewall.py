"""The lab bridge's filter (roles/lab_firewall): what nft is told, for an instance made,
changed and removed beside another."""

import importlib.util

import pytest

from tests.support.lab import ROLES

spec = importlib.util.spec_from_file_location(
    "lab_firewall", ROLES / "lab_firewall" / "files" / "lab_firewall.py"
)
lab_firewall = importlib.util.module_from_spec(spec)
spec.loader.exec_module(lab_firewall)

A = "5f0e3c1a-0000-4000-8000-aaaaaaaaaaaa"
B = "5f0e3c1a-0000-4000-8000-bbbbbbbbbbbb"
CHAIN_A, SET_A = lab_firewall.names(A)
CHAIN_B, SET_B = lab_firewall.names(B)


def state(**instances):
    """The table as nft lists it, with these instances' addresses."""
    chains = {"forward"}
    table = {"map": {}, "sets": {}, "chains": chains}
    for key, addresses in instances.items():
        chain, members = lab_firewall.names({"a": A, "b": B}[key])
        chains.add(chain)
        table["sets"][members] = set(addresses)
        table["map"].update(dict.fromkeys(addresses, chain))
    return table


def test_the_first_instance_makes_the_table_its_chain_and_its_elements():
    commands = lab_firewall.plan("t", A, ["10.0.0.2", "10.0.0.3"], {})
    text = "\n".join(commands)
    assert "add table bridge t" in text
    assert f"add rule bridge t {CHAIN_A} ip saddr @{SET_A} accept" in text
    assert f"add rule bridge t {CHAIN_A} tcp dport {{ 5432 }} accept" in text
    assert commands.index(f"add rule bridge t {CHAIN_A} drop") > commands.index(
        f"add rule bridge t {CHAIN_A} tcp dport {{ 5432 }} accept"
    )
    assert f"10.0.0.2 : jump {CHAIN_A}" in text


def test_a_table_that_is_right_needs_nothing():
    assert lab_firewall.plan("t", A, ["10.0.0.2"], state(a=["10.0.0.2"])) == []


def test_a_node_that_leaves_is_taken_out_and_the_others_stay():
    commands = lab_firewall.plan("t", A, ["10.0.0.2"], state(a=["10.0.0.2", "10.0.0.3"]))
    assert commands == [
        f"delete element bridge t {SET_A} {{ 10.0.0.3 }}",
        "delete element bridge t instance_of { 10.0.0.3 }",
    ]


def test_an_instance_removed_beside_another_leaves_the_other_whole():
    commands = lab_firewall.plan("t", A, [], state(a=["10.0.0.2"], b=["10.0.0.9"]))
    assert commands == [
        "delete element bridge t instance_of { 10.0.0.2 }",
        f"delete chain bridge t {CHAIN_A}",
        f"delete set bridge t {SET_A}",
    ]
    assert lab_firewall.plan("t", B, [], state(b=["10.0.0.9"])) == ["delete table bridge t"]
    assert lab_firewall.plan("t", B, [], {}) == []


def test_an_address_a_deleted_instance_held_is_taken_over():
    commands = lab_firewall.plan("t", B, ["10.0.0.2"], state(a=["10.0.0.2"]))
    assert "delete element bridge t instance_of { 10.0.0.2 }" in commands
    assert commands[-1] == f"add element bridge t instance_of {{ 10.0.0.2 : jump {CHAIN_B} }}"


@pytest.mark.parametrize("bad", ["not-a-uuid", "; drop", "{{ x }}"])
def test_an_instance_id_that_is_not_a_uuid_never_reaches_nft(bad):
    with pytest.raises(ValueError):
        lab_firewall.names(bad)
