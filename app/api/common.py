"""Shared schema fields, list paging and ETags."""

import hashlib
import json
import re
from datetime import UTC, datetime
from typing import Any

import flask_smorest
import marshmallow as ma
from flask import current_app, request
from sqlalchemy import Select
from sqlalchemy.orm import Session

from app.extension import project_id
from app.services import instances, references
from app.services.errors import Invalid
from app.services.references import canonical_uuid
from app.sessions import session
from core import rules
from core.models import Status


def documented(pattern: re.Pattern, words: str = "") -> dict:
    """A field's metadata stating a rule in the OpenAPI document: the pattern (anchored,
    as the rule's fullmatch; named groups are Python's only), and in words what a
    pattern cannot say."""
    metadata = {"pattern": "^" + re.sub(r"\(\?P<\w+>", "(", pattern.pattern) + "$"}
    if words:
        metadata["description"] = words
    return metadata


class ClientUuids(ma.Schema):
    """A create body's client-chosen ``uuid`` and ``project_id``, kept as text."""

    uuid = ma.fields.UUID(metadata=documented(references.UUID, "optional, chosen by the client"))
    project_id = ma.fields.UUID(
        metadata=documented(references.UUID, "optional; must be your token's project")
    )

    @ma.post_load
    def uuids_as_text(self, data, **_kwargs):
        for field in ("uuid", "project_id"):
            if field in data:
                data[field] = str(data[field])
        return data


class Text(ma.fields.String):
    """A string PostgreSQL can store: NUL and lone surrogates ("\\ud800" is valid JSON,
    but no Unicode text) are refused here, not deep in a driver or a YAML writer."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if "\x00" in text:
            raise ma.ValidationError("Must not contain NUL characters.")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise ma.ValidationError("Must be valid Unicode text (a lone surrogate).") from None
        return text


class Description(Text):
    def __init__(self, **kwargs):
        kwargs.setdefault("validate", ma.validate.Length(max=rules.DESCRIPTION_MAX))
        super().__init__(**kwargs)


class StrictBoolean(ma.fields.Boolean):
    """true or false only: not 1, "yes" or "true"."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise ma.ValidationError("Not a valid boolean (true or false).")
        return value


class Timestamp(ma.fields.Field):
    """ISO 8601 in UTC with a Z, as in the spec: 2024-01-15T10:30:00Z."""

    def _serialize(self, value: datetime | None, attr, obj, **kwargs):
        if value is None:
            return None
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def checked_by(rule):
    """A marshmallow validator from a rule function returning an error or None."""

    def validate(value):
        error = rule(value)
        if error:
            raise ma.ValidationError(error)

    return validate


class ProvisioningErrorSchema(ma.Schema):
    message = ma.fields.String()
    task = ma.fields.String(allow_none=True)
    host = ma.fields.String(allow_none=True)


def status_field() -> ma.fields.String:
    return ma.fields.String(
        dump_only=True,
        metadata={
            "enum": [s.value for s in Status],
            "description": "NEW, IN_PROGRESS, ACTIVE or ERROR",
        },
    )


class ChildSchema(ma.Schema):
    """What a user and a database show alike: a record inside an instance."""

    uuid = ma.fields.String(dump_only=True)
    instance = ma.fields.Function(
        lambda record: references.instance_uri(record.instance.uuid), dump_only=True
    )
    name = ma.fields.String(dump_only=True)
    description = ma.fields.String(dump_only=True)
    status = status_field()
    error = ma.fields.Nested(ProvisioningErrorSchema, allow_none=True, dump_only=True)
    created_at = Timestamp(dump_only=True)
    updated_at = Timestamp(dump_only=True)


class PageQuerySchema(ma.Schema):
    """Paging of every list. page_limit / page_marker are accepted aliases."""

    limit = ma.fields.Integer(validate=ma.validate.Range(min=1))
    marker = ma.fields.String(
        metadata={"description": "uuid of the last item of the previous page"}
    )
    page_limit = ma.fields.Integer(validate=ma.validate.Range(min=1))
    page_marker = ma.fields.String()


class ListQuerySchema(PageQuerySchema):
    name = Text()
    status = ma.fields.String(validate=ma.validate.OneOf([s.value for s in Status]))


# Query parameters that filter a list on the column of the same name.
FILTERS = ("name", "status", "action")


def paginate(db: Session, statement: Select, model, query: dict[str, Any]) -> list:
    """Newest first; sets the next page's marker in X-Pagination-Marker when there is one."""
    limit = (
        query.get("limit") or query.get("page_limit") or current_app.config["PAGE_LIMIT_DEFAULT"]
    )
    limit = min(limit, current_app.config["PAGE_LIMIT_MAX"])
    marker = query.get("marker") or query.get("page_marker")
    for column in FILTERS:
        if query.get(column) is not None:
            statement = statement.where(getattr(model, column) == query[column])
    if marker is not None:
        marker_uuid = canonical_uuid(marker)
        # The marker must be an item of this very list (same project, same filters).
        marker_id = (
            db.scalar(statement.with_only_columns(model.id).where(model.uuid == marker_uuid))
            if marker_uuid
            else None
        )
        if marker_id is None:
            raise Invalid("marker", "No such item in this list.")
        statement = statement.where(model.id < marker_id)
    items = db.scalars(statement.order_by(model.id.desc()).limit(limit + 1)).unique().all()
    page = list(items[:limit])
    if len(items) > limit:
        request.environ["dbaas.next_marker"] = page[-1].uuid
    return page


def next_marker_header() -> dict[str, str]:
    marker = request.environ.get("dbaas.next_marker")
    return {"X-Pagination-Marker": marker} if marker else {}


def project_instance(instance_uuid) -> Any:
    """The token's project's instance named in the path (404 otherwise)."""
    return instances.get_instance(session(), project_id(), str(instance_uuid))


# Columns an ETag never covers: a digest should not depend on secret material.
_NOT_IN_ETAG = {"password_verifier"}


def etag(resource: Any) -> dict[str, str]:
    """The ETag header of a resource: a digest of its row (every column but secrets).
    Cheap: no second serialisation, no relationship loaded."""
    row = {
        column.key: getattr(resource, column.key)
        for column in resource.__table__.columns
        if column.key not in _NOT_IN_ETAG
    }
    body = json.dumps(row, sort_keys=True, default=str)
    return {"ETag": f'"{hashlib.sha256(body.encode()).hexdigest()[:32]}"'}


def check_if_match(resource: Any) -> None:
    """A PUT with If-Match changes the resource only as the client last saw it: 412
    when it changed since (a concurrent PUT, or provisioning moving its status)."""
    wanted = request.headers.get("If-Match")
    if not wanted or wanted.strip() == "*":
        return
    tags = {tag.strip().removeprefix("W/") for tag in wanted.split(",")}
    if etag(resource)["ETag"] not in tags:
        flask_smorest.abort(
            412,
            message="The resource changed since that ETag: read it again, then retry.",
        )
