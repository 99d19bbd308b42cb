"""A request's unit of work: its sessions on the core engine, and the hand-off of the
operations it committed to the queue."""

from flask import Flask, current_app, g, request
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from core import queue
from core.database import make_engine, writer
from core.models import Operation


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
            g.db_session = (self.sessionmaker if reads_only() else self.write_sessionmaker)()
        return g.db_session

    @staticmethod
    def _close(_exc: BaseException | None) -> None:
        session = g.pop("db_session", None)
        if session is not None:
            session.close()


def reads_only() -> bool:
    """Whether the current request only reads: its session then never takes SQLite's
    write lock."""
    return request.method in ("GET", "HEAD", "OPTIONS")


def get_db(app: Flask) -> Database:
    return app.extensions["dbaas_db"]


def session() -> Session:
    """The current request's session."""
    return get_db(current_app).session


def separate_writer() -> Session:
    """A writing session of its own, beside the request's (close it: ``with``)."""
    return get_db(current_app).write_sessionmaker()


def dispatch(operation: Operation | None) -> None:
    """Hand a committed operation to the queue (or leave it in the outbox). Inside
    OneTransaction, once that has committed: a worker must never see a job first."""
    if operation is None:
        return
    later = g.get("dispatch_after_commit")
    if later is not None:
        later.append(operation.id)
        return
    queue.enqueue(session(), current_app.extensions["dbaas_queue"], operation)


class OneTransaction:
    """The rest of a request in one transaction (``with``): the services' commits become
    savepoints, operations are handed to the queue only once the whole has committed,
    and an exception, or ``rollback()``, leaves nothing behind."""

    def __enter__(self) -> Session:
        db = get_db(current_app)
        earlier = g.pop("db_session", None)  # authentication's: it only read
        if earlier is not None:
            earlier.close()
        self.connection = writer(db.engine).connect()
        self.outer = self.connection.begin()
        g.db_session = Session(
            bind=self.connection, join_transaction_mode="create_savepoint", expire_on_commit=False
        )
        g.dispatch_after_commit = []
        return g.db_session

    def rollback(self) -> None:
        if self.outer.is_active:
            g.db_session.rollback()
            self.outer.rollback()
        g.dispatch_after_commit = []

    def __exit__(self, kind, _exc, _traceback) -> None:
        try:
            if kind is None and self.outer.is_active:
                g.db_session.commit()
                self.outer.commit()
            elif self.outer.is_active:
                self.outer.rollback()
        finally:
            g.pop("db_session").close()
            self.connection.close()
            operations = g.pop("dispatch_after_commit", [])
        if kind is None:
            for operation_id in operations:
                dispatch(session().get(Operation, operation_id))
