import marshmallow as ma

from app.services.quotas import LIMITS


def _amounts(description: str) -> dict[str, ma.fields.Field]:
    return {
        name: ma.fields.Integer(
            dump_only=True, metadata={"description": f"{what}{unit}: {description}"}
        )
        for name, (what, unit) in LIMITS.items()
    }


LimitsSchema = ma.Schema.from_dict(_amounts("the most the project may take"), name="QuotaLimits")
UsageSchema = ma.Schema.from_dict(_amounts("what the project's instances take"), name="QuotaUsage")


class QuotaSchema(ma.Schema):
    project_id = ma.fields.String(dump_only=True)
    limits = ma.fields.Nested(LimitsSchema, dump_only=True)
    usage = ma.fields.Nested(UsageSchema, dump_only=True)


class QuotaUpdateSchema(ma.Schema):
    """An admin's limits for a project; null puts one back to the configured default."""

    instances = ma.fields.Integer(strict=True, allow_none=True, validate=ma.validate.Range(min=0))
    nodes = ma.fields.Integer(strict=True, allow_none=True, validate=ma.validate.Range(min=0))
    cpu = ma.fields.Integer(strict=True, allow_none=True, validate=ma.validate.Range(min=0))
    ram = ma.fields.Integer(strict=True, allow_none=True, validate=ma.validate.Range(min=0))
    disk = ma.fields.Integer(strict=True, allow_none=True, validate=ma.validate.Range(min=0))

    @ma.validates_schema
    def not_empty(self, data, **_kwargs):
        if not data:
            raise ma.ValidationError("Give at least one limit to change.")
