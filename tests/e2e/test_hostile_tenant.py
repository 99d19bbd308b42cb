"""A hostile tenant's text through the real API, worker and playbooks on a real lab
node: template and shell payloads in every client-settable field that reaches a job
run nothing, and come back from PostgreSQL as the literal text. Afterwards nothing
the service keeps (data dir, Redis, the worker's log) holds a marker's name or an
internal credential."""

from pathlib import Path

import redis

from tests.e2e.test_instances import INSTANCES, connect, host_leftovers

IMAGE = "debian-bookworm-pg15"


def payloads(tmp_path: Path, field: str) -> str:
    """One text holding every kind of payload, each aimed at a marker file of its own."""
    marker = tmp_path / f"pwned-{field}"
    return (
        f"{{{{ lookup('pipe', 'touch {marker}-lookup') }}}} "
        "{% if true %}x{% endif %} {# comment #} "
        f"${{HOME}} $(touch {marker}-shell) `touch {marker}-tick` "
        "'; DROP TABLE x; -- \" ünïcødé ✓ \\ {{ 7 * 7 }}"
    )


def markers(tmp_path: Path) -> list[Path]:
    return sorted(tmp_path.glob("pwned-*"))


def test_template_and_shell_payloads_in_every_field_stay_text(lab_pipeline, tmp_path):
    pipeline = lab_pipeline
    pipeline.worker.start()

    # Names are checked by rule: a payload there is a 422 naming the field.
    bad = pipeline.api.post(INSTANCES, json={"name": "{{ 1 }}", "cpu": 1})
    assert bad.status_code == 422 and "name" in bad.json["errors"]

    # Version name and description (an administrator's), then the tenant's fields.
    version = pipeline.admin.post(
        "/v1/types/postgres/versions",
        json={
            "name": payloads(tmp_path, "version-name")[:64],
            "description": payloads(tmp_path, "version-description"),
            "image": IMAGE,
        },
    )
    assert version.status_code == 201, version.json
    answer = pipeline.api.post(
        INSTANCES,
        json={
            "name": "hostile",
            "description": payloads(tmp_path, "instance-description"),
            "cpu": 1,
            "ram": 1024,
            "disk_size": 8,
            "nodes_number": 1,
            "version": version.json["uuid"],
        },
    )
    assert answer.status_code == 201, answer.json
    path = f"{INSTANCES}/{answer.json['uuid']}"
    active = pipeline.wait_status(path, "ACTIVE", timeout=600)
    assert active["description"] == payloads(tmp_path, "instance-description")

    user_text = payloads(tmp_path, "user-description")
    password = "Hostile-pw-1"
    user = pipeline.api.post(
        f"{path}/users", json={"name": "app", "password": password, "description": user_text}
    )
    assert user.status_code == 201, user.json
    database_text = payloads(tmp_path, "database-description")
    database = pipeline.api.post(
        f"{path}/databases",
        json={"name": "app_db", "owner": user.json["uuid"], "description": database_text},
    )
    assert database.status_code == 201, database.json
    pipeline.wait_status(f"{path}/databases/{database.json['uuid']}", "ACTIVE", 180)

    # PUT of the instance's and the user's descriptions reaches a job too.
    updated_text = payloads(tmp_path, "user-description-put")
    user_path = f"{path}/users/{user.json['uuid']}"
    assert pipeline.api.put(user_path, json={"description": updated_text}).status_code == 200
    shown = pipeline.wait_status(user_path, "ACTIVE", 180)
    assert shown["description"] == updated_text
    instance_text = payloads(tmp_path, "instance-description-put")
    assert pipeline.api.put(path, json={"description": instance_text}).status_code == 200
    assert pipeline.api.get(path).json["description"] == instance_text

    with connect(active["ipsv4"][0], "app", password, "app_db") as conn:
        role_comment, db_comment = conn.execute(
            "select shobj_description(r.oid, 'pg_authid'), shobj_description(d.oid, 'pg_database')"
            " from pg_roles r, pg_database d where r.rolname = 'app' and d.datname = 'app_db'"
        ).fetchone()
    assert role_comment == updated_text
    assert db_comment == database_text
    assert markers(tmp_path) == []

    # Nothing the service keeps names a marker or holds an internal credential.
    from core import secrets as core_secrets
    from core.models import Instance

    record = pipeline.session.query(Instance).filter_by(uuid=active["uuid"]).one()
    credentials = core_secrets.credentials(pipeline.session, record, pipeline.settings)
    pipeline.session.rollback()
    secrets = [*credentials.values(), password]
    assert pipeline.api.delete(path).status_code == 204
    pipeline.wait_for(lambda: pipeline.api.get(path).status_code == 404, "the delete", 300)
    assert host_leftovers(pipeline.data_dir, pipeline.bridge) == []
    assert [p for p in pipeline.data_dir.rglob("*") if "pwned" in p.name] == []
    found = []
    database = Path(pipeline.database_url.removeprefix("sqlite:///"))
    for file in [*pipeline.data_dir.rglob("*"), pipeline.worker.log_path]:
        if file.is_file():
            content = file.read_bytes()
            found += [f"{file}: a credential" for n in secrets if n.encode() in content]
            # The metadata database keeps the descriptions (the text itself, by design);
            # nothing else may have seen a marker's name: no log, no run directory.
            if not file.name.startswith(database.name) and b"pwned-" in content:
                found.append(f"{file}: a marker's name")
    client = redis.Redis.from_url(pipeline.settings["REDIS_URL"])
    for key in client.scan_iter(count=1000):
        dumped = client.dump(key) or b""
        found += [f"redis {key!r}: a credential" for n in secrets if n.encode() in dumped]
        if b"pwned-" in dumped:
            found.append(f"redis {key!r}: a marker's name")
    assert found == []
