"""The routes users and databases share: records inside one instance, listed, created
(idempotently), shown, changed and deleted the same way. Each resource's routes.py
says what is its own: schemas, examples, the service functions."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import marshmallow as ma
from flask.views import MethodView

from app.api.common import (
    ListQuerySchema,
    check_if_match,
    etag,
    next_marker_header,
    paginate,
    project_instance,
)
from app.extension import Blueprint, idempotent
from app.services import children
from app.services.references import INSTANCES_PATH
from app.sessions import dispatch, session
from core.operations import TARGETS


@dataclass(frozen=True)
class ChildResource:
    model: type
    plural: str  # the path segment: users, databases
    description: str
    schema: type[ma.Schema]
    create_schema: type[ma.Schema]
    create_example: dict[str, Any]
    create: Callable  # (session, instance, data) -> (record, operation)
    delete: Callable  # (session, record) -> operation
    delete_summary: str
    update_schema: type[ma.Schema] | None = None
    update_example: dict[str, Any] | None = None
    update: Callable | None = None  # (session, record, changes) -> operation
    update_summary: str = ""

    @property
    def kind(self) -> str:
        return TARGETS[self.model]


def blueprint(resource: ChildResource, import_name: str) -> Blueprint:
    blp = Blueprint(
        resource.plural,
        import_name,
        url_prefix=f"{INSTANCES_PATH}/<uuid:instance_uuid>/{resource.plural}",
        description=resource.description,
    )

    def record(instance_uuid, uuid: dict):
        # The path names it <kind>_uuid: /users/<user_uuid>, /databases/<database_uuid>.
        [value] = uuid.values()
        return children.get(session(), resource.model, project_instance(instance_uuid), str(value))

    @blp.route("")
    class Collection(MethodView):
        @blp.arguments(ListQuerySchema, location="query")
        @blp.response(200, resource.schema(many=True))
        def get(self, query, instance_uuid):
            statement = children.of_instance(resource.model, project_instance(instance_uuid))
            return paginate(session(), statement, resource.model, query), next_marker_header()

        get.__doc__ = f"List the instance's {resource.plural}, newest first"

        @idempotent
        @blp.arguments(resource.create_schema, example=resource.create_example)
        @blp.response(201, resource.schema)
        def post(self, data, instance_uuid):
            instance = project_instance(instance_uuid)
            created, operation = resource.create(session(), instance, data)
            dispatch(operation)
            location = f"{INSTANCES_PATH}/{instance.uuid}/{resource.plural}/{created.uuid}"
            return created, {"Location": location}

        post.__doc__ = f"Create a {resource.kind}"

    @blp.route(f"/<uuid:{resource.kind}_uuid>")
    class ById(MethodView):
        @blp.response(200, resource.schema)
        def get(self, instance_uuid, **uuid):
            found = record(instance_uuid, uuid)
            return found, etag(found)

        get.__doc__ = f"Show a {resource.kind}"

        if resource.update is not None:

            @blp.arguments(resource.update_schema, example=resource.update_example)
            @blp.response(200, resource.schema)
            def put(self, changes, instance_uuid, **uuid):
                found = record(instance_uuid, uuid)
                check_if_match(found)
                dispatch(resource.update(session(), found, changes))
                return found, etag(found)

            put.__doc__ = resource.update_summary

        @blp.response(204)
        def delete(self, instance_uuid, **uuid):
            dispatch(resource.delete(session(), record(instance_uuid, uuid)))

        delete.__doc__ = resource.delete_summary

    return blp
