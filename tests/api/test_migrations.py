import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.orm import Session

from app import migrate
from app.sessions import get_db
from core.models import Base, Version


def test_migrations_match_the_models(app):
    """The migrated schema is exactly what the models declare, on both backends."""
    with get_db(app).engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_a_running_services_catalogue_gains_postgresql_18_once(tmp_path):
    """A catalogue loaded before PostgreSQL 18 shipped gets it from the migration; an
    administrator's own version of that image is left as the only one."""
    for own_pg18 in (False, True):
        url = f"sqlite:///{tmp_path / f'catalogue-{own_pg18}.db'}"
        migrate.upgrade(url, "0007")
        engine = sa.create_engine(url)
        with Session(engine) as session:
            session.add(Version(name="PostgreSQL 15", image="debian-bookworm-pg15"))
            if own_pg18:
                session.add(Version(name="PG 18 (ours)", image="debian-forky-pg18"))
            session.commit()
        migrate.upgrade(url)
        migrate.upgrade(url)  # a second run changes nothing
        with Session(engine) as session:
            images = sorted(session.scalars(sa.select(Version.image)))
            names = set(session.scalars(sa.select(Version.name)))
        engine.dispose()
        assert images == ["debian-bookworm-pg15", "debian-forky-pg18"]
        assert ("PostgreSQL 18" in names) is not own_pg18
