from flask.views import MethodView

from app.api.common import ListQuerySchema, dispatch, next_marker_header, paginate, project_instance
from app.api.databases.schemas import DatabaseCreateSchema, DatabaseSchema
from app.extension import Blueprint, idempotent
from app.services import children, databases
from app.services.references import INSTANCES_PATH
from app.sessions import session
from core.models import Database

blp = Blueprint(
    "databases",
    __name__,
    url_prefix=f"{INSTANCES_PATH}/<uuid:instance_uuid>/databases",
    description="Databases of an instance, each owned by one of its users.",
)


@blp.route("")
class Databases(MethodView):
    @blp.arguments(ListQuerySchema, location="query")
    @blp.response(200, DatabaseSchema(many=True))
    def get(self, query, instance_uuid):
        """List the instance's databases, newest first"""
        statement = children.of_instance(Database, project_instance(instance_uuid))
        return paginate(session(), statement, Database, query), next_marker_header()

    @idempotent
    @blp.arguments(
        DatabaseCreateSchema,
        example={
            "name": "app_database",
            "description": "Main application database",
            "owner": "/v1/types/postgres/instances/INSTANCE_UUID/users/USER_UUID",
        },
    )
    @blp.response(201, DatabaseSchema)
    def post(self, data, instance_uuid):
        """Create a database"""
        instance = project_instance(instance_uuid)
        database, operation = databases.create_database(session(), instance, data)
        dispatch(operation)
        location = f"{INSTANCES_PATH}/{instance.uuid}/databases/{database.uuid}"
        return database, {"Location": location}


@blp.route("/<uuid:database_uuid>")
class DatabaseById(MethodView):
    @blp.response(200, DatabaseSchema)
    def get(self, instance_uuid, database_uuid):
        """Show a database"""
        return children.get(
            session(), Database, project_instance(instance_uuid), str(database_uuid)
        )

    @blp.response(204)
    def delete(self, instance_uuid, database_uuid):
        """Delete a database"""
        instance = project_instance(instance_uuid)
        database = children.get(session(), Database, instance, str(database_uuid))
        dispatch(databases.delete_database(session(), database))
