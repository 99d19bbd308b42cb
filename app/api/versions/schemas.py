import marshmallow as ma

from app.api.common import Description, StrictBoolean, Text, Timestamp, checked_by, documented
from core import images, rules


def _recipe_field(version, field):
    recipe = images.recipe(version.image)
    return getattr(recipe, field) if recipe else None


class VersionSchema(ma.Schema):
    uuid = ma.fields.String(dump_only=True)
    name = Text(dump_only=True, metadata={"example": "PostgreSQL 15"})
    description = ma.fields.String(dump_only=True)
    image = ma.fields.String(dump_only=True, metadata={"example": "debian-bookworm-pg15"})
    suite = ma.fields.Function(
        lambda version: _recipe_field(version, "suite"),
        dump_only=True,
        metadata={"description": "the Debian suite of its root image", "example": "bookworm"},
    )
    major = ma.fields.Function(
        lambda version: _recipe_field(version, "major"),
        dump_only=True,
        metadata={"description": "the PostgreSQL major it runs", "example": 15},
    )
    deprecated = ma.fields.Boolean(dump_only=True)
    created_at = Timestamp(dump_only=True)
    updated_at = Timestamp(dump_only=True)


class VersionListSchema(ma.Schema):
    versions = ma.fields.List(ma.fields.Nested(VersionSchema))


class VersionUpdateSchema(ma.Schema):
    name = Text(validate=ma.validate.Length(min=1, max=64))
    description = Description()
    image = Text(
        validate=checked_by(images.image_error),
        metadata=documented(rules.IMAGE_NAME, "root image recipe, e.g. debian-bookworm-pg15"),
    )
    deprecated = StrictBoolean(
        metadata={
            "description": "deprecated versions keep serving their instances; new ones are refused"
        }
    )

    @ma.validates_schema
    def not_empty(self, data, **_kwargs):
        if not data:
            raise ma.ValidationError("Give at least one field to change.")


class VersionCreateSchema(VersionUpdateSchema):
    name = Text(required=True, validate=ma.validate.Length(min=1, max=64))
    image = Text(
        required=True,
        validate=checked_by(images.image_error),
        metadata=documented(rules.IMAGE_NAME, "root image recipe, e.g. debian-bookworm-pg15"),
    )
