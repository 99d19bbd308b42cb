import marshmallow as ma

from app.api.common import ProvisioningErrorSchema, Timestamp, status_field


class NodeSchema(ma.Schema):
    """A machine of an instance: for administrators, never for API users."""

    uuid = ma.fields.String(dump_only=True)
    name = ma.fields.String(dump_only=True, metadata={"description": "host name"})
    index = ma.fields.Integer(dump_only=True)
    address = ma.fields.String(dump_only=True, allow_none=True)
    etcd_member = ma.fields.Boolean(dump_only=True)
    status = status_field()
    error = ma.fields.Nested(ProvisioningErrorSchema, allow_none=True, dump_only=True)
    created_at = Timestamp(dump_only=True)
    updated_at = Timestamp(dump_only=True)
