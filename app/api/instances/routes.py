from flask import Response, current_app
from flask.views import MethodView

from app.api.backups.schemas import RestoreSchema
from app.api.common import (
    ListQuerySchema,
    check_if_match,
    etag,
    next_marker_header,
    paginate,
)
from app.api.instances.schemas import (
    InstanceCreateSchema,
    InstanceSchema,
    InstanceUpdateSchema,
    SwitchoverSchema,
    UpgradeSchema,
)
from app.api.operations.schemas import OperationSchema
from app.extension import Blueprint, idempotent, project_id
from app.services import instances
from app.services.references import INSTANCES_PATH, PEM_MEDIA_TYPE
from app.sessions import dispatch, session
from core import tls
from core.models import Instance

blp = Blueprint(
    "instances",
    __name__,
    url_prefix=INSTANCES_PATH,
    description="PostgreSQL instances. Also served under /v1/types/postgres/instances.",
)

CREATE_EXAMPLE = {
    "name": "production-postgres",
    "description": "Production PostgreSQL database",
    "cpu": 4,
    "ram": 2048,
    "disk_size": 100,
    "nodes_number": 3,
    "sync_replica_number": 1,
    "version": "/v1/types/postgres/versions/VERSION_UUID",
}


@blp.route("")
class Instances(MethodView):
    @blp.arguments(ListQuerySchema, location="query")
    @blp.response(200, InstanceSchema(many=True))
    def get(self, query):
        """List the project's instances, newest first"""
        page = paginate(session(), instances.project_instances(project_id()), Instance, query)
        return page, next_marker_header()

    @idempotent
    @blp.arguments(InstanceCreateSchema, example=CREATE_EXAMPLE)
    @blp.response(201, InstanceSchema)
    def post(self, data):
        """Create an instance: answers NEW at once; provisioning follows"""
        instance, operation = instances.create_instance(
            session(), project_id(), data, current_app.config
        )
        dispatch(operation)
        return instance, {"Location": f"{INSTANCES_PATH}/{instance.uuid}"}


@blp.route("/<uuid:instance_uuid>")
class InstanceById(MethodView):
    @blp.response(200, InstanceSchema)
    def get(self, instance_uuid):
        """Show an instance"""
        instance = instances.get_instance(session(), project_id(), str(instance_uuid))
        return instance, etag(instance)

    @blp.arguments(InstanceUpdateSchema, example={"disk_size": 120})
    @blp.response(200, InstanceSchema)
    def put(self, changes, instance_uuid):
        """Change an instance: sizes start an operation (IN_PROGRESS); names do not"""
        instance = instances.get_instance(session(), project_id(), str(instance_uuid))
        check_if_match(instance)
        dispatch(instances.update_instance(session(), instance, changes, current_app.config))
        return instance, etag(instance)

    @blp.response(204)
    def delete(self, instance_uuid):
        """Delete an instance: IN_PROGRESS until its machines are gone, then 404"""
        instance = instances.get_instance(session(), project_id(), str(instance_uuid))
        dispatch(instances.delete_instance(session(), instance))


@blp.route("/<uuid:instance_uuid>/restore")
class InstanceRestore(MethodView):
    @blp.arguments(RestoreSchema, example={"point_in_time": "2026-12-02T10:15:00Z"})
    @blp.response(202, InstanceSchema)
    def post(self, data, instance_uuid):
        """Restore an instance in place as of a point in time: a full backup first, then
        IN_PROGRESS until it holds the data of that moment (ACTIVE)"""
        instance = instances.get_instance(session(), project_id(), str(instance_uuid))
        operation = instances.restore_instance(
            session(), instance, data["point_in_time"], current_app.config
        )
        dispatch(operation)
        return instance


@blp.route("/<uuid:instance_uuid>/switchover")
class InstanceSwitchover(MethodView):
    @blp.arguments(SwitchoverSchema, example={"to": "172.30.213.3"})
    @blp.response(202, OperationSchema)
    def post(self, data, instance_uuid):
        """Hand the primary's role to a replica: the instance stays ACTIVE, writes pause
        for the handover (an operation; 409 while another change runs, 422 for an
        address that is not a healthy replica)"""
        instance = instances.get_instance(session(), project_id(), str(instance_uuid))
        to = data.get("to")
        operation = instances.switchover(
            session(), instance, None if to is None else str(to), current_app.config
        )
        dispatch(operation)
        return operation, {
            "Location": f"{INSTANCES_PATH}/{instance.uuid}/operations/{operation.uuid}"
        }


@blp.route("/<uuid:instance_uuid>/upgrade")
class InstanceUpgrade(MethodView):
    @blp.arguments(UpgradeSchema, example={})
    @blp.response(202, OperationSchema)
    def post(self, data, instance_uuid):
        """Upgrade the instance: without a version, the newest packages of its suite,
        node by node (replicas, then a switchover, then the former primary), the
        instance ACTIVE and writes paused for the switchover only; with a version of a
        higher major, pg_upgrade in place: the instance IN_PROGRESS and stopped for
        minutes, back on its old version if the upgrade fails (an operation; 409 while
        another change runs, 422 for a version that is not a higher major)"""
        instance = instances.get_instance(session(), project_id(), str(instance_uuid))
        operation = instances.upgrade(session(), instance, data.get("version"), current_app.config)
        dispatch(operation)
        return operation, {
            "Location": f"{INSTANCES_PATH}/{instance.uuid}/operations/{operation.uuid}"
        }


@blp.route("/<uuid:instance_uuid>/ca")
class InstanceCa(MethodView):
    @blp.response(
        200,
        content_type=PEM_MEDIA_TYPE,
        description="The CA certificate (PEM) that verifies the instance's nodes: "
        "use it as libpq's sslrootcert with sslmode=verify-full",
    )
    def get(self, instance_uuid):
        """The CA certificate that verifies the instance's nodes"""
        instances.get_instance(session(), project_id(), str(instance_uuid))
        return Response(tls.root_certificate(current_app.config), mimetype=PEM_MEDIA_TYPE)
