import marshmallow as ma

from app.api.backups.schemas import (
    BackupPolicySchema,
    RecoveryWindowSchema,
    RestoreFromSchema,
    VerifiedRestoreSchema,
)
from app.api.common import (
    ClientUuids,
    Description,
    ProvisioningErrorSchema,
    Text,
    Timestamp,
    checked_by,
    documented,
    status_field,
)
from app.services import references
from app.services.references import version_uri
from core import backups, rules


def _policy(instance) -> dict | None:
    archive = instance.archive
    if archive is None:
        return None
    return {"schedule": archive.schedule, "retention_days": archive.retention_days}


def _sized(bounds: tuple[int, int], unit: str, **kwargs) -> ma.fields.Integer:
    low, high = bounds
    return ma.fields.Integer(
        strict=True,
        validate=ma.validate.Range(low, high),
        metadata={"description": f"{low}-{high} {unit}".strip()},
        **kwargs,
    )


class InstanceSchema(ma.Schema):
    uuid = ma.fields.String(dump_only=True)
    project_id = ma.fields.String(dump_only=True)
    name = ma.fields.String(dump_only=True)
    description = ma.fields.String(dump_only=True)
    cpu = ma.fields.Integer(dump_only=True)
    ram = ma.fields.Integer(dump_only=True, metadata={"description": "MB"})
    disk_size = ma.fields.Integer(dump_only=True, metadata={"description": "GB"})
    max_disk_size = ma.fields.Integer(
        dump_only=True, metadata={"description": "GB the disk may grow to by itself; 0: off"}
    )
    disk_usage = ma.fields.Dict(
        dump_only=True,
        allow_none=True,
        metadata={"description": "the fullest data disk as last measured: percent, used_gb, at"},
    )
    warnings = ma.fields.List(ma.fields.String(), dump_only=True)
    nodes_number = ma.fields.Integer(dump_only=True)
    sync_replica_number = ma.fields.Integer(dump_only=True, metadata={"description": "as asked"})
    effective_sync_replica_number = ma.fields.Integer(
        dump_only=True, metadata={"description": "min(sync_replica_number, nodes_number - 1)"}
    )
    version = ma.fields.Function(
        lambda instance: version_uri(instance.version.uuid), dump_only=True
    )
    status = status_field()
    error = ma.fields.Nested(ProvisioningErrorSchema, allow_none=True, dump_only=True)
    ipsv4 = ma.fields.List(ma.fields.String(), dump_only=True)
    connection_uri = ma.fields.String(
        dump_only=True,
        allow_none=True,
        metadata={"description": "multi-host libpq URI reaching the primary; add user and dbname"},
    )
    backup = ma.fields.Function(
        lambda instance: BackupPolicySchema().dump(_policy(instance)) if instance.archive else None,
        dump_only=True,
        metadata={"description": "schedule and retention; null: no backup repository"},
    )
    recovery_window = ma.fields.Function(
        lambda instance: (
            RecoveryWindowSchema().dump(backups.window(instance.archive))
            if instance.archive and backups.window(instance.archive)
            else None
        ),
        dump_only=True,
        metadata={"description": "{earliest, latest}: every point between can be restored"},
    )
    last_verified_restore = ma.fields.Function(
        lambda instance: (
            VerifiedRestoreSchema().dump(instance.archive.last_verified_restore)
            if instance.archive and instance.archive.last_verified_restore
            else None
        ),
        dump_only=True,
    )
    created_at = Timestamp(dump_only=True)
    updated_at = Timestamp(dump_only=True)


class InstanceUpdateSchema(ma.Schema):
    """A partial update; fields not listed here (status, uuid, ...) are refused."""

    name = Text(
        validate=checked_by(rules.instance_name_error),
        metadata=documented(rules.INSTANCE_NAME, "unique in the project"),
    )
    description = Description()
    cpu = _sized(rules.CPU, "cores")
    ram = _sized(rules.RAM_MB, "MB")
    disk_size = _sized(rules.DISK_GB, "GB; never shrinks")
    max_disk_size = ma.fields.Integer(
        strict=True,
        validate=ma.validate.Range(0, rules.DISK_GB[1]),
        metadata={
            "description": f"0 (off) or disk_size-{rules.DISK_GB[1]} GB: at "
            f"{rules.DISK_GROW_AT_PERCENT}% full the disk grows by a quarter (at least 1 GB) "
            "up to this"
        },
    )
    nodes_number = _sized(rules.NODES, "nodes")
    sync_replica_number = _sized(rules.SYNC_REPLICAS, "replicas confirming each commit")
    backup = ma.fields.Nested(BackupPolicySchema)
    version = Text(
        metadata=documented(
            references.VERSION_REF,
            "the instance's own version (nothing changes); an upgrade is POST .../upgrade",
        ),
    )

    @ma.validates_schema
    def not_empty(self, data, **_kwargs):
        if not data:
            raise ma.ValidationError("Give at least one field to change.")


class InstanceCreateSchema(ClientUuids, InstanceUpdateSchema):
    name = Text(
        required=True,
        validate=checked_by(rules.instance_name_error),
        metadata=documented(rules.INSTANCE_NAME, "unique in the project"),
    )
    cpu = _sized(rules.CPU, "cores", required=True)
    ram = _sized(rules.RAM_MB, "MB", required=True)
    disk_size = _sized(rules.DISK_GB, "GB", required=True)
    nodes_number = _sized(rules.NODES, "nodes", load_default=1)
    sync_replica_number = _sized(
        rules.SYNC_REPLICAS, "replicas confirming each commit", load_default=0
    )
    version = Text(
        metadata=documented(
            references.VERSION_REF,
            "/v1/types/postgres/versions/UUID or the bare UUID (full URIs too); a version"
            " in the catalogue, not deprecated. Required, except with restore_from (the"
            " source's version)",
        ),
    )
    restore_from = ma.fields.Nested(
        RestoreFromSchema,
        metadata={"description": "start from an instance's backups instead of empty"},
    )


class SwitchoverSchema(ma.Schema):
    to = ma.fields.IPv4(
        metadata={
            "description": "the address of the healthy replica to hand the primary's role "
            "to (one of ipsv4); default: a synchronous standby"
        }
    )


class UpgradeSchema(ma.Schema):
    version = Text(
        metadata=documented(
            references.VERSION_REF,
            "the version to upgrade to (a higher PostgreSQL major); absent: the newest "
            "packages of the instance's own version, node by node",
        ),
    )
