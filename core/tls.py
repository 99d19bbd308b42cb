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


def _signer(issuer: Issued):
    return issuer.leaf, serialization.load_pem_private_key(issuer.key.encode(), None)


def _issued_by(issuer: Issued, builder, key) -> x509.Certificate:
    issuer_cert, issuer_key = _signer(issuer)
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
    name; the loopback names serve the node's own tools (etcdctl on 127.0.0.1)."""
    return [
        x509.IPAddress(ipaddress.ip_address(address)),
        x509.DNSName(name),
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


def _stored(session: Session, instance: Instance, name: str) -> InstanceSecret | None:
    return session.scalars(
        select(InstanceSecret).where(
            InstanceSecret.instance_id == instance.id, InstanceSecret.name == name
        )
    ).first()


def _keep(session: Session, instance: Instance, name: str, issued: Issued, settings) -> None:
    ciphertext = cipher(settings).encrypt(issued.to_json())
    row = _stored(session, instance, name)
    if row is None:
        session.add(InstanceSecret(instance_id=instance.id, name=name, ciphertext=ciphertext))
    else:
        row.ciphertext = ciphertext


def _load(session: Session, instance: Instance, name: str, settings) -> Issued | None:
    row = _stored(session, instance, name)
    return None if row is None else Issued.from_json(cipher(settings).decrypt(row.ciphertext))


def node_secret_name(node: Node) -> str:
    return f"tls_node_{node.id}"


def instance_certificates(
    session: Session, instance: Instance, nodes: list[Node], settings: dict[str, Any]
) -> dict[str, Any]:
    """The root's and the instance CA's certificates, and each node's certificate and
    key: issued on first use and again when near their end or when a node's address
    changed, else the stored ones (a run again changes no file on the nodes)."""
    service_root = root(settings)
    instance_ca = _load(session, instance, INSTANCE_CA_SECRET, settings)
    if instance_ca is None:
        instance_ca = new_instance_ca(service_root, instance.uuid)
        _keep(session, instance, INSTANCE_CA_SECRET, instance_ca, settings)
    # A node removed by an update takes its certificate with it.
    kept = {node_secret_name(node) for node in instance.nodes}
    for row in session.scalars(
        select(InstanceSecret).where(
            InstanceSecret.instance_id == instance.id, InstanceSecret.name.like("tls_node_%")
        )
    ):
        if row.name not in kept:
            session.delete(row)
    certificates = {}
    for node in nodes:
        issued = _load(session, instance, node_secret_name(node), settings)
        if issued is None or not still_good(issued, node.name, node.address):
            issued = new_node_certificate(instance_ca, node.name, node.address)
            _keep(session, instance, node_secret_name(node), issued, settings)
        certificates[node.name] = {"certificate": issued.certificate, "key": issued.key}
    session.commit()
    return {
        "ca_certificate": service_root.certificate,
        "instance_ca_certificate": instance_ca.certificate,
        "nodes": certificates,
    }


def renewal_due(
    session: Session, instance: Instance, settings, now: datetime | None = None
) -> bool:
    """Whether a node certificate of the instance is within RENEW_BEFORE of its end."""
    now = now or datetime.now(UTC)
    for node in instance.nodes:
        issued = _load(session, instance, node_secret_name(node), settings)
        if issued is not None and issued.leaf.not_valid_after_utc - RENEW_BEFORE <= now:
            return True
    return False
