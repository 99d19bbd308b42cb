from app.api.children import ChildResource, blueprint
from app.api.databases.schemas import DatabaseCreateSchema, DatabaseSchema
from app.services import databases
from core.models import Database

blp = blueprint(
    ChildResource(
        model=Database,
        plural="databases",
        description="Databases of an instance, each owned by one of its users.",
        schema=DatabaseSchema,
        create_schema=DatabaseCreateSchema,
        create_example={
            "name": "app_database",
            "description": "Main application database",
            "owner": "/v1/types/postgres/instances/INSTANCE_UUID/users/USER_UUID",
        },
        create=databases.create_database,
        delete=databases.delete_database,
        delete_summary="Delete a database",
    ),
    __name__,
)
