"""The verifiers the API stores are accepted by a real PostgreSQL server: a role
created with one logs in with its password (over TCP, scram-sha-256) and with no other."""

import secrets

import psycopg
import pytest
from psycopg import sql

from core import scram
from tests.support.services import POSTGRES_ADMIN_URL


@pytest.fixture
def make_role():
    created = []
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
        port = admin.execute("SHOW port").fetchone()[0]

        def make(verifier: str) -> str:
            name = f"scram_test_{secrets.token_hex(4)}"
            admin.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                    sql.Identifier(name), sql.Literal(verifier)
                )
            )
            created.append(name)
            return name

        make.port = port
        yield make
        for name in created:
            admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


def login(port, user, password):
    with psycopg.connect(
        host="127.0.0.1",
        port=port,
        dbname="postgres",
        user=user,
        password=password,
        connect_timeout=5,
    ) as conn:
        return conn.execute("SELECT current_user").fetchone()[0]


@pytest.mark.parametrize(
    "password",
    [
        "secure_password_123",
        "pässwörd-ÆØÅ",
        "Roman\u2168nine",  # SASLprep (NFKC) maps U+2168 to "IX" on both sides
        "spaces and 'quotes' \"too\" $1 \\",
        "x" * 99,
    ],
)
def test_role_made_from_the_verifier_logs_in_with_the_password(make_role, password):
    role = make_role(scram.verifier(password))
    assert login(make_role.port, role, password) == role


def test_wrong_password_is_rejected(make_role):
    role = make_role(scram.verifier("secure_password_123"))
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        login(make_role.port, role, "secure_password_124")


def test_postgresql_stores_the_verifier_unchanged(make_role):
    verifier = scram.verifier("secure_password_123")
    role = make_role(verifier)
    with psycopg.connect(POSTGRES_ADMIN_URL) as admin:
        stored = admin.execute(
            "SELECT rolpassword FROM pg_authid WHERE rolname = %s", (role,)
        ).fetchone()[0]
    assert stored == verifier
