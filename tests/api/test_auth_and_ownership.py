"""Authentication on every route, and projects isolated on every route and verb.
Both tests are generated from the application's route table, so a new route is
covered (and must be given a valid body below) without anyone remembering to."""

from sqlalchemy import func, select

from core.models import Operation
from tests.support.client import ApiClient
from tests.support.services import fresh

PASSWORD = "secure_password_123"
SKIPPED_METHODS = {"HEAD", "OPTIONS"}


def api_routes(app):
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/v1/"):
            for method in sorted(rule.methods - SKIPPED_METHODS):
                yield rule, method


def fill(rule, ids):
    path = rule.rule
    for name, value in ids.items():
        path = path.replace(f"<uuid:{name}>", value).replace(f"<{name}>", value)
    assert "<" not in path, f"no id for a parameter of {rule.rule}"
    return path


def valid_body(rule, method, ids):
    """A body that would succeed, so that only ownership can refuse it."""
    if method not in ("POST", "PUT"):
        return None
    bodies = {
        ("instances.Instances", "POST"): None,  # no instance id in the path
        ("instances.InstanceById", "PUT"): {"cpu": 8},
        ("users.Collection", "POST"): {"name": "intruder", "password": PASSWORD},
        ("users.ById", "PUT"): {"password": "taken_over_1"},
        ("databases.Collection", "POST"): {"name": "intruder_db", "owner": ids["user_uuid"]},
        ("backups.InstanceBackups", "POST"): {"kind": "full"},
        ("instances.InstanceRestore", "POST"): {"point_in_time": "2026-12-02T10:00:00Z"},
        ("instances.InstanceSwitchover", "POST"): {},
        ("instances.InstanceUpgrade", "POST"): {},
    }
    assert (rule.endpoint, method) in bodies, f"add a valid body for {method} {rule.rule}"
    return bodies[(rule.endpoint, method)]


def route_ids(api, instance, user, database, version):
    backup = api.post(f"/v1/postgres/instances/{instance['uuid']}/backups", json={})
    assert backup.status_code == 201, backup.json
    operations = api.get(f"/v1/postgres/instances/{instance['uuid']}/operations").json
    return {
        "backup_uuid": backup.json["uuid"],
        "instance_uuid": instance["uuid"],
        "user_uuid": user["uuid"],
        "database_uuid": database["uuid"],
        "version_uuid": version["uuid"],
        "operation_uuid": operations[-1]["uuid"],
        "project": api.project_id,
    }


def test_every_route_needs_a_valid_token(
    app, db, api, instance, user, database, version, monkeypatch
):
    monkeypatch.setitem(app.config, "AUTH_FAILURE_LIMIT", 10**6)  # many failures on purpose
    ids = route_ids(api, instance, user, database, version)
    for token in (None, "dbaas_not-a-token", ""):
        client = ApiClient(app, token)
        for rule, method in api_routes(app):
            answer = client.request(method, fill(rule, ids), json={})
            assert answer.status_code == 401, (method, rule.rule)
            assert answer.headers["WWW-Authenticate"] == "Bearer"
    for header in ("Basic dXNlcjpwYXNz", "Bearer", "bearer  ", "Token abc"):
        answer = app.test_client().get("/v1/postgres/instances", headers={"Authorization": header})
        assert answer.status_code == 401


def test_other_project_gets_404_on_every_verb(
    app, db, api, other_api, instance, user, database, version
):
    ids = route_ids(api, instance, user, database, version)
    snapshot = [
        api.get(path).json
        for path in (
            f"/v1/postgres/instances/{instance['uuid']}",
            f"/v1/postgres/instances/{instance['uuid']}/users",
            f"/v1/postgres/instances/{instance['uuid']}/databases",
        )
    ]
    operations = db.scalar(select(func.count()).select_from(Operation))
    checked = 0
    for rule, method in api_routes(app):
        if "<uuid:instance_uuid>" not in rule.rule:
            continue
        path = fill(rule, ids)
        answer = other_api.request(method, path, json=valid_body(rule, method, ids))
        assert answer.status_code == 404, (method, path, answer.json)
        checked += 1
    assert checked >= 9
    assert other_api.get("/v1/postgres/instances").json == []
    assert snapshot == [
        api.get(path).json
        for path in (
            f"/v1/postgres/instances/{instance['uuid']}",
            f"/v1/postgres/instances/{instance['uuid']}/users",
            f"/v1/postgres/instances/{instance['uuid']}/databases",
        )
    ]
    fresh(db)
    assert db.scalar(select(func.count()).select_from(Operation)) == operations


def test_admin_of_another_project_is_still_another_project(admin_api, instance):
    path = f"/v1/postgres/instances/{instance['uuid']}"
    assert admin_api.get(path).status_code == 404
    assert admin_api.delete(path).status_code == 404


def test_failed_authentications_are_limited_per_address(app, db, api, monkeypatch):
    monkeypatch.setitem(app.config, "AUTH_FAILURE_LIMIT", 3)
    guesser = app.test_client()
    guess = {"Authorization": "Bearer dbaas_guess"}
    for _ in range(3):
        assert guesser.get("/v1/postgres/instances", headers=guess).status_code == 401
    refused = guesser.get("/v1/postgres/instances", headers=guess)
    assert refused.status_code == 429
    assert 0 < int(refused.headers["Retry-After"]) <= app.config["AUTH_FAILURE_WINDOW"]
    assert refused.json["message"].startswith("Too many failed authentications")
    # A missing token counts as a failure too.
    assert guesser.get("/v1/postgres/instances").status_code == 429
    # A valid token from the same address (another client behind the same proxy or
    # NAT) is never refused for others' failures ...
    right = {"Authorization": f"Bearer {api.token}"}
    for _ in range(5):
        assert guesser.get("/v1/postgres/instances", headers=right).status_code == 200
    # ... while the failing credentials stay refused, and other addresses are not
    # affected at all.
    assert guesser.get("/v1/postgres/instances", headers=guess).status_code == 429
    elsewhere = {"REMOTE_ADDR": "192.0.2.7"}
    answer = guesser.get("/v1/postgres/instances", headers=guess, environ_base=elsewhere)
    assert answer.status_code == 401


def test_answers_carry_security_headers(app, api):
    answer = api.get("/v1/postgres/instances")
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.headers["X-Frame-Options"] == "DENY"
    assert answer.headers["Cache-Control"] == "no-store"
    assert "default-src 'none'" in answer.headers["Content-Security-Policy"]
    docs = app.test_client().get("/docs")
    assert docs.headers["X-Frame-Options"] == "DENY"
    assert "Content-Security-Policy" not in docs.headers  # the page loads its own assets


def test_a_removed_token_stops_working_once_its_cached_identity_expires(db, api, monkeypatch):
    import time

    from sqlalchemy import delete

    from app.services import tokens
    from core.models import Token

    monkeypatch.setattr(tokens, "IDENTITY_KEEP", 0.3)
    assert api.get("/v1/postgres/instances").status_code == 200  # now cached
    db.execute(delete(Token))
    db.commit()
    time.sleep(0.4)
    assert api.get("/v1/postgres/instances").status_code == 401


def test_a_revoked_token_is_refused_after_the_identity_cache(app, db, monkeypatch):
    import time

    from app.services import tokens
    from core.models import Token

    monkeypatch.setattr(tokens, "IDENTITY_KEEP", 0.3)
    record, secret = tokens.create_token_record(db, "3f2504e0-4f89-41d3-9a0c-0305e82c3301")
    client = ApiClient(app, secret)
    assert client.get("/v1/postgres/instances").status_code == 200
    fresh(db)
    assert db.get(Token, record.id).last_used_at is not None
    assert tokens.revoke_token(db, record.id)
    time.sleep(0.4)
    assert client.get("/v1/postgres/instances").status_code == 401
    assert not tokens.revoke_token(db, 10**9)


def test_an_expired_token_is_refused_even_while_cached(app, db):
    import time
    from datetime import timedelta

    from app.services import tokens

    secret = tokens.create_token(
        db, "3f2504e0-4f89-41d3-9a0c-0305e82c3301", expires_in=timedelta(seconds=1)
    )
    client = ApiClient(app, secret)
    assert client.get("/v1/postgres/instances").status_code == 200  # cached 1 s at most
    time.sleep(1.2)
    assert client.get("/v1/postgres/instances").status_code == 401


def test_a_uuid_is_one_name_space_across_kinds_and_projects(
    api, other_api, instance_body, instance, user, database, settle
):
    """Project B naming its records with A's uuids gets 409, as for its own: A's
    records are neither blocked nor touched."""
    settle()
    other = other_api.post("/v1/postgres/instances", json=instance_body)
    assert other.status_code == 201, other.json
    settle()
    other_path = f"/v1/postgres/instances/{other.json['uuid']}"
    taken = [instance["uuid"], user["uuid"], database["uuid"], other.json["uuid"]]
    owner = other_api.post(f"{other_path}/users", json={"name": "b", "password": PASSWORD})
    assert owner.status_code == 201
    for uuid in taken:
        for path, body in [
            ("/v1/postgres/instances", {**instance_body, "name": "b2"}),
            (f"{other_path}/users", {"name": "b_user", "password": PASSWORD}),
            (f"{other_path}/databases", {"name": "b_db", "owner": owner.json["uuid"]}),
        ]:
            answer = other_api.post(path, json={**body, "uuid": uuid})
            assert answer.status_code == 409, (path, answer.json)
            assert answer.json["errors"] == {"uuid": ["Already taken."]}
            assert answer.json["message"] == "This uuid is taken."
    # A's own changes are not blocked by anything B did.
    assert api.put(f"/v1/postgres/instances/{instance['uuid']}", json={"cpu": 8}).status_code == 200
    user_path = f"/v1/postgres/instances/{instance['uuid']}/users/{user['uuid']}"
    assert api.put(user_path, json={"description": "still mine"}).status_code == 200


def test_another_kinds_operation_never_blocks_a_record(api, db, instance, user, settle):
    """An operation is keyed by (kind, record): a user's change under way whose uuid
    text equals the instance's would not make the instance busy."""
    from core.models import Operation

    settle()
    path = f"/v1/postgres/instances/{instance['uuid']}"
    assert api.put(f"{path}/users/{user['uuid']}", json={"description": "x"}).status_code == 200
    operation = db.scalars(select(Operation).order_by(Operation.id.desc())).first()
    operation.target_uuid = instance["uuid"]  # as if the user had been given that uuid
    db.commit()
    assert api.put(path, json={"cpu": 8}).status_code == 200


def test_a_tokens_use_is_noted_in_the_requests_own_session_when_it_writes(
    app, db, monkeypatch, instance_body
):
    """A POST already holds the write lock (SQLite): a second writing session would
    wait for it, so its token's use is noted in its own; a GET's in a writer of its own."""
    from app import extension
    from app.services import tokens
    from core.models import Token

    opened = []
    real = extension.separate_writer

    def counting():
        opened.append(True)
        return real()

    monkeypatch.setattr(extension, "separate_writer", counting)
    record, secret = tokens.create_token_record(db, "3f2504e0-4f89-41d3-9a0c-0305e82c3302")
    assert (
        ApiClient(app, secret).post("/v1/postgres/instances", json=instance_body).status_code == 201
    )
    assert opened == []
    fresh(db)
    assert db.get(Token, record.id).last_used_at is not None

    reader, reader_secret = tokens.create_token_record(db, "3f2504e0-4f89-41d3-9a0c-0305e82c3302")
    assert ApiClient(app, reader_secret).get("/v1/postgres/instances").status_code == 200
    assert opened == [True]
    fresh(db)
    assert db.get(Token, reader.id).last_used_at is not None
