"""API bearer tokens: shown once, stored as SHA-256, compared in constant time; they
may expire, and can be revoked."""

import hashlib
import hmac
import logging
import secrets
import uuid as uuid_lib
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from app.expiring import ExpiringMap
from core.models import Token, utcnow

log = logging.getLogger(__name__)

PREFIX = "dbaas_"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def create_token(session: Session, project_id: str, **options: Any) -> str:
    """Store a new token for ``project_id`` and return its only plaintext copy (the
    options are create_token_record's)."""
    return create_token_record(session, project_id, **options)[1]


def create_token_record(
    session: Session,
    project_id: str,
    *,
    is_admin: bool = False,
    description: str = "",
    expires_in: timedelta | None = None,
) -> tuple[Token, str]:
    """Store a new token; the record (its id, its expiry) and the plaintext."""
    project_id = str(uuid_lib.UUID(project_id))
    token = PREFIX + secrets.token_urlsafe(32)
    record = Token(
        token_hash=_digest(token),
        project_id=project_id,
        is_admin=is_admin,
        description=description,
        expires_at=utcnow() + expires_in if expires_in else None,
    )
    session.add(record)
    session.commit()
    return record, token


def list_tokens(session: Session) -> list[Token]:
    return list(session.scalars(select(Token).order_by(Token.id)))


def revoke_token(session: Session, token_id: int) -> bool:
    """Refuse a token from now on (within IDENTITY_KEEP seconds in every process);
    False if there is no such token."""
    token = session.get(Token, token_id)
    if token is None:
        return False
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        session.commit()
    return True


@dataclass(frozen=True)
class Identity:
    """Who a valid token speaks for."""

    project_id: str
    is_admin: bool


def is_usable(token: Token, now: datetime) -> bool:
    return token.revoked_at is None and (token.expires_at is None or token.expires_at > now)


def authenticate(
    session: Session,
    presented: str,
    writing: Callable[[], AbstractContextManager[Session]] | None = None,
) -> Identity | None:
    """The identity of a presented token, or None. ``writing`` opens the session that
    notes the token's use (default: ``session`` itself)."""
    # Looking up by digest leaks nothing useful (an attacker cannot steer a
    # SHA-256); the final comparison is constant-time all the same.
    digest = _digest(presented)
    cached = _known.get(digest)
    if cached is not None:
        return cached
    token = session.scalars(select(Token).where(Token.token_hash == digest)).first()
    now = utcnow()
    if token is None or not hmac.compare_digest(token.token_hash, digest):
        return None
    if not is_usable(token, now):
        return None
    _note_use(writing or (lambda: nullcontext(session)), token, now)
    identity = Identity(token.project_id, token.is_admin)
    keep = IDENTITY_KEEP
    if token.expires_at is not None:  # an expiring token is not kept past its end
        keep = min(keep, (token.expires_at - now).total_seconds())
    _known.put(digest, identity, keep)
    return identity


def _note_use(
    writing: Callable[[], AbstractContextManager[Session]], token: Token, now: datetime
) -> None:
    """Bookkeeping, at most once a minute, in a short writing transaction of its own:
    a GET's session only reads, and SQLite refuses to turn a reader into a writer once
    another writer went first. A database too busy to take it skips it: the next
    request a minute on notes the use."""
    if token.last_used_at is not None and now - token.last_used_at < LAST_USED_EVERY:
        return
    with writing() as session:
        try:
            session.execute(
                update(Token)
                .where(
                    Token.id == token.id,
                    or_(Token.last_used_at.is_(None), Token.last_used_at < now - LAST_USED_EVERY),
                )
                .values(last_used_at=now)
            )
            session.commit()
        except OperationalError as exc:
            session.rollback()
            log.info("token %s: last use not noted (%s)", token.id, exc.orig)


# Valid tokens seen lately by this process, by digest: most requests then skip the
# token query. An entry lives IDENTITY_KEEP seconds, so a token revoked or removed
# stops working within that time. Unknown or refused tokens are never remembered.
IDENTITY_KEEP = 10.0
LAST_USED_EVERY = timedelta(seconds=60)
_known = ExpiringMap()
