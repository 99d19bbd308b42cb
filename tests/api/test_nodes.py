from sqlalchemy import select

from app.services import tokens
from core.models import Instance
from jobs import nodes
from jobs.providers.nspawn import Nspawn
from tests.support.client import ApiClient


def test_admins_see_an_instances_nodes(app, db, api, instance):
    record = db.scalars(select(Instance).where(Instance.uuid == instance["uuid"])).one()
    nodes.allocate(db, record, Nspawn({"LAB_NETWORK": "10.99.0.0/24", "DATA_DIR": "/nowhere"}))
    admin = ApiClient(app, tokens.create_token(db, api.project_id, is_admin=True))
    listed = admin.get(f"/v1/postgres/instances/{instance['uuid']}/nodes")
    assert listed.status_code == 200
    assert [n["index"] for n in listed.json] == [1, 2, 3]
    assert [n["address"] for n in listed.json] == ["10.99.0.2", "10.99.0.3", "10.99.0.4"]
    assert all(n["etcd_member"] for n in listed.json)


def test_nodes_stay_hidden_from_api_users(api, admin_api, instance):
    assert api.get(f"/v1/postgres/instances/{instance['uuid']}/nodes").status_code == 403
    # An admin of another project does not see this project's instance at all.
    assert admin_api.get(f"/v1/postgres/instances/{instance['uuid']}/nodes").status_code == 404
