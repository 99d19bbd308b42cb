"""Backups through the API: the policy in create and PUT, backups listed, taken on
demand and removed by their rules, restores asked with points inside and outside the
window, and a project seeing only its own backups (a deleted instance's included)."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from core import backups as core_backups
from core.models import Archive, Backup, Operation, OperationStatus, Status, utcnow
from tests.support.services import fresh

INSTANCES = "/v1/postgres/instances"


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def taken(db, instance: dict, *, kind="full", label="20261202-100000F", ago=timedelta(hours=2)):
    """A backup as a successful run leaves it (the runs themselves are the e2e tests')."""
    archive = db.scalars(select(Archive).where(Archive.uuid == instance["uuid"])).one()
    finished = utcnow() - ago
    backup = Backup(
        archive=archive,
        label=label,
        kind=kind,
        status=Status.ACTIVE,
        started_at=finished - timedelta(minutes=1),
        finished_at=finished,
        size=30_000_000,
        repository_size=4_000_000,
    )
    db.add(backup)
    archive.recovery_earliest = min(finished, archive.recovery_earliest or finished)
    archive.recovery_latest = utcnow() - timedelta(minutes=1)
    db.commit()
    return backup


def make_active(db, instance: dict) -> None:
    """As after its create's run: ACTIVE, the operation finished."""
    archive = db.scalars(select(Archive).where(Archive.uuid == instance["uuid"])).one()
    archive.instance.status = Status.ACTIVE
    for operation in db.scalars(
        select(Operation).where(Operation.instance_id == archive.instance_id)
    ):
        operation.status = OperationStatus.SUCCEEDED
    db.commit()


def test_a_new_instance_gets_the_default_policy_and_no_window(api, instance):
    assert instance["backup"] == {"schedule": "daily", "retention_days": 7}
    assert instance["recovery_window"] is None
    assert instance["last_verified_restore"] is None
    assert api.get(f"{INSTANCES}/{instance['uuid']}/backups").json == []


def test_the_policy_is_set_at_create_and_changed_by_put(api, instance_body, db):
    body = dict(instance_body, backup={"schedule": "hourly", "retention_days": 30})
    created = api.post(INSTANCES, json=body).json
    assert created["backup"] == {"schedule": "hourly", "retention_days": 30}
    path = f"{INSTANCES}/{created['uuid']}"
    answer = api.put(path, json={"backup": {"schedule": "none"}})
    assert answer.status_code == 200, answer.json
    assert answer.json["backup"] == {"schedule": "none", "retention_days": 30}
    # A policy change alone is no operation: each backup run configures pgBackRest anew.
    fresh(db)
    assert [o.action for o in db.scalars(select(Operation))] == ["create"]


def test_bad_policies_are_refused_naming_the_field(api, instance_body):
    for bad in (
        {"schedule": "weekly"},
        {"retention_days": 0},
        {"retention_days": "7"},
        {"schedule": "daily", "extra": 1},
    ):
        answer = api.post(INSTANCES, json=dict(instance_body, backup=bad))
        assert answer.status_code == 422, (bad, answer.json)
        assert "backup" in answer.json["errors"], answer.json


def test_no_repository_means_no_backups(api, app, instance_body, monkeypatch):
    # As the static and libvirt providers without DBAAS_BACKUP_S3_* or DBAAS_BACKUP_PATH
    # (their own capacity checks aside: tests/unit covers which settings give which).
    monkeypatch.setattr(core_backups, "repository_kind", lambda settings: None)
    answer = api.post(INSTANCES, json=dict(instance_body, backup={"schedule": "daily"}))
    assert answer.status_code == 422, answer.json
    assert "DBAAS_BACKUP_S3_BUCKET" in answer.json["errors"]["backup"][0]
    created = api.post(INSTANCES, json=dict(instance_body, backup={"schedule": "none"})).json
    assert created["backup"] is None
    refused = api.post(f"{INSTANCES}/{created['uuid']}/backups", json={})
    assert refused.status_code == 409
    assert "No backup repository" in refused.json["message"]


def test_a_backup_on_demand_and_its_kinds(api, instance, db):
    path = f"{INSTANCES}/{instance['uuid']}/backups"
    answer = api.post(path, json={"kind": "diff"})
    assert answer.status_code == 422  # no full backup to differ from
    assert "kind" in answer.json["errors"]
    assert api.post(path, json={"kind": "weekly"}).status_code == 422
    answer = api.post(path, json={})
    assert answer.status_code == 201, answer.json
    assert answer.json["kind"] == "full" and answer.json["status"] == "NEW"
    assert answer.headers["Location"].endswith(answer.json["uuid"])
    for field in ("started_at", "finished_at", "size", "repository_size", "wal_start"):
        assert answer.json[field] is None
    shown = api.get(f"{path}/{answer.json['uuid']}").json
    assert shown["uuid"] == answer.json["uuid"]
    # A backup not taken yet cannot be removed.
    assert api.delete(f"{path}/{answer.json['uuid']}").status_code == 409


def test_the_newest_full_backup_stays_and_older_ones_go(api, instance, db):
    path = f"{INSTANCES}/{instance['uuid']}/backups"
    old = taken(db, instance, label="20261201-100000F", ago=timedelta(days=1))
    new = taken(db, instance, label="20261202-100000F")
    listed = api.get(path).json
    assert [b["uuid"] for b in listed] == [new.uuid, old.uuid]  # newest first
    refused = api.delete(f"{path}/{new.uuid}")
    assert refused.status_code == 409
    assert "newest full backup" in refused.json["message"]
    make_active(db, instance)
    assert api.delete(f"{path}/{old.uuid}").status_code == 204
    assert api.get(f"{path}/{old.uuid}").json["status"] == "IN_PROGRESS"


def test_the_window_and_restores_inside_and_outside_it(api, instance, instance_body, db):
    backup = taken(db, instance)
    make_active(db, instance)
    window = api.get(f"{INSTANCES}/{instance['uuid']}").json["recovery_window"]
    earliest = datetime.fromisoformat(window["earliest"].replace("Z", "+00:00"))
    # A running instance that archives: every moment up to now can be restored.
    assert datetime.now(UTC) - datetime.fromisoformat(window["latest"].replace("Z", "+00:00")) < (
        timedelta(seconds=5)
    )
    body = {k: v for k, v in instance_body.items() if k != "version"}
    before = stamp(earliest - timedelta(minutes=5))
    answer = api.post(
        INSTANCES,
        json=dict(
            body,
            name="too-early",
            restore_from={"instance": instance["uuid"], "point_in_time": before},
        ),
    )
    assert answer.status_code == 422, answer.json
    assert "restore_from.point_in_time" in str(answer.json["errors"])
    assert window["earliest"] in answer.json["message"]
    naive = api.post(
        INSTANCES,
        json=dict(
            body,
            name="naive",
            restore_from={"instance": instance["uuid"], "point_in_time": "2026-12-02T10:00:00"},
        ),
    )
    assert naive.status_code == 422
    inside = stamp(earliest + timedelta(minutes=30))
    answer = api.post(
        INSTANCES,
        json=dict(
            body, name="clone", restore_from={"instance": instance["uuid"], "point_in_time": inside}
        ),
    )
    assert answer.status_code == 201, answer.json
    assert answer.json["version"] == instance["version"]  # the source's
    fresh(db)
    operation = db.scalars(
        select(Operation).where(Operation.target_uuid == answer.json["uuid"])
    ).one()
    assert operation.params["restore"] == {
        "archive": instance["uuid"],
        "backup": backup.label,
        "point_in_time": (earliest + timedelta(minutes=30)).isoformat(),
    }


def test_restore_sources_are_the_projects_own(api, other_api, instance, instance_body, db):
    taken(db, instance)
    body = {k: v for k, v in instance_body.items() if k != "version"}
    answer = other_api.post(INSTANCES, json=dict(body, restore_from={"instance": instance["uuid"]}))
    assert answer.status_code == 422
    assert "restore_from.instance" in str(answer.json["errors"])
    assert other_api.get(f"/v1/postgres/backups?instance={instance['uuid']}").json == []
    assert len(api.get(f"/v1/postgres/backups?instance={instance['uuid']}").json) == 1
    assert api.get("/v1/postgres/backups?instance=nope").status_code == 422


def test_a_deleted_instances_backups_stay_listed(api, instance, db):
    backup = taken(db, instance)
    archive = db.scalars(select(Archive).where(Archive.uuid == instance["uuid"])).one()
    db.delete(archive.instance)
    archive.deleted_at = utcnow()
    db.commit()
    listed = api.get(f"/v1/postgres/backups?instance={instance['uuid']}").json
    assert [b["uuid"] for b in listed] == [backup.uuid]
    assert listed[0]["instance_deleted"] is True
    assert listed[0]["expires_at"] is not None
    # Its uuid stays taken: a new instance cannot take the name of those backups.
    assert api.get(f"{INSTANCES}/{instance['uuid']}").status_code == 404


def test_restore_in_place_needs_a_point_in_the_window(api, instance, db):
    path = f"{INSTANCES}/{instance['uuid']}/restore"
    assert api.post(path, json={}).status_code == 422
    taken(db, instance)
    make_active(db, instance)
    early = stamp(utcnow() - timedelta(days=3))
    answer = api.post(path, json={"point_in_time": early})
    assert answer.status_code == 422 and "point_in_time" in answer.json["errors"]
    answer = api.post(path, json={"point_in_time": stamp(utcnow() - timedelta(minutes=10))})
    assert answer.status_code == 202, answer.json
    assert answer.json["status"] == "IN_PROGRESS"
    # One change at a time.
    assert api.post(path, json={"point_in_time": stamp(utcnow())}).status_code == 409


def test_after_an_in_place_restore_the_replaced_history_is_not_a_point(
    api, instance, instance_body, db
):
    before = taken(db, instance, label="20261202-080000F", ago=timedelta(hours=4))
    after = taken(db, instance, label="20261202-100000F", ago=timedelta(hours=1))
    make_active(db, instance)
    archive = db.scalars(select(Archive).where(Archive.uuid == instance["uuid"])).one()
    point = utcnow() - timedelta(hours=3)
    core_backups.restored_in_place(archive, point, utcnow() - timedelta(minutes=30))
    db.commit()
    body = {k: v for k, v in instance_body.items() if k != "version"}
    inside = stamp(utcnow() - timedelta(hours=2))
    answer = api.post(
        INSTANCES,
        json=dict(
            body,
            name="replaced",
            restore_from={"instance": instance["uuid"], "point_in_time": inside},
        ),
    )
    assert answer.status_code == 422, answer.json
    assert "in-place restore replaced" in answer.json["message"]
    listed = {
        b["uuid"]: b["superseded"] for b in api.get(f"{INSTANCES}/{instance['uuid']}/backups").json
    }
    assert listed == {before.uuid: False, after.uuid: True}
    # A backup of the replaced history restores as itself (its end, on its own timeline).
    answer = api.post(
        INSTANCES,
        json=dict(
            body, name="undo", restore_from={"instance": instance["uuid"], "backup": after.uuid}
        ),
    )
    assert answer.status_code == 201, answer.json
    fresh(db)
    operation = db.scalars(
        select(Operation).where(Operation.target_uuid == answer.json["uuid"])
    ).one()
    assert operation.params["restore"] == {
        "archive": instance["uuid"],
        "backup": after.label,
        "immediate": True,
    }
    # The latest point starts from the newest backup of the current history.
    answer = api.post(
        INSTANCES, json=dict(body, name="latest", restore_from={"instance": instance["uuid"]})
    )
    fresh(db)
    operation = db.scalars(
        select(Operation).where(Operation.target_uuid == answer.json["uuid"])
    ).one()
    assert operation.params["restore"]["backup"] == before.label
