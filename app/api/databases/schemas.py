import marshmallow as ma

from app.api.common import (
    ChildSchema,
    ClientUuids,
    Description,
    Text,
    checked_by,
    documented,
)
from app.services import references
from app.services.references import user_uri
from core import rules


class DatabaseSchema(ChildSchema):
    owner = ma.fields.Function(lambda db: user_uri(db.instance.uuid, db.owner.uuid), dump_only=True)


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
