import marshmallow as ma

from app.api.common import (
    ChildSchema,
    ClientUuids,
    Description,
    Text,
    checked_by,
    documented,
)
from core import rules


class UserSchema(ChildSchema):
    """A role: never its password, nor the password's verifier."""


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
