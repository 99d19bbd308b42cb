from flask.views import MethodView
from sqlalchemy import select

from app.api.common import next_marker_header, paginate
from app.api.operations.schemas import OperationQuerySchema, OperationSchema
from app.extension import Blueprint, project_id
from app.services import instances
from app.services.errors import NotFound
from app.services.references import INSTANCES_PATH, canonical_uuid
from app.sessions import session
from core.models import Operation

blp = Blueprint(
    "operations",
    __name__,
    url_prefix=f"{INSTANCES_PATH}/<uuid:instance_uuid>/operations",
    description="What the jobs are doing, or did, to an instance and its users and databases.",
)


def _operations(instance_uuid):
    instance = instances.get_instance(session(), project_id(), str(instance_uuid))
    return select(Operation).where(Operation.instance_id == instance.id)


@blp.route("")
class Operations(MethodView):
    @blp.arguments(OperationQuerySchema, location="query")
    @blp.response(200, OperationSchema(many=True))
    def get(self, query, instance_uuid):
        """List the instance's operations, newest first"""
        page = paginate(session(), _operations(instance_uuid), Operation, query)
        return page, next_marker_header()


@blp.route("/<uuid:operation_uuid>")
class OperationById(MethodView):
    @blp.response(200, OperationSchema)
    def get(self, instance_uuid, operation_uuid):
        """Show an operation: action, status, progress, error, attempts"""
        operation = (
            session()
            .scalars(
                _operations(instance_uuid).where(
                    Operation.uuid == canonical_uuid(str(operation_uuid))
                )
            )
            .first()
        )
        if operation is None:
            raise NotFound("No such operation.")
        return operation
