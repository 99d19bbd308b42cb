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
from app.services.references import instance_uri
from core import rules


class UserSchema(ma.Schema):
    """A role: never its password, nor the password's verifier."""

    uuid = ma.fields.String(dump_only=True)
    instance = ma.fields.Function(lambda user: instance_uri(user.instance.uuid), dump_only=True)
    name = ma.fields.String(dump_only=True)
    description = ma.fields.String(dump_only=True)
    status = status_field()
    error = ma.fields.Nested(ProvisioningErrorSchema, allow_none=True, dump_only=True)
    created_at = Timestamp(dump_only=True)
    updated_at = Timestamp(dump_only=True)


def _password(**kwargs) -> Text:
    return Text(
        load_only=True,
        validate=checked_by(rules.password_error),
        metadata={
            "description": "kept only as a SCRAM-SHA-256 verifier",
            "minLength": rules.PASSWORD_LENGTH[0],
            "maxLength": rules.PASSWORD_LENGTH[1],
        },
        **kwargs,
    )


class UserUpdateSchema(ma.Schema):
    password = _password()
    description = Description()

    @ma.validates_schema
    def not_empty(self, data, **_kwargs):
        if not data:
            raise ma.ValidationError("Give a password or a description to change.")


class UserCreateSchema(ClientUuids):
    instance = Text(metadata={"description": "optional; must be the instance of the URL"})
    name = Text(
        required=True,
        validate=checked_by(rules.user_name_error),
        metadata=documented(
            rules.USER_NAME,
            "unique in the instance; not starting with pg_, dbaas_ or postgres (any case)",
        ),
    )
    description = Description()
    password = _password(required=True)
