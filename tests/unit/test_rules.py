import pytest

from app.services.references import parse_instance, parse_user, parse_version
from core import rules

U1 = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"
U2 = "7c9e6679-7425-40de-944b-e07fc1f90ae7"


@pytest.mark.parametrize(
    "sync, nodes, effective", [(1, 1, 0), (0, 3, 0), (1, 3, 1), (2, 3, 2), (5, 3, 2), (15, 16, 15)]
)
def test_effective_sync_replicas(sync, nodes, effective):
    assert rules.effective_sync_replicas(sync, nodes) == effective


def test_name_rules_refuse_a_trailing_newline():
    # re "$" would accept "name\n"; fullmatch does not.
    assert rules.user_name_error("name\n")
    assert rules.database_name_error("name\n")
    assert rules.instance_name_error("name\n")


def test_reserved_user_prefixes_ignore_case():
    for name in ("pg_x", "Pg_x", "dbaas_x", "DBaaS_x", "postgres", "POSTGRESX"):
        assert "reserved" in rules.user_name_error(name)
    assert rules.user_name_error("pgx") is None


def test_internal_role_names_are_reserved():
    # The roles the service itself runs PostgreSQL with: no tenant can take them.
    for name in ("postgres", "dbaas_replication", "DBAAS_REPLICATION", "dbaas_rewind"):
        assert "reserved" in rules.user_name_error(name)


def test_password_bounds_count_characters():
    assert rules.password_error("é" * 8) is None
    assert rules.password_error("é" * 7)
    assert rules.password_error("x" * 99) is None
    assert rules.password_error("x" * 100)


@pytest.mark.parametrize(
    "reference, expected",
    [
        (U1, U1),
        (U1.upper(), U1),
        (f"/v1/types/postgres/versions/{U1}", U1),
        (f"/v1/types/postgres/versions/{U1}/", U1),
        (f"https://dbaas.example/v1/types/postgres/versions/{U1}", U1),
        ("/v1/types/postgres/versions/", None),
        (f"/v1/types/postgres/instances/{U1}", None),
        (f"/v2/types/postgres/versions/{U1}", None),
        ("postgres:15.4", None),
        ("", None),
    ],
)
def test_parse_version(reference, expected):
    assert parse_version(reference) == expected


def test_parse_user_and_instance():
    assert parse_user(U2) == (None, U2)
    assert parse_user(f"/v1/types/postgres/instances/{U1}/users/{U2}") == (U1, U2)
    assert parse_user(f"/v1/postgres/instances/{U1}/users/{U2}") == (U1, U2)
    assert parse_user(f"/v1/types/postgres/instances/{U1}/databases/{U2}") is None
    assert parse_instance(f"/v1/types/postgres/instances/{U1}") == U1
    assert parse_instance(U1) == U1
    assert parse_instance("x") is None


def test_where_backups_go():
    from core.backups import repository_kind

    base = {"BACKUP_S3_BUCKET": "", "BACKUP_PATH": "", "PROVIDER": "nspawn"}
    assert repository_kind(base) == "lab"
    assert repository_kind(dict(base, PROVIDER="libvirt")) is None
    assert repository_kind(dict(base, PROVIDER="static", BACKUP_PATH="/mnt/backups")) == "path"
    assert repository_kind(dict(base, PROVIDER="static", BACKUP_S3_BUCKET="b")) == "s3"
