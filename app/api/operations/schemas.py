import marshmallow as ma

from app.api.common import PageQuerySchema, ProvisioningErrorSchema, Timestamp
from app.services.references import instance_uri, user_uri
from core.models import Action, OperationStatus

ACTIONS = [action.value for action in Action]


class ProgressSchema(ma.Schema):
    done = ma.fields.Integer(metadata={"description": "tasks finished"})
    total = ma.fields.Integer(
        allow_none=True, metadata={"description": "tasks expected (from the last run)"}
    )
    task = ma.fields.String(allow_none=True, metadata={"description": "the current task"})
    host = ma.fields.String(allow_none=True)


def _target_uri(operation) -> str:
    instance = operation.instance.uuid
    if operation.target == "user":
        return user_uri(instance, operation.target_uuid)
    if operation.target == "database":
        return f"{instance_uri(instance)}/databases/{operation.target_uuid}"
    return instance_uri(instance)


class OperationSchema(ma.Schema):
    uuid = ma.fields.String(dump_only=True)
    instance = ma.fields.Function(lambda op: instance_uri(op.instance.uuid), dump_only=True)
    target = ma.fields.Function(_target_uri, dump_only=True)
    target_type = ma.fields.String(attribute="target", dump_only=True)
    action = ma.fields.String(dump_only=True, metadata={"enum": ACTIONS})
    status = ma.fields.String(dump_only=True, metadata={"enum": [s.value for s in OperationStatus]})
    progress = ma.fields.Nested(ProgressSchema, allow_none=True, dump_only=True)
    error = ma.fields.Nested(ProvisioningErrorSchema, allow_none=True, dump_only=True)
    attempts = ma.fields.Integer(dump_only=True)
    created_at = Timestamp(dump_only=True)
    started_at = Timestamp(dump_only=True)
    finished_at = Timestamp(dump_only=True)


class OperationQuerySchema(PageQuerySchema):
    status = ma.fields.String(validate=ma.validate.OneOf([s.value for s in OperationStatus]))
    action = ma.fields.String(validate=ma.validate.OneOf(ACTIONS))
