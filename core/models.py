"""The data model. The SQL database is the source of truth; Redis only carries ids."""

import enum
import uuid as uuid_lib
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from core import rules


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_uuid() -> str:
    return str(uuid_lib.uuid4())


class UTCDateTime(TypeDecorator):
    """Stored naive in UTC (SQLite keeps no zone), always read back aware."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, _dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, _dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Status(enum.StrEnum):
    """The four statuses of the spec; the operation says what is happening."""

    NEW = "NEW"
    IN_PROGRESS = "IN_PROGRESS"
    ACTIVE = "ACTIVE"
    ERROR = "ERROR"


class OperationStatus(enum.StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"

    @classmethod
    def unfinished(cls) -> tuple[str, ...]:
        return (cls.PENDING.value, cls.RUNNING.value)


class Action(enum.StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    # Internal: bring an instance's stopped machines back (host reboot, node crash).
    START = "start"
    # An instance's data put back as of a point in time (its nodes rebuilt from a backup).
    RESTORE = "restore"
    # A backup restored somewhere throwaway and checked (pg_amcheck), then removed.
    VERIFY = "verify"
    # The primary's role handed to a replica; the instance keeps serving.
    SWITCHOVER = "switchover"
    # The newest packages of the instance's suite, node by node; it keeps serving.
    UPGRADE = "upgrade"


class Target(enum.StrEnum):
    INSTANCE = "instance"
    USER = "user"
    DATABASE = "database"
    BACKUP = "backup"


class BackupKind(enum.StrEnum):
    FULL = "full"
    DIFF = "diff"
    INCR = "incr"


class BackupSchedule(enum.StrEnum):
    DAILY = "daily"
    HOURLY = "hourly"
    NONE = "none"


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON}


class Timestamped:
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class IdempotencyKey(Base):
    """A POST made with an Idempotency-Key: what it asked (a digest) and what it got,
    so that a replay gets the same answer instead of a second resource."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("project_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[str] = mapped_column(String(36))
    key: Mapped[str] = mapped_column(String(255))
    request_digest: Mapped[str] = mapped_column(String(64))
    # None while the first request is being handled.
    status_code: Mapped[int | None] = mapped_column(default=None)
    response: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    location: Mapped[str | None] = mapped_column(String(255), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Token(Base):
    """An API bearer token; only its SHA-256 is stored."""

    __tablename__ = "tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    project_id: Mapped[str] = mapped_column(String(36), index=True)
    is_admin: Mapped[bool] = mapped_column(default=False)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # None: never expires. A revoked token stays listed, refused.
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    # Written at most once a minute (LAST_USED_EVERY), not on every request.
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)


class Quota(Timestamped, Base):
    """A project's limits set by an admin; a NULL limit is the configured default."""

    __tablename__ = "quotas"

    project_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    instances: Mapped[int | None] = mapped_column(Integer, default=None)
    nodes: Mapped[int | None] = mapped_column(Integer, default=None)
    cpu: Mapped[int | None] = mapped_column(Integer, default=None)
    ram: Mapped[int | None] = mapped_column(Integer, default=None)
    disk: Mapped[int | None] = mapped_column(Integer, default=None)


class Version(Timestamped, Base):
    __tablename__ = "versions"

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    image: Mapped[str] = mapped_column(String(64))
    deprecated: Mapped[bool] = mapped_column(default=False)


class Instance(Timestamped, Base):
    __tablename__ = "instances"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    project_id: Mapped[str] = mapped_column(String(36), index=True)
    name: Mapped[str] = mapped_column(String(63))
    description: Mapped[str] = mapped_column(Text, default="")
    cpu: Mapped[int] = mapped_column(Integer)
    ram: Mapped[int] = mapped_column(Integer)
    disk_size: Mapped[int] = mapped_column(Integer)
    nodes_number: Mapped[int] = mapped_column(Integer)
    sync_replica_number: Mapped[int] = mapped_column(Integer)
    version_id: Mapped[int] = mapped_column(ForeignKey("versions.id"))
    status: Mapped[str] = mapped_column(String(16), default=Status.NEW)
    error: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    # The data disk grows by itself up to this (GB) when it fills (jobs/disks.py); 0: off.
    max_disk_size: Mapped[int] = mapped_column(Integer, default=0)
    # The fullest data disk as last measured: {"percent", "used_gb", "node_index", "at"}.
    disk_usage: Mapped[dict[str, Any] | None] = mapped_column(default=None)

    version: Mapped[Version] = relationship(lazy="joined")
    # Loaded with the instance (ipsv4, connection_uri): one query, not one more per read.
    nodes: Mapped[list["Node"]] = relationship(
        lazy="selectin",
        back_populates="instance",
        cascade="all, delete-orphan",
        order_by="Node.index",
    )
    # Loaded only to be deleted with the instance (the rows hold no plaintext).
    secrets: Mapped[list["InstanceSecret"]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True
    )
    # Not deleted with the instance: its backups stay for their retention.
    archive: Mapped["Archive | None"] = relationship(back_populates="instance", lazy="selectin")

    @property
    def effective_sync_replica_number(self) -> int:
        return rules.effective_sync_replicas(self.sync_replica_number, self.nodes_number)

    @property
    def warnings(self) -> list[str]:
        """What the instance's owner should act on: a disk filling that cannot grow."""
        usage = self.disk_usage or {}
        percent = usage.get("percent", 0)
        if percent < rules.DISK_GROW_AT_PERCENT:
            return []
        if self.max_disk_size and self.disk_size >= self.max_disk_size:
            return [
                f"data disk {percent}% full at its max_disk_size ({self.max_disk_size} GB): "
                "raise max_disk_size or free space"
            ]
        if not self.max_disk_size:
            return [
                f"data disk {percent}% full (auto-grow off): grow disk_size or set max_disk_size"
            ]
        return []

    @property
    def ipsv4(self) -> list[str]:
        return [node.address for node in self.nodes if node.address]

    @property
    def connection_uri(self) -> str | None:
        """libpq multi-host URI that always reaches the primary (no user, no password),
        over TLS with the node verified by its address (the CA: GET .../ca)."""
        if self.status != "ACTIVE" or not self.ipsv4:
            return None
        hosts = ",".join(f"{address}:5432" for address in self.ipsv4)
        return f"postgresql://{hosts}/postgres?target_session_attrs=read-write&sslmode=verify-full"


class InstanceSecret(Base):
    """An internal credential of an instance, encrypted (core.secrets); never shown."""

    __tablename__ = "instance_secrets"
    __table_args__ = (UniqueConstraint("instance_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(32))
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Node(Timestamped, Base):
    """A machine of an instance: internal, never shown to API users."""

    __tablename__ = "nodes"
    __table_args__ = (UniqueConstraint("instance_id", "index"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id", ondelete="CASCADE"))
    index: Mapped[int] = mapped_column(Integer)
    # The host name in inventories and on the machine.
    name: Mapped[str] = mapped_column(String(63), unique=True)
    address: Mapped[str | None] = mapped_column(String(45), unique=True, default=None)
    # Runs an etcd member: decided when the instance is created, never moved.
    etcd_member: Mapped[bool] = mapped_column(default=False)
    status: Mapped[str] = mapped_column(String(16), default=Status.NEW)
    error: Mapped[dict[str, Any] | None] = mapped_column(default=None)

    instance: Mapped[Instance] = relationship(back_populates="nodes")


class User(Timestamped, Base):
    """A PostgreSQL role. Only its SCRAM-SHA-256 verifier is kept, never the password."""

    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("instance_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    instance_id: Mapped[int] = mapped_column(
        ForeignKey("instances.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(63))
    description: Mapped[str] = mapped_column(Text, default="")
    password_verifier: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=Status.NEW)
    error: Mapped[dict[str, Any] | None] = mapped_column(default=None)

    instance: Mapped[Instance] = relationship()


class Database(Timestamped, Base):
    __tablename__ = "databases"
    __table_args__ = (UniqueConstraint("instance_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    instance_id: Mapped[int] = mapped_column(
        ForeignKey("instances.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(63))
    description: Mapped[str] = mapped_column(Text, default="")
    # NO ACTION (checked at the end of the statement): a role that owns a database
    # cannot be dropped alone, yet deleting the instance removes both at once.
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(String(16), default=Status.NEW)
    error: Mapped[dict[str, Any] | None] = mapped_column(default=None)

    instance: Mapped[Instance] = relationship()
    owner: Mapped[User] = relationship(lazy="joined")


class Operation(Base):
    """One change to carry out on the machines: what a queued job does."""

    __tablename__ = "operations"

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    instance_id: Mapped[int] = mapped_column(
        ForeignKey("instances.id", ondelete="CASCADE"), index=True
    )
    target: Mapped[str] = mapped_column(String(16))
    target_uuid: Mapped[str] = mapped_column(String(36), index=True)
    action: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default=OperationStatus.PENDING, index=True)
    # What the change asks for: an update's {"changes": {"disk_size": [8, 12]}} (from, to).
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    progress: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    error: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Waiting for its turn on the instance (or for the instance to be ACTIVE): the
    # operation that finishes before it wakes it up.
    parked: Mapped[bool] = mapped_column(default=False)
    cancel_requested: Mapped[bool] = mapped_column(default=False)
    # Written by a running job every few seconds; a stale one means the job died.
    heartbeat_at: Mapped[datetime | None] = mapped_column(default=None)
    # ansible-playbook's PID while it runs, so a dead worker's run can be stopped.
    runner_pid: Mapped[int | None] = mapped_column(Integer, default=None)
    # Outbox: NULL until the job is on the queue; a relay enqueues the rest.
    enqueued_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)

    instance: Mapped[Instance] = relationship()


class Archive(Timestamped, Base):
    """An instance's pgBackRest stanza: its archived WAL and its backups, in a
    repository outside its nodes. It outlives the instance: kept retention_days after
    the DELETE, so that an accidental delete can be restored."""

    __tablename__ = "archives"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The stanza's name: the uuid of the instance it was made for.
    uuid: Mapped[str] = mapped_column(String(36), unique=True)
    project_id: Mapped[str] = mapped_column(String(36), index=True)
    instance_id: Mapped[int | None] = mapped_column(
        ForeignKey("instances.id", ondelete="SET NULL"), unique=True, default=None
    )
    instance_name: Mapped[str] = mapped_column(String(63))
    # What restores it: the source's PostgreSQL major and image.
    version_id: Mapped[int] = mapped_column(ForeignKey("versions.id"))
    schedule: Mapped[str] = mapped_column(String(8), default=BackupSchedule.DAILY)
    retention_days: Mapped[int] = mapped_column(Integer, default=7)
    # repo1-cipher-pass, encrypted like the other internal credentials (core.secrets).
    passphrase: Mapped[bytes] = mapped_column(LargeBinary)
    # The oldest backup's end, and the last moment WAL was confirmed archived (a backup,
    # or pgBackRest's check): every point between them can be restored.
    recovery_earliest: Mapped[datetime | None] = mapped_column(default=None)
    recovery_latest: Mapped[datetime | None] = mapped_column(default=None)
    # Why the last backup or archive check failed (None: it worked).
    archive_error: Mapped[str | None] = mapped_column(Text, default=None)
    # {"at", "backup", "recovered_to", "seconds", "ok", "error"} of the last verification.
    last_verified_restore: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    # In-place restores: [{"from": point restored to, "to": when}]. The history between
    # was replaced: no point inside can be restored any more (only backups taken then).
    abandoned: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # The instance's DELETE: the archive is removed retention_days after it.
    deleted_at: Mapped[datetime | None] = mapped_column(default=None)

    instance: Mapped[Instance | None] = relationship(back_populates="archive")
    version: Mapped[Version] = relationship(lazy="joined")
    backups: Mapped[list["Backup"]] = relationship(
        back_populates="archive", cascade="all, delete-orphan", passive_deletes=True
    )


class Backup(Timestamped, Base):
    """One pgBackRest backup of an archive. The figures are pgBackRest's own (info)."""

    __tablename__ = "backups"

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    archive_id: Mapped[int] = mapped_column(
        ForeignKey("archives.id", ondelete="CASCADE"), index=True
    )
    # pgBackRest's label (20261202-101500F), known once the backup is taken.
    label: Mapped[str | None] = mapped_column(String(64), default=None)
    kind: Mapped[str] = mapped_column(String(8), default=BackupKind.FULL)
    # Taken by the schedule (or before an in-place restore) rather than asked for.
    scheduled: Mapped[bool] = mapped_column(default=False)
    # Taken on a history an in-place restore replaced: restorable only as itself.
    superseded: Mapped[bool] = mapped_column(default=False)
    status: Mapped[str] = mapped_column(String(16), default=Status.NEW)
    error: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    size: Mapped[int | None] = mapped_column(BigInteger, default=None)
    repository_size: Mapped[int | None] = mapped_column(BigInteger, default=None)
    wal_start: Mapped[str | None] = mapped_column(String(24), default=None)
    wal_stop: Mapped[str | None] = mapped_column(String(24), default=None)

    archive: Mapped[Archive] = relationship(back_populates="backups", lazy="joined")

    @property
    def instance(self) -> Instance | None:
        return self.archive.instance
