"""An S3-compatible server for the backup tests: moto's, over TLS with a certificate of
a CA made here, listening on this host's address on the test's lab bridge (made first,
as the lab_bridge role makes it, so there is an address to listen on). Stopped by PID."""

import ipaddress
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import boto3

from core import tls

KEY = "dbaas-test-key"
KEY_SECRET = "dbaas-test-secret-0123456789"  # noqa: S105 (moto's, for this test only)
BUCKET = "dbaas-backups"


@dataclass
class S3:
    endpoint: str
    ca_file: Path
    settings: dict[str, str]

    def client(self):
        return boto3.client(
            "s3",
            endpoint_url=f"https://{self.endpoint}",
            aws_access_key_id=KEY,
            aws_secret_access_key=KEY_SECRET,
            region_name="us-east-1",
            verify=str(self.ca_file),
        )

    def objects(self, prefix: str = "") -> dict[str, bytes]:
        client = self.client()
        listed = client.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])
        return {
            item["Key"]: client.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read()
            for item in listed
        }


def make_bridge(bridge: str, network: ipaddress.IPv4Network) -> str:
    address = str(next(network.hosts()))
    subprocess.run(["ip", "link", "add", bridge, "type", "bridge"], check=True)
    subprocess.run(
        ["ip", "addr", "add", f"{address}/{network.prefixlen}", "dev", bridge], check=True
    )
    subprocess.run(["ip", "link", "set", bridge, "up"], check=True)
    return address


def _free_port(address: str) -> int:
    with socket.socket() as probe:
        probe.bind((address, 0))
        return probe.getsockname()[1]


@contextmanager
def s3_server(tmp_path: Path, address: str) -> Iterator[S3]:
    root = tls.new_root()
    issuer = tls.new_instance_ca(root, "00000000-0000-4000-8000-000000000053")
    served = tls.new_node_certificate(issuer, "s3", address)  # the address a DNS name too
    directory = tmp_path / "s3"
    directory.mkdir()
    (directory / "cert.pem").write_text(served.certificate)
    (directory / "key.pem").write_text(served.key)
    ca_file = directory / "ca.pem"
    ca_file.write_text(root.certificate)
    port = _free_port(address)
    log = open(directory / "moto.log", "wb")  # noqa: SIM115 (closed below)
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.support.moto_tls",
            "-H",
            address,
            "-p",
            str(port),
            "-c",
            directory / "cert.pem",
            "-k",
            directory / "key.pem",
        ],
        cwd=Path(__file__).resolve().parents[2],  # where `tests` is a package
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    s3 = S3(
        endpoint=f"{address}:{port}",
        ca_file=ca_file,
        settings={
            "BACKUP_S3_ENDPOINT": f"{address}:{port}",
            "BACKUP_S3_BUCKET": BUCKET,
            "BACKUP_S3_REGION": "us-east-1",
            "BACKUP_S3_KEY": KEY,
            "BACKUP_S3_KEY_SECRET": KEY_SECRET,
            "BACKUP_S3_CA_FILE": str(ca_file),
        },
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                s3.client().create_bucket(Bucket=BUCKET)
                break
            except Exception:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        yield s3
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
