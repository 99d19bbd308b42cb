import marshmallow as ma

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
from app.services.references import instance_uri, user_uri
from core import rules


class DatabaseSchema(ma.Schema):
    uuid = ma.fields.String(dump_only=True)
    instance = ma.fields.Function(lambda db: instance_uri(db.instance.uuid), dump_only=True)
    name = ma.fields.String(dump_only=True)
    description = ma.fields.String(dump_only=True)
    owner = ma.fields.Function(lambda db: user_uri(db.instance.uuid, db.owner.uuid), dump_only=True)
    status = status_field()
    error = ma.fields.Nested(ProvisioningErrorSchema, allow_none=True, dump_only=True)
    created_at = Timestamp(dump_only=True)
    updated_at = Timestamp(dump_only=True)


class DatabaseCreateSchema(ClientUuids):
    instance = Text(metadata={"description": "optional; must be the instance of the URL"})
    name = Text(
        required=True,
        validate=checked_by(rules.database_name_error),
        metadata=documented(
            rules.DATABASE_NAME,
            "unique in the instance; not postgres, template0 or template1 (any case)",
        ),
    )
    description = Description()
    owner = Text(
        required=True,
        metadata=documented(
            references.USER_REF,
            "/v1/types/postgres/instances/UUID/users/UUID or the user's UUID (full URIs too);"
            " a user of this instance",
        ),
    )
