"""Certificates: the service's root CA, one intermediate CA per instance, one
certificate per node.

Clients trust the root (``GET /v1/postgres/instances/{uuid}/ca``) and verify a node's
PostgreSQL by its address. Each instance's intermediate signs that instance's node
certificates, and the instance's etcd trusts only its own intermediate for client and
peer certificates: a node of another instance holds a certificate the root vouches for,
yet is neither an etcd client nor a peer here.

Private keys are encrypted at rest with the service's secret key (core.secrets): the
root's in the data directory, the others in the database with the instance's secrets.
"""

import ipaddress
import json
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.config import DataDir
from core.models import Instance, InstanceSecret, Node
from core.secrets import cipher

ROOT_DAYS = 20 * 365
INSTANCE_CA_DAYS = 10 * 365
NODE_DAYS = 365
# A node certificate closer than this to its end is issued anew at the instance's next
# run; the recovery sweep starts a run for instances whose certificates come this close.
RENEW_BEFORE = timedelta(days=30)

INSTANCE_CA_SECRET = "tls_instance_ca"  # noqa: S105 (a row name, not a secret)


@dataclass(frozen=True)
class Issued:
    """A certificate (PEM, with the chain up to, not including, the root) and its key."""

    certificate: str
    key: str

    def to_json(self) -> bytes:
        return json.dumps({"certificate": self.certificate, "key": self.key}).encode()

    @classmethod
    def from_json(cls, data: bytes) -> "Issued":
        value = json.loads(data)
        return cls(value["certificate"], value["key"])

    @property
    def leaf(self) -> x509.Certificate:
        return x509.load_pem_x509_certificates(self.certificate.encode())[0]


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def _cert_pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "dbaas"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _builder(subject: x509.Name, issuer: x509.Name, key, days: int, now: datetime):
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))  # clocks a little behind
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
    )


_CA_USAGE = x509.KeyUsage(
    digital_signature=True,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=True,
    crl_sign=True,
    encipher_only=False,
    decipher_only=False,
)


def new_root(now: datetime | None = None) -> Issued:
    now = now or datetime.now(UTC)
    key = _new_key()
    name = _name("dbaas root CA")
    certificate = (
        _builder(name, name, key, ROOT_DAYS, now)
        .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
        .add_extension(_CA_USAGE, critical=True)
        .sign(key, hashes.SHA256())
    )
    return Issued(_cert_pem(certificate), _key_pem(key))


def _issued_by(issuer: Issued, builder, key) -> x509.Certificate:
    issuer_key = serialization.load_pem_private_key(issuer.key.encode(), None)
    return builder.add_extension(
        x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), False
    ).sign(issuer_key, hashes.SHA256())


def new_instance_ca(root: Issued, instance_uuid: str, now: datetime | None = None) -> Issued:
    now = now or datetime.now(UTC)
    key = _new_key()
    builder = (
        _builder(
            _name(f"dbaas instance {instance_uuid}"), root.leaf.subject, key, INSTANCE_CA_DAYS, now
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_CA_USAGE, critical=True)
    )
    return Issued(_cert_pem(_issued_by(root, builder, key)), _key_pem(key))


def subject_alternative_names(name: str, address: str) -> list[x509.GeneralName]:
    """A node is verified by its address (the connection URI names addresses) and its
    name; the loopback names serve the node's own tools (etcdctl on 127.0.0.1). The
    address is a DNS name too: pgBackRest 2.45 matches a host against the common name
    and DNS names only."""
    return [
        x509.IPAddress(ipaddress.ip_address(address)),
        x509.DNSName(name),
        x509.DNSName(address),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.DNSName("localhost"),
    ]


def new_node_certificate(
    instance_ca: Issued, name: str, address: str, now: datetime | None = None
) -> Issued:
    """Server and client use both: etcd peers present one certificate either way."""
    now = now or datetime.now(UTC)
    key = _new_key()
    builder = (
        _builder(_name(name), instance_ca.leaf.subject, key, NODE_DAYS, now)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=True,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectAlternativeName(subject_alternative_names(name, address)), False)
    )
    chain = _cert_pem(_issued_by(instance_ca, builder, key)) + instance_ca.certificate
    return Issued(chain, _key_pem(key))


CONTROL_CLIENT_HOURS = 24


def new_control_client_certificate(instance_ca: Issued, now: datetime | None = None) -> Issued:
    """A client certificate for this host's own calls into an instance's etcd (the
    fencing of a dead leader): the instance's etcd trusts what its own CA issued. Kept
    in memory only, for a day; client use alone."""
    now = now or datetime.now(UTC)
    key = _new_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name("dbaas control"))
        .issuer_name(instance_ca.leaf.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(hours=CONTROL_CLIENT_HOURS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    )
    chain = _cert_pem(_issued_by(instance_ca, builder, key)) + instance_ca.certificate
    return Issued(chain, _key_pem(key))


def still_good(issued: Issued, name: str, address: str, now: datetime | None = None) -> bool:
    """Whether a node's certificate names this node and has more than RENEW_BEFORE left."""
    now = now or datetime.now(UTC)
    leaf = issued.leaf
    try:
        names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    return (
        list(names) == subject_alternative_names(name, address)
        and leaf.not_valid_after_utc - RENEW_BEFORE > now
    )


def key_lines(key_pem: str) -> tuple[str, ...]:
    """A PEM key's base64 lines, to redact from logs one by one."""
    return tuple(line for line in key_pem.splitlines() if line and not line.startswith("-----"))


# --- kept by the service -------------------------------------------------------------


def root(settings: dict[str, Any]) -> Issued:
    """The service's root CA, made once (set-up makes it; the worker would otherwise)."""
    layout = DataDir.of(settings)
    certificate_path, key_path = layout.ca_certificate, layout.ca_key
    if not (certificate_path.exists() and key_path.exists()):
        made = new_root()
        certificate_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first: wait for its certificate
            pass
        else:
            with os.fdopen(fd, "wb") as handle:
                handle.write(cipher(settings).encrypt(made.key.encode()))
            temporary = certificate_path.with_suffix(".tmp")
            temporary.write_text(made.certificate)
            temporary.replace(certificate_path)
            return made
    for _ in range(50):
        if certificate_path.exists():
            break
        time.sleep(0.1)
    key = cipher(settings).decrypt(key_path.read_bytes()).decode()
    return Issued(certificate_path.read_text(), key)


def root_certificate(settings: dict[str, Any]) -> str:
    """The root's certificate, PEM: what clients verify nodes with (no key decrypted)."""
    path = DataDir.of(settings).ca_certificate
    return path.read_text() if path.exists() else root(settings).certificate


class _Kept:
    """An instance's TLS rows (its CA's and its nodes'), read in one query and
    decrypted with one cipher."""

    def __init__(self, session: Session, instance: Instance, settings: dict[str, Any]):
        self.session, self.instance, self.box = session, instance, cipher(settings)
        self.rows = {
            row.name: row
            for row in session.scalars(
                select(InstanceSecret).where(
                    InstanceSecret.instance_id == instance.id,
                    InstanceSecret.name.startswith("tls_", autoescape=True),
                )
            )
        }

    def load(self, name: str) -> Issued | None:
        row = self.rows.get(name)
        return None if row is None else Issued.from_json(self.box.decrypt(row.ciphertext))

    def keep(self, name: str, issued: Issued) -> None:
        ciphertext = self.box.encrypt(issued.to_json())
        if name in self.rows:
            self.rows[name].ciphertext = ciphertext
        else:
            self.rows[name] = InstanceSecret(
                instance_id=self.instance.id, name=name, ciphertext=ciphertext
            )
            self.session.add(self.rows[name])

    def drop_all_but(self, names: set[str]) -> None:
        for name in set(self.rows) - names:
            self.session.delete(self.rows.pop(name))


def node_secret_name(node: Node) -> str:
    return f"tls_node_{node.id}"


def instance_certificates(
    session: Session, instance: Instance, nodes: list[Node], settings: dict[str, Any]
) -> dict[str, Any]:
    """The root's and the instance CA's certificates, and each node's certificate and
    key: issued on first use and again when near their end or when a node's address
    changed, else the stored ones (a run again changes no file on the nodes). The
    root's key is decrypted only to make the instance's CA."""
    kept = _Kept(session, instance, settings)
    instance_ca = kept.load(INSTANCE_CA_SECRET)
    if instance_ca is None:
        instance_ca = new_instance_ca(root(settings), instance.uuid)
        kept.keep(INSTANCE_CA_SECRET, instance_ca)
    # A node removed by an update takes its certificate with it.
    kept.drop_all_but({INSTANCE_CA_SECRET} | {node_secret_name(n) for n in instance.nodes})
    certificates = {}
    for node in nodes:
        issued = kept.load(node_secret_name(node))
        if issued is None or not still_good(issued, node.name, node.address):
            issued = new_node_certificate(instance_ca, node.name, node.address)
            kept.keep(node_secret_name(node), issued)
        certificates[node.name] = {"certificate": issued.certificate, "key": issued.key}
    session.commit()
    return {
        "ca_certificate": root_certificate(settings),
        "instance_ca_certificate": instance_ca.certificate,
        "nodes": certificates,
    }


def control_client_certificate(
    session: Session, instance: Instance, settings: dict[str, Any]
) -> Issued | None:
    """A fresh control client certificate of the instance's CA; None before its CA
    exists (no run has reached the instance yet)."""
    instance_ca = _Kept(session, instance, settings).load(INSTANCE_CA_SECRET)
    return None if instance_ca is None else new_control_client_certificate(instance_ca)


def renewal_due(
    session: Session, instance: Instance, settings, now: datetime | None = None
) -> bool:
    """Whether a node certificate of the instance is within RENEW_BEFORE of its end."""
    now = now or datetime.now(UTC)
    kept = _Kept(session, instance, settings)
    for node in instance.nodes:
        issued = kept.load(node_secret_name(node))
        if issued is not None and issued.leaf.not_valid_after_utc - RENEW_BEFORE <= now:
            return True
    return False
