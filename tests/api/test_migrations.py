from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from app.sessions import get_db
from core.models import Base


def test_migrations_match_the_models(app):
    """The migrated schema is exactly what the models declare, on both backends."""
    with get_db(app).engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
