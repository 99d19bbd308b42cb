"""Configuration: defaults here, overridden by ``DBAAS_*`` environment variables."""

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPOSITORY = Path(__file__).resolve().parent.parent


class DefaultConfig:
    DATA_DIR = "/var/lib/dbaas"
    # Empty means the embedded SQLite database at $DATA_DIR/dbaas.db.
    DATABASE_URL = ""
    # Empty means the local Redis `make setup` runs: 127.0.0.1:6379, with the password
    # it generated in $DATA_DIR/redis/password (0600). RQ loads pickles: no Redis
    # without a password, and only on loopback.
    REDIS_URL = ""
    QUEUE_NAME = "dbaas"
    # Largest page a list answers; clients ask for less with ?limit=.
    PAGE_LIMIT_MAX = 1000
    PAGE_LIMIT_DEFAULT = 100
    MAX_CONTENT_LENGTH = 64 * 1024
    # Failed authentications an address may make in a window before it gets 429s.
    AUTH_FAILURE_LIMIT = 30
    AUTH_FAILURE_WINDOW = 60

    # Ansible content the worker runs (the repository's, unless a test brings its own).
    PLAYBOOKS_DIR = str(REPOSITORY / "playbooks")
    ROLES_DIR = str(REPOSITORY / "roles")
    # A running job writes a heartbeat every HEARTBEAT_INTERVAL seconds; one silent for
    # HEARTBEAT_TIMEOUT is dead, and its operation is retried (up to MAX_ATTEMPTS).
    HEARTBEAT_INTERVAL = 5
    HEARTBEAT_TIMEOUT = 60
    MAX_ATTEMPTS = 3
    # Days finished operations' run directories and idempotency keys are kept.
    RETENTION_DAYS = 7
    # The nspawn lab: the private network its nodes live on (the host takes the first
    # address, on the bridge), where images are cached and node state is kept.
    LAB_NETWORK = "172.30.213.0/24"
    LAB_BRIDGE = "dbaas0"
    IMAGE_CACHE_DIR = "/var/cache/dbaas/images"
    # Where nodes come from: "nspawn" builds lab nodes on this host; "libvirt" boots
    # them as virtual machines (LIBVIRT_URI) on the lab network; "static" places
    # instances on machines that already exist (bare metal, Vagrant), listed in the YAML
    # file STATIC_HOSTS as [{name, address, user (root), data_device (/dev/vdb)}].
    PROVIDER = "nspawn"
    STATIC_HOSTS = ""
    LIBVIRT_URI = "qemu:///system"
    # Seconds an Ansible run may take, by action, before it is stopped.
    RUN_TIMEOUT_CREATE = 3600
    RUN_TIMEOUT_UPDATE = 3600
    RUN_TIMEOUT_DELETE = 1200

    API_TITLE = "dbaas — PostgreSQL Service API"
    API_VERSION = "v1"
    OPENAPI_VERSION = "3.0.3"
    OPENAPI_URL_PREFIX = "/"
    OPENAPI_JSON_PATH = "openapi.json"
    OPENAPI_SWAGGER_UI_PATH = "/docs"
    # Served by the app itself from the swagger-ui-bundle package: no CDN needed.
    OPENAPI_SWAGGER_UI_URL = "/docs/static/"


# Settings read from the environment, with the type to parse them as.
_ENV_SETTINGS: dict[str, type] = {
    "DATA_DIR": str,
    "DATABASE_URL": str,
    "REDIS_URL": str,
    "QUEUE_NAME": str,
    "PAGE_LIMIT_MAX": int,
    "PAGE_LIMIT_DEFAULT": int,
    "AUTH_FAILURE_LIMIT": int,
    "AUTH_FAILURE_WINDOW": int,
    "PLAYBOOKS_DIR": str,
    "ROLES_DIR": str,
    "HEARTBEAT_INTERVAL": float,
    "HEARTBEAT_TIMEOUT": float,
    "MAX_ATTEMPTS": int,
    "RETENTION_DAYS": float,
    "RUN_TIMEOUT_CREATE": float,
    "RUN_TIMEOUT_UPDATE": float,
    "RUN_TIMEOUT_DELETE": float,
    "LAB_NETWORK": str,
    "LAB_BRIDGE": str,
    "IMAGE_CACHE_DIR": str,
    "PROVIDER": str,
    "STATIC_HOSTS": str,
    "LIBVIRT_URI": str,
}


def from_environment(environ: dict[str, str] | None = None) -> dict[str, Any]:
    environ = os.environ if environ is None else environ
    settings: dict[str, Any] = {}
    for name, kind in _ENV_SETTINGS.items():
        value = environ.get(f"DBAAS_{name}")
        if value:
            settings[name] = kind(value)
    return settings


@dataclass(frozen=True)
class DataDir:
    """The data directory's layout, named once (scripts/setup.sh makes its first parts)."""

    root: Path

    @classmethod
    def of(cls, settings: dict[str, Any]) -> "DataDir":
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
    def secret_key(self) -> Path:
        return self.root / "secret.key"

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


def database_url(config: dict[str, Any]) -> str:
    if config.get("DATABASE_URL"):
        return config["DATABASE_URL"]
    return f"sqlite:///{DataDir.of(config).database}"


def redis_url(config: dict[str, Any]) -> str:
    if config.get("REDIS_URL"):
        return config["REDIS_URL"]
    password_file = DataDir.of(config).redis_password
    password = password_file.read_text().strip() if password_file.exists() else ""
    return f"redis://:{password}@127.0.0.1:6379/0" if password else "redis://127.0.0.1:6379/0"


def load(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The effective configuration: defaults, then environment, then ``overrides``."""
    config = {k: v for k, v in vars(DefaultConfig).items() if k.isupper()}
    config.update(from_environment())
    config.update(overrides or {})
    config["DATABASE_URL"] = database_url(config)
    config["REDIS_URL"] = redis_url(config)
    return config
