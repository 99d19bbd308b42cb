"""Engine and sessions: plain SQLAlchemy 2, shared by the API and the worker."""

from pathlib import Path

from flask import Flask, g, request
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

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


class Database:
    """Per-request sessions for Flask; ``sessionmaker`` for everything else."""

    def __init__(self) -> None:
        self.engine: Engine | None = None
        self.sessionmaker: sessionmaker[Session] | None = None
        self.write_sessionmaker: sessionmaker[Session] | None = None

    def init_app(self, app: Flask) -> None:
        self.engine = make_engine(app.config["DATABASE_URL"])
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)
        self.write_sessionmaker = sessionmaker(writer(self.engine), expire_on_commit=False)
        app.extensions["dbaas_db"] = self
        app.teardown_appcontext(self._close)

    @property
    def session(self) -> Session:
        if "db_session" not in g:
            reads_only = request.method in ("GET", "HEAD", "OPTIONS")
            g.db_session = (self.sessionmaker if reads_only else self.write_sessionmaker)()
        return g.db_session

    @staticmethod
    def _close(_exc: BaseException | None) -> None:
        session = g.pop("db_session", None)
        if session is not None:
            session.close()


def get_db(app: Flask) -> Database:
    return app.extensions["dbaas_db"]


def session() -> Session:
    """The current request's session."""
    from flask import current_app

    return get_db(current_app).session
