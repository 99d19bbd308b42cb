from app.api.children import ChildResource, blueprint
from app.api.users.schemas import UserCreateSchema, UserSchema, UserUpdateSchema
from app.services import users
from core.models import User

blp = blueprint(
    ChildResource(
        model=User,
        plural="users",
        description="PostgreSQL roles of an instance.",
        schema=UserSchema,
        create_schema=UserCreateSchema,
        create_example={
            "name": "app_user",
            "description": "Application database user",
            "password": "secure_password_123",
        },
        create=users.create_user,
        update_schema=UserUpdateSchema,
        update_example={"password": "another_password_456"},
        update=users.update_user,
        update_summary="Change a user's password and/or description",
        delete=users.delete_user,
        delete_summary="Delete a user (refused while it owns a database)",
    ),
    __name__,
)
