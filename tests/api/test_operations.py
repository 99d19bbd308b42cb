import uuid

import pytest


def operations_path(instance):
    return f"/v1/postgres/instances/{instance['uuid']}/operations"


def test_operations_list_newest_first(api, instance, user):
    listed = api.get(operations_path(instance))
    assert listed.status_code == 200
    create_user, create_instance = listed.json
    assert (create_instance["target_type"], create_instance["action"]) == ("instance", "create")
    assert create_instance["target"] == f"/v1/types/postgres/instances/{instance['uuid']}"
    assert create_user["target"].endswith(f"/users/{user['uuid']}")
    assert create_instance["status"] == "PENDING"
    assert create_instance["attempts"] == 0
    assert create_instance["started_at"] is None
    shown = api.get(f"{operations_path(instance)}/{create_instance['uuid']}")
    assert shown.json == create_instance


def test_operations_filters(api, instance, user, settle):
    settle()
    assert api.get(f"{operations_path(instance)}?status=PENDING").json == []
    assert len(api.get(f"{operations_path(instance)}?status=SUCCEEDED").json) == 2
    assert len(api.get(f"{operations_path(instance)}?action=create&limit=1").json) == 1


@pytest.mark.parametrize("query", ["status=ACTIVE", "action=rename", "limit=0", "marker=x"])
def test_bad_operation_queries_are_422(api, instance, query):
    assert api.get(f"{operations_path(instance)}?{query}").status_code == 422


def test_unknown_operation_is_404(api, instance, other_api):
    assert api.get(f"{operations_path(instance)}/{uuid.uuid4()}").status_code == 404
    assert other_api.get(operations_path(instance)).status_code == 404
