from flask import g
from flask.views import MethodView
from flask_smorest import abort

from app.api.nodes.schemas import NodeSchema
from app.extension import Blueprint, project_id
from app.services import instances
from app.services.references import INSTANCES_PATH
from app.sessions import session

blp = Blueprint(
    "nodes",
    __name__,
    url_prefix=f"{INSTANCES_PATH}/<uuid:instance_uuid>/nodes",
    description="The machines of an instance (admin tokens only).",
)


@blp.route("")
class Nodes(MethodView):
    @blp.response(200, NodeSchema(many=True))
    def get(self, instance_uuid):
        """List an instance's nodes (admin)"""
        # Another project's instance is absent (404) before anyone is refused (403).
        instance = instances.get_instance(session(), project_id(), str(instance_uuid))
        if not g.token.is_admin:
            abort(403, message="This needs an admin token.")
        return instance.nodes
