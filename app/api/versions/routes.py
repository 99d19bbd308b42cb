from flask.views import MethodView

from app.api.common import check_if_match, etag
from app.api.versions.schemas import (
    VersionCreateSchema,
    VersionListSchema,
    VersionSchema,
    VersionUpdateSchema,
)
from app.extension import Blueprint, admin_required
from app.services import versions
from app.services.references import version_uri
from app.sessions import session

blp = Blueprint(
    "versions",
    __name__,
    url_prefix="/v1/types/postgres/versions",
    description="The catalogue of PostgreSQL versions (writes need an admin token).",
)


@blp.route("")
class Versions(MethodView):
    @blp.response(200, VersionListSchema)
    def get(self):
        """List the PostgreSQL versions"""
        return {"versions": versions.list_versions(session())}

    @admin_required
    @blp.arguments(
        VersionCreateSchema,
        example={
            "name": "PostgreSQL 15",
            "description": "PostgreSQL 15 on Debian 12",
            "image": "debian-bookworm-pg15",
        },
    )
    @blp.response(201, VersionSchema)
    def post(self, data):
        """Add a version (admin)"""
        version = versions.create_version(session(), data)
        return version, {"Location": version_uri(version.uuid)}


@blp.route("/<uuid:version_uuid>")
class VersionById(MethodView):
    @blp.response(200, VersionSchema)
    def get(self, version_uuid):
        """Show a version"""
        version = versions.get_version(session(), str(version_uuid))
        return version, etag(version)

    @admin_required
    @blp.arguments(VersionUpdateSchema, example={"deprecated": True})
    @blp.response(200, VersionSchema)
    def put(self, data, version_uuid):
        """Change a version (admin): name, description, image, deprecated"""
        version = versions.get_version(session(), str(version_uuid))
        check_if_match(version)
        version = versions.update_version(session(), version, data)
        return version, etag(version)
