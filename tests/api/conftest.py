"""API tests: Flask's test client on a real database (SQLite and PostgreSQL) and a
real Redis. Every test starts with empty tables and the default catalogue."""

import uuid
from contextlib import ExitStack

import pytest
import redis
from sqlalchemy import delete

from app import create_app, migrate
from app.services import tokens, versions
from app.sessions import get_db
from core.models import Base
from tests.support.client import ApiClient
from tests.support.services import fresh, postgres_database

# Many instances, never provisioned, up to the rules' largest sizes: no quota and not
# this host's memory or disk bound them here (tests/api/test_quotas.py sets its own).
UNBOUNDED = {
    "QUOTA_INSTANCES": 10**6,
    "QUOTA_NODES": 10**6,
    "QUOTA_CPU": 10**9,
    "QUOTA_RAM": 10**12,
    "QUOTA_DISK": 10**9,
    "RAM_OVERCOMMIT": 10**6,
    "DISK_OVERCOMMIT": 10**6,
}


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def app(request, redis_url, tmp_path_factory):
    with ExitStack() as stack:
        data_dir = tmp_path_factory.mktemp(f"data-{request.param}")
        if request.param == "postgresql":
            database_url = stack.enter_context(postgres_database())
        else:
            database_url = f"sqlite:///{data_dir / 'dbaas.db'}"
        migrate.upgrade(database_url)
        app = create_app(
            {
                "DATA_DIR": str(data_dir),
                "DATABASE_URL": database_url,
                "REDIS_URL": redis_url,
                **UNBOUNDED,
            }
        )
        app.config["BACKEND"] = request.param
        yield app
        get_db(app).engine.dispose()


@pytest.fixture
def db(app):
    """A session on the app's database, emptied before each test."""
    session = get_db(app).sessionmaker()
    for table in reversed(Base.metadata.sorted_tables):
        session.execute(delete(table))
    session.commit()
    versions.load_default_catalogue(session)
    redis.Redis.from_url(app.config["REDIS_URL"]).flushdb()
    app.extensions.get("dbaas_auth_checks", {}).clear()  # each process's view of Redis
    yield session
    session.close()


def _client(app, db, *, admin=False) -> ApiClient:
    project_id = str(uuid.uuid4())
    return ApiClient(app, tokens.create_token(db, project_id, is_admin=admin), project_id)


@pytest.fixture
def api(app, db) -> ApiClient:
    """A project's token."""
    return _client(app, db)


@pytest.fixture
def other_api(app, db) -> ApiClient:
    """Another project's token."""
    return _client(app, db)


@pytest.fixture
def admin_api(app, db) -> ApiClient:
    return _client(app, db, admin=True)


@pytest.fixture
def version(api) -> dict:
    answer = api.get("/v1/types/postgres/versions")
    return next(v for v in answer.json["versions"] if v["image"] == "debian-bookworm-pg15")


@pytest.fixture
def instance_body(version) -> dict:
    """The documented example, with a version of the catalogue: what it shows works."""
    from app.api.instances.routes import CREATE_EXAMPLE

    return dict(CREATE_EXAMPLE, version=f"/v1/types/postgres/versions/{version['uuid']}")


@pytest.fixture
def instance(api, instance_body) -> dict:
    answer = api.post("/v1/postgres/instances", json=instance_body)
    assert answer.status_code == 201, answer.json
    return answer.json


@pytest.fixture
def user(api, instance) -> dict:
    answer = api.post(
        f"/v1/postgres/instances/{instance['uuid']}/users",
        json={"name": "app_user", "password": "secure_password_123"},
    )
    assert answer.status_code == 201, answer.json
    return answer.json


@pytest.fixture
def database(api, instance, user) -> dict:
    answer = api.post(
        f"/v1/postgres/instances/{instance['uuid']}/databases",
        json={"name": "app_database", "owner": user["uuid"]},
    )
    assert answer.status_code == 201, answer.json
    return answer.json


@pytest.fixture
def settle(db):
    """Mark every unfinished operation done, as a worker would after a successful run."""
    from sqlalchemy import select

    from core import lifecycle
    from core.models import Operation, OperationStatus

    def settle_all():
        fresh(db)
        waiting = db.scalars(
            select(Operation)
            .where(Operation.status.in_(OperationStatus.unfinished()))
            .order_by(Operation.id)
        ).all()
        for operation in waiting:
            lifecycle.operation_succeeded(db, operation)

    return settle_all
