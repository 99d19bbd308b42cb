"""API bearer tokens: shown once, stored as SHA-256, compared in constant time."""

import hashlib
import hmac
import secrets
import uuid as uuid_lib

from sqlalchemy import select
from sqlalchemy.orm import Session

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


def authenticate(session: Session, presented: str) -> Token | None:
    # Looking up by digest leaks nothing useful (an attacker cannot steer a
    # SHA-256); the final comparison is constant-time all the same.
    digest = _digest(presented)
    token = session.scalars(select(Token).where(Token.token_hash == digest)).first()
    if token is None or not hmac.compare_digest(token.token_hash, digest):
        return None
    return token
