from flask.views import MethodView

from app.api.common import (
    ListQuerySchema,
    check_if_match,
    dispatch,
    etag,
    next_marker_header,
    paginate,
    project_instance,
)
from app.api.users.schemas import UserCreateSchema, UserSchema, UserUpdateSchema
from app.extension import Blueprint, idempotent
from app.services import children, users
from app.services.references import INSTANCES_PATH
from app.sessions import session
from core.models import User

blp = Blueprint(
    "users",
    __name__,
    url_prefix=f"{INSTANCES_PATH}/<uuid:instance_uuid>/users",
    description="PostgreSQL roles of an instance.",
)


@blp.route("")
class Users(MethodView):
    @blp.arguments(ListQuerySchema, location="query")
    @blp.response(200, UserSchema(many=True))
    def get(self, query, instance_uuid):
        """List the instance's users, newest first"""
        statement = children.of_instance(User, project_instance(instance_uuid))
        return paginate(session(), statement, User, query), next_marker_header()

    @idempotent
    @blp.arguments(
        UserCreateSchema,
        example={
            "name": "app_user",
            "description": "Application database user",
            "password": "secure_password_123",
        },
    )
    @blp.response(201, UserSchema)
    def post(self, data, instance_uuid):
        """Create a user (role)"""
        instance = project_instance(instance_uuid)
        user, operation = users.create_user(session(), instance, data)
        dispatch(operation)
        return user, {"Location": f"{INSTANCES_PATH}/{instance.uuid}/users/{user.uuid}"}


@blp.route("/<uuid:user_uuid>")
class UserById(MethodView):
    @blp.response(200, UserSchema)
    def get(self, instance_uuid, user_uuid):
        """Show a user"""
        user = children.get(session(), User, project_instance(instance_uuid), str(user_uuid))
        return user, etag(user)

    @blp.arguments(UserUpdateSchema, example={"password": "another_password_456"})
    @blp.response(200, UserSchema)
    def put(self, changes, instance_uuid, user_uuid):
        """Change a user's password and/or description"""
        user = children.get(session(), User, project_instance(instance_uuid), str(user_uuid))
        check_if_match(user)
        dispatch(users.update_user(session(), user, changes))
        return user, etag(user)

    @blp.response(204)
    def delete(self, instance_uuid, user_uuid):
        """Delete a user (refused while it owns a database)"""
        user = children.get(session(), User, project_instance(instance_uuid), str(user_uuid))
        dispatch(users.delete_user(session(), user))
