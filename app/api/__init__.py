"""HTTP resources, one folder each: routes.py (thin) and schemas.py (the contract)."""

from app.api.backups.routes import blp as backups
from app.api.databases.routes import blp as databases
from app.api.instances.routes import blp as instances
from app.api.nodes.routes import blp as nodes
from app.api.operations.routes import blp as operations
from app.api.quotas.routes import blp as quotas
from app.api.users.routes import blp as users
from app.api.versions.routes import blp as versions

BLUEPRINTS = (versions, instances, users, databases, backups, operations, nodes, quotas)
