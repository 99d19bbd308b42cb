"""Settings: defaults here, overridden by ``DBAAS_*`` environment variables."""

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

REPOSITORY = Path(__file__).resolve().parent.parent

# A setting marked FIXED is never read from the environment.
FIXED = {"environment": False}


@dataclass(frozen=True)
class Settings(Mapping):
    """Every setting, typed; DBAAS_<NAME> in the environment sets <NAME>. Frozen: what
    the service runs with does not change under it. A mapping too (settings["DATA_DIR"]),
    as Flask's configuration is."""

    DATA_DIR: str = "/var/lib/dbaas"
    # Empty means the embedded SQLite database at $DATA_DIR/dbaas.db.
    DATABASE_URL: str = ""
    # Empty means the local Redis `make setup` runs: 127.0.0.1:6379, with the password
    # it generated in $DATA_DIR/redis/password (0600). RQ loads pickles: no Redis
    # without a password, and only on loopback.
    REDIS_URL: str = ""
    QUEUE_NAME: str = "dbaas"
    # Largest page a list answers; clients ask for less with ?limit=.
    PAGE_LIMIT_MAX: int = 1000
    PAGE_LIMIT_DEFAULT: int = 100
    MAX_CONTENT_LENGTH: int = field(default=64 * 1024, metadata=FIXED)
    # Failed authentications an address may make in a window before it gets 429s.
    AUTH_FAILURE_LIMIT: int = 30
    AUTH_FAILURE_WINDOW: int = 60

    # Ansible content the worker runs (the repository's, unless a test brings its own).
    PLAYBOOKS_DIR: str = str(REPOSITORY / "playbooks")
    ROLES_DIR: str = str(REPOSITORY / "roles")
    # A running job writes a heartbeat every HEARTBEAT_INTERVAL seconds; one silent for
    # HEARTBEAT_TIMEOUT is dead, and its operation is retried (up to MAX_ATTEMPTS).
    HEARTBEAT_INTERVAL: float = 5
    HEARTBEAT_TIMEOUT: float = 60
    MAX_ATTEMPTS: int = 3
    # Days finished operations' run directories and idempotency keys are kept.
    RETENTION_DAYS: float = 7
    # The nspawn lab: the private network its nodes live on (the host takes the first
    # address, on the bridge), where images are cached and node state is kept.
    LAB_NETWORK: str = "172.30.213.0/24"
    LAB_BRIDGE: str = "dbaas0"
    IMAGE_CACHE_DIR: str = "/var/cache/dbaas/images"
    # Where nodes come from: a module of jobs/providers (nspawn, libvirt, static). The
    # static provider's machines are listed in the YAML file STATIC_HOSTS as
    # [{name, address, user (root), ssh_key, data_device (/dev/vdb), host_key}].
    PROVIDER: str = "nspawn"
    STATIC_HOSTS: str = ""
    # The control host's addresses as static machines see it, comma-separated: they
    # alone (with the instance's nodes) reach SSH, etcd, Patroni and the internal roles.
    CONTROL_ADDRESSES: str = ""
    LIBVIRT_URI: str = "qemu:///system"
    # Fencing (jobs/fencing.py): when the provider confirms the machine of an
    # instance's leader gone (the nspawn node's init ended, the libvirt domain stopped
    # or crashed), its leader key is removed from the instance's etcd at once and a
    # synchronous standby takes over in seconds, not after the key's ttl. Off: the ttl
    # alone (as with machines that are not ours: static).
    FENCING: bool = True
    # Each project's quotas unless an admin set others (`dbaas quotas set`): instances,
    # nodes, and the sums over its nodes of cores, RAM (MB) and data disk (GB).
    QUOTA_INSTANCES: int = 20
    QUOTA_NODES: int = 60
    QUOTA_CPU: int = 128
    QUOTA_RAM: int = 262_144
    QUOTA_DISK: int = 10_240
    # Whether lab nodes fit on this host: their memory limits against its memory, less
    # what it keeps for itself (MB), times RAM_OVERCOMMIT (1: a limit is a promise); their
    # data disks, sparse files that fill as data is written, against its free disk
    # times DISK_OVERCOMMIT.
    RESERVED_RAM: int = 2048
    RAM_OVERCOMMIT: float = 1.0
    DISK_OVERCOMMIT: float = 10.0
    # Backups (pgBackRest). The repository: an S3-compatible bucket when BACKUP_S3_BUCKET
    # is set; else a directory mounted on every node (BACKUP_PATH); else, for nspawn lab
    # nodes, a directory per instance under $DATA_DIR/backups shared into its nodes.
    # Without any, instances are not backed up (the static and libvirt providers).
    # host[:port] (https:// may lead it); pgBackRest speaks TLS only.
    BACKUP_S3_ENDPOINT: str = ""
    BACKUP_S3_BUCKET: str = ""
    BACKUP_S3_REGION: str = "us-east-1"
    BACKUP_S3_KEY: str = ""
    BACKUP_S3_KEY_SECRET: str = ""
    # The CA that verifies the endpoint's certificate, a file on this host (the nodes get
    # a copy); empty: the nodes' system CAs.
    BACKUP_S3_CA_FILE: str = ""
    BACKUP_PATH: str = ""
    # What a new instance gets unless its body says otherwise.
    BACKUP_SCHEDULE: str = "daily"
    BACKUP_RETENTION_DAYS: int = 7
    # A full backup when the last full one is this many days old; differential between.
    BACKUP_FULL_EVERY_DAYS: float = 7
    # A restore verified at least this often (and after every full backup).
    BACKUP_VERIFY_EVERY_HOURS: float = 24
    # Seconds between two measures of the instances' data disks (jobs/disks.py).
    DISK_CHECK_INTERVAL: float = 60
    # Seconds an Ansible run may take, by action, before it is stopped.
    RUN_TIMEOUT_CREATE: float = 3600
    RUN_TIMEOUT_UPDATE: float = 3600
    RUN_TIMEOUT_DELETE: float = 1200

    API_TITLE: str = field(default="dbaas — PostgreSQL Service API", metadata=FIXED)
    API_VERSION: str = field(default="v1", metadata=FIXED)
    OPENAPI_VERSION: str = field(default="3.0.3", metadata=FIXED)
    OPENAPI_URL_PREFIX: str = field(default="/", metadata=FIXED)
    OPENAPI_JSON_PATH: str = field(default="openapi.json", metadata=FIXED)
    OPENAPI_SWAGGER_UI_PATH: str = field(default="/docs", metadata=FIXED)
    # Served by the app itself from the swagger-ui-bundle package: no CDN needed.
    OPENAPI_SWAGGER_UI_URL: str = field(default="/docs/static/", metadata=FIXED)

    def __getitem__(self, name: str) -> Any:
        if name not in NAMES:
            raise KeyError(name)
        return getattr(self, name)

    def __iter__(self) -> Iterator[str]:
        return iter(NAMES)

    def __len__(self) -> int:
        return len(NAMES)


NAMES = tuple(setting.name for setting in fields(Settings))


def _boolean(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(value)


def from_environment(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    environ = os.environ if environ is None else environ
    found: dict[str, Any] = {}
    for setting in fields(Settings):
        value = environ.get(f"DBAAS_{setting.name}")
        if value and setting.metadata.get("environment", True):
            kind = setting.type  # str, int, float or bool
            try:
                found[setting.name] = _boolean(value) if kind is bool else kind(value)
            except ValueError:
                raise ValueError(f"DBAAS_{setting.name}={value!r}: not {kind.__name__}") from None
    return found


@dataclass(frozen=True)
class DataDir:
    """The data directory's layout, named once (scripts/setup.sh makes its first parts)."""

    root: Path

    @classmethod
    def of(cls, settings: Mapping[str, Any]) -> "DataDir":
        return cls(Path(settings["DATA_DIR"]))

    @property
    def database(self) -> Path:
        return self.root / "dbaas.db"

    @property
    def ssh_key(self) -> Path:
        """The service's key for logging in to nodes."""
        return self.root / "ssh" / "id_ed25519"

    @property
    def redis_password(self) -> Path:
        return self.root / "redis" / "password"

    @property
    def backups(self) -> Path:
        """The lab's backup repositories: one directory per archive, shared into its
        instance's nodes (and no other's)."""
        return self.root / "backups"

    @property
    def secret_key(self) -> Path:
        return self.root / "secret.key"

    @property
    def ca_certificate(self) -> Path:
        """The service's root CA certificate (clients trust it)."""
        return self.root / "tls" / "ca.pem"

    @property
    def ca_key(self) -> Path:
        """The root CA's key, encrypted with the secret key."""
        return self.root / "tls" / "ca.key.fernet"

    @property
    def nodes(self) -> Path:
        """Lab machines' state, one directory per node."""
        return self.root / "nodes"

    @property
    def runs(self) -> Path:
        """ansible-runner's directories, one per operation."""
        return self.root / "runs"

    @property
    def known_hosts(self) -> Path:
        """Nodes' pinned SSH host keys, one file per node record."""
        return self.root / "known_hosts"


def database_url(config: Mapping[str, Any]) -> str:
    if config.get("DATABASE_URL"):
        return config["DATABASE_URL"]
    return f"sqlite:///{DataDir.of(config).database}"


def redis_url(config: Mapping[str, Any]) -> str:
    if config.get("REDIS_URL"):
        return config["REDIS_URL"]
    password_file = DataDir.of(config).redis_password
    password = password_file.read_text().strip() if password_file.exists() else ""
    return f"redis://:{password}@127.0.0.1:6379/0" if password else "redis://127.0.0.1:6379/0"


def load(overrides: Mapping[str, Any] | None = None) -> Settings:
    """The effective settings: defaults, then environment, then ``overrides``."""
    given = {**from_environment(), **(overrides or {})}
    unknown = sorted(set(given) - set(NAMES))
    if unknown:
        raise ValueError(f"unknown settings: {', '.join(unknown)}")
    settings = Settings(**given)
    return replace(settings, DATABASE_URL=database_url(settings), REDIS_URL=redis_url(settings))
