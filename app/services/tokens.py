"""API bearer tokens: shown once, stored as SHA-256, compared in constant time."""

import hashlib
import hmac
import secrets
import uuid as uuid_lib
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.expiring import ExpiringMap
from app.models import Token

PREFIX = "dbaas_"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def create_token(
    session: Session, project_id: str, *, is_admin: bool = False, description: str = ""
) -> str:
    """Store a new token for ``project_id`` and return its only plaintext copy."""
    project_id = str(uuid_lib.UUID(project_id))
    token = PREFIX + secrets.token_urlsafe(32)
    session.add(
        Token(
            token_hash=_digest(token),
            project_id=project_id,
            is_admin=is_admin,
            description=description,
        )
    )
    session.commit()
    return token


@dataclass(frozen=True)
class Identity:
    """Who a valid token speaks for."""

    project_id: str
    is_admin: bool


def authenticate(session: Session, presented: str) -> Identity | None:
    # Looking up by digest leaks nothing useful (an attacker cannot steer a
    # SHA-256); the final comparison is constant-time all the same.
    digest = _digest(presented)
    cached = _known.get(digest)
    if cached is not None:
        return cached
    token = session.scalars(select(Token).where(Token.token_hash == digest)).first()
    if token is None or not hmac.compare_digest(token.token_hash, digest):
        return None
    identity = Identity(token.project_id, token.is_admin)
    _known.put(digest, identity, IDENTITY_KEEP)
    return identity


# Valid tokens seen lately by this process, by digest: most requests then skip the
# token query. An entry lives IDENTITY_KEEP seconds, so a token removed from the
# database stops working within that time. Unknown tokens are never remembered.
IDENTITY_KEEP = 10.0
_known = ExpiringMap()
