"""Engines: plain SQLAlchemy 2, shared by the API, the worker and the CLI."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session

# Execution option marking an engine whose transactions will write.
WRITES = "dbaas_writes"


def writer(engine: Engine) -> Engine:
    """The same engine, for sessions that write (SQLite: BEGIN IMMEDIATE)."""
    return engine.execution_options(**{WRITES: True})


def make_engine(url: str) -> Engine:
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True)

    database = url.split("///", 1)[-1]
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection, _record):
        # SQLAlchemy emits BEGIN itself (below), so the driver must not.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection):
        # A writing transaction takes the write lock up front, so it never fails
        # half-way upgrading a read lock (SQLITE_BUSY); readers never lock.
        if connection.get_execution_options().get(WRITES):
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            connection.exec_driver_sql("BEGIN")

    return engine


@contextmanager
def writing_session(url: str) -> Iterator[Session]:
    """A writing session on an engine of its own, disposed after: for the CLI, the
    worker, each job (pooled connections must not cross the worker's fork) and tests."""
    engine = make_engine(url)
    try:
        with Session(writer(engine), expire_on_commit=False) as session:
            yield session
    finally:
        engine.dispose()
