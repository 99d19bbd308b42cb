from flask import current_app
from flask.views import MethodView

from app.api.backups.schemas import BackupCreateSchema, BackupSchema, ProjectBackupsQuerySchema
from app.api.common import ListQuerySchema, etag, next_marker_header, paginate, project_instance
from app.extension import Blueprint, idempotent, project_id
from app.services import backups
from app.services.references import INSTANCES_PATH
from app.sessions import dispatch, session
from core.models import Backup

blp = Blueprint(
    "backups",
    __name__,
    url_prefix="/v1/postgres",
    description="Backups of instances (pgBackRest), kept for their retention after the "
    "instance's DELETE.",
)


@blp.route("/instances/<uuid:instance_uuid>/backups")
class InstanceBackups(MethodView):
    @blp.arguments(ListQuerySchema, location="query")
    @blp.response(200, BackupSchema(many=True))
    def get(self, query, instance_uuid):
        """List the instance's backups, newest first"""
        statement = backups.of_instance(project_instance(instance_uuid))
        return paginate(session(), statement, Backup, query), next_marker_header()

    @idempotent
    @blp.arguments(BackupCreateSchema, example={"kind": "full"})
    @blp.response(201, BackupSchema)
    def post(self, data, instance_uuid):
        """Take a backup now: NEW at once, ACTIVE once pgBackRest has it"""
        instance = project_instance(instance_uuid)
        backup, operation = backups.create_backup(session(), instance, data, current_app.config)
        dispatch(operation)
        return backup, {"Location": f"{INSTANCES_PATH}/{instance.uuid}/backups/{backup.uuid}"}


@blp.route("/instances/<uuid:instance_uuid>/backups/<uuid:backup_uuid>")
class InstanceBackup(MethodView):
    @blp.response(200, BackupSchema)
    def get(self, instance_uuid, backup_uuid):
        """Show a backup"""
        backup = backups.get(session(), project_instance(instance_uuid), str(backup_uuid))
        return backup, etag(backup)

    @blp.response(204)
    def delete(self, instance_uuid, backup_uuid):
        """Remove a backup (and the differential ones that depend on it); the newest
        full backup stays"""
        backup = backups.get(session(), project_instance(instance_uuid), str(backup_uuid))
        dispatch(backups.delete_backup(session(), backup))


@blp.route("/backups")
class ProjectBackups(MethodView):
    @blp.arguments(ProjectBackupsQuerySchema, location="query")
    @blp.response(200, BackupSchema(many=True))
    def get(self, query):
        """List the project's backups, deleted instances' included, newest first"""
        statement = backups.of_project(project_id(), query.pop("instance", None))
        return paginate(session(), statement, Backup, query), next_marker_header()
