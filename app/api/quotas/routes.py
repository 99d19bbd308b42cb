from flask import current_app
from flask.views import MethodView

from app.api.quotas.schemas import QuotaSchema, QuotaUpdateSchema
from app.extension import Blueprint, admin_required, project_id
from app.services import quotas
from app.sessions import session

blp = Blueprint(
    "quotas",
    __name__,
    url_prefix="/v1/quotas",
    description="What a project may take: instances, nodes, and over its nodes cores, "
    "RAM (MB) and data disk (GB). A create or a resize past a limit answers 403 "
    "quota_exceeded naming it.",
)


@blp.route("")
class Quotas(MethodView):
    @blp.response(200, QuotaSchema)
    def get(self):
        """Your project's limits and usage"""
        return quotas.show(session(), project_id(), current_app.config)


@blp.route("/<uuid:project>")
class QuotaByProject(MethodView):
    @admin_required
    @blp.response(200, QuotaSchema)
    def get(self, project):
        """A project's limits and usage (admin)"""
        return quotas.show(session(), str(project), current_app.config)

    @admin_required
    @blp.arguments(QuotaUpdateSchema, example={"instances": 5, "ram": 16384})
    @blp.response(200, QuotaSchema)
    def put(self, changes, project):
        """Set a project's limits (admin); null puts one back to the default"""
        quotas.set_limits(session(), str(project), changes)
        return quotas.show(session(), str(project), current_app.config)
