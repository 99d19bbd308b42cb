"""The certificates the service issues: who vouches for whom, what names they carry,
when they are issued anew."""

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from core import tls


@pytest.fixture(scope="module")
def chain():
    root = tls.new_root()
    instance_ca = tls.new_instance_ca(root, "6c0a6f6e-1ab0-4c1a-9d1e-1ab000000001")
    node = tls.new_node_certificate(instance_ca, "pg1a2b3c4d5e", "172.30.213.7")
    return root, instance_ca, node


def certificates(issued: tls.Issued) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(issued.certificate.encode())


def test_a_node_certificate_chains_to_the_root_through_its_instance_ca(chain):
    root, instance_ca, node = chain
    leaf, intermediate = certificates(node)
    assert intermediate == instance_ca.leaf
    leaf.verify_directly_issued_by(instance_ca.leaf)
    instance_ca.leaf.verify_directly_issued_by(root.leaf)
    constraints = instance_ca.leaf.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.value.ca and constraints.value.path_length == 0
    node_constraints = leaf.extensions.get_extension_for_class(x509.BasicConstraints)
    assert not node_constraints.value.ca


def test_another_instances_ca_does_not_vouch_for_this_node(chain):
    root, _, node = chain
    stranger = tls.new_instance_ca(root, "another")
    with pytest.raises(Exception):  # noqa: B017 (cryptography raises InvalidSignature or ValueError)
        node.leaf.verify_directly_issued_by(stranger.leaf)


def test_a_node_is_named_by_its_address_and_name_for_servers_and_clients(chain):
    _, _, node = chain
    names = node.leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(a) for a in names.get_values_for_type(x509.IPAddress)] == [
        "172.30.213.7",
        "127.0.0.1",
    ]
    # pgBackRest 2.45 looks for the address among the DNS names
    assert names.get_values_for_type(x509.DNSName) == ["pg1a2b3c4d5e", "172.30.213.7", "localhost"]
    usages = node.leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(usages) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}


def test_a_certificate_is_issued_anew_near_its_end_or_for_another_address(chain):
    _, _, node = chain
    assert tls.still_good(node, "pg1a2b3c4d5e", "172.30.213.7")
    assert not tls.still_good(node, "pg1a2b3c4d5e", "172.30.213.8")
    assert not tls.still_good(node, "pgother", "172.30.213.7")
    end = node.leaf.not_valid_after_utc
    assert tls.still_good(node, "pg1a2b3c4d5e", "172.30.213.7", end - timedelta(days=31))
    assert not tls.still_good(node, "pg1a2b3c4d5e", "172.30.213.7", end - timedelta(days=29))
    assert end - datetime.now(UTC) > timedelta(days=364)


def test_a_keys_lines_are_what_logs_redact(chain):
    _, _, node = chain
    lines = tls.key_lines(node.key)
    assert lines and all(line in node.key and "-----" not in line for line in lines)


def test_the_root_is_made_once_and_its_key_is_kept_encrypted(tmp_path):
    settings = {"DATA_DIR": str(tmp_path)}
    first = tls.root(settings)
    again = tls.root(settings)
    assert first == again
    kept = (tmp_path / "tls" / "ca.key.fernet").read_bytes()
    assert b"PRIVATE KEY" not in kept
    assert oct((tmp_path / "tls" / "ca.key.fernet").stat().st_mode & 0o777) == "0o600"
