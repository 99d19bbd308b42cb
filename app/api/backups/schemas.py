import marshmallow as ma

from app.api.common import ListQuerySchema, ProvisioningErrorSchema, Timestamp, status_field
from app.services.references import instance_uri
from core import backups
from core.models import BackupKind, BackupSchedule


class BackupPolicySchema(ma.Schema):
    """An instance's backups: how often, and how many days of points stay restorable."""

    schedule = ma.fields.String(
        validate=ma.validate.OneOf([s.value for s in BackupSchedule]),
        metadata={"description": "daily (default), hourly or none"},
    )
    retention_days = ma.fields.Integer(
        strict=True,
        validate=ma.validate.Range(1, 3650),
        metadata={"description": "1-3650 days of points kept restorable (default 7)"},
    )


class RecoveryWindowSchema(ma.Schema):
    earliest = Timestamp()
    latest = Timestamp()


class VerifiedRestoreSchema(ma.Schema):
    at = ma.fields.String()
    backup = ma.fields.String(allow_none=True)
    recovered_to = ma.fields.String(allow_none=True)
    seconds = ma.fields.Float(allow_none=True)
    ok = ma.fields.Boolean()
    error = ma.fields.String(allow_none=True)


class BackupSchema(ma.Schema):
    uuid = ma.fields.String(dump_only=True)
    instance = ma.fields.Function(lambda b: instance_uri(b.archive.uuid), dump_only=True)
    instance_name = ma.fields.Function(lambda b: b.archive.instance_name, dump_only=True)
    instance_deleted = ma.fields.Function(
        lambda b: b.archive.deleted_at is not None, dump_only=True
    )
    kind = ma.fields.String(dump_only=True, metadata={"enum": [k.value for k in BackupKind]})
    scheduled = ma.fields.Boolean(dump_only=True, metadata={"description": "taken by the schedule"})
    superseded = ma.fields.Boolean(
        dump_only=True,
        metadata={
            "description": "taken on a history an in-place restore replaced: restorable "
            "as itself (restore_from.backup), not as a point in time"
        },
    )
    status = status_field()
    error = ma.fields.Nested(ProvisioningErrorSchema, allow_none=True, dump_only=True)
    started_at = Timestamp(dump_only=True)
    finished_at = Timestamp(dump_only=True)
    size = ma.fields.Integer(dump_only=True, metadata={"description": "database size, bytes"})
    repository_size = ma.fields.Integer(
        dump_only=True, metadata={"description": "bytes this backup added to the repository"}
    )
    wal_start = ma.fields.String(dump_only=True)
    wal_stop = ma.fields.String(dump_only=True)
    expires_at = ma.fields.Function(
        lambda b: Timestamp()._serialize(backups.expires_at(b.archive), None, b),
        dump_only=True,
        metadata={"description": "a deleted instance's backups: when they are removed"},
    )
    created_at = Timestamp(dump_only=True)


class BackupCreateSchema(ma.Schema):
    kind = ma.fields.String(
        load_default=BackupKind.FULL.value,
        validate=ma.validate.OneOf([k.value for k in BackupKind]),
        metadata={"description": "full (default), diff (since the last full) or incr"},
    )


class ProjectBackupsQuerySchema(ListQuerySchema):
    instance = ma.fields.String(metadata={"description": "an instance's uuid (a deleted one too)"})


class RestoreFromSchema(ma.Schema):
    """Where a new instance's data comes from: an instance's backups (a deleted one's
    too, within their retention), at a point in time, a backup's end, or the latest."""

    instance = ma.fields.String(
        required=True, metadata={"description": "the source instance's uuid or URI"}
    )
    point_in_time = ma.fields.AwareDateTime(
        metadata={"description": "RFC 3339, inside the source's recovery_window"}
    )
    backup = ma.fields.String(metadata={"description": "a backup's uuid: its end, exactly"})

    @ma.validates_schema
    def one_point(self, data, **_kwargs):
        if "point_in_time" in data and "backup" in data:
            raise ma.ValidationError("Give point_in_time or backup, not both.", "backup")


class RestoreSchema(ma.Schema):
    point_in_time = ma.fields.AwareDateTime(
        required=True, metadata={"description": "RFC 3339, inside the recovery_window"}
    )
