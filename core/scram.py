"""SCRAM-SHA-256 verifiers as PostgreSQL stores them (RFC 5802, RFC 7677).

``CREATE ROLE ... PASSWORD 'SCRAM-SHA-256$...'`` stores a verifier as it is, so roles
can be created and changed without the plaintext reaching PostgreSQL or a log. The API
makes users' verifiers here; the pg_user role's ``scram_verifier`` filter is a shim
over ``scram_verifier`` below, for SREs who give a plaintext password.
"""

import base64
import hashlib
import hmac
import re
import secrets
import stringprep
import unicodedata

ITERATIONS = 4096
SALT_BYTES = 16

VERIFIER = re.compile(
    r"SCRAM-SHA-256\$(?P<iterations>[0-9]+):(?P<salt>[A-Za-z0-9+/=]+)"
    r"\$(?P<stored_key>[A-Za-z0-9+/=]+):(?P<server_key>[A-Za-z0-9+/=]+)"
)

_PROHIBITED = (
    stringprep.in_table_c12,
    stringprep.in_table_c21,
    stringprep.in_table_c22,
    stringprep.in_table_c3,
    stringprep.in_table_c4,
    stringprep.in_table_c5,
    stringprep.in_table_c6,
    stringprep.in_table_c7,
    stringprep.in_table_c8,
    stringprep.in_table_c9,
    stringprep.in_table_a1,  # unassigned code points: prohibited in stored strings
)


def saslprep(text: str) -> str:
    """RFC 4013 SASLprep; raises ValueError where the RFC prohibits the string."""
    mapped = "".join(
        " " if stringprep.in_table_c12(ch) else ch for ch in text if not stringprep.in_table_b1(ch)
    )
    # Stringprep is defined on Unicode 3.2: normalise with that database too.
    prepared = unicodedata.ucd_3_2_0.normalize("NFKC", mapped)
    for ch in prepared:
        if any(prohibited(ch) for prohibited in _PROHIBITED):
            raise ValueError(f"prohibited character U+{ord(ch):04X}")
    if any(stringprep.in_table_d1(ch) for ch in prepared):
        if any(stringprep.in_table_d2(ch) for ch in prepared):
            raise ValueError("mixed right-to-left and left-to-right text")
        if not (stringprep.in_table_d1(prepared[0]) and stringprep.in_table_d1(prepared[-1])):
            raise ValueError("right-to-left text must start and end right-to-left")
    return prepared


def _normalised_password(password: str) -> bytes:
    # As PostgreSQL does: a password SASLprep rejects is used as it is.
    try:
        return saslprep(password).encode()
    except ValueError:
        return password.encode()


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def salted_password(password: str, salt: bytes, iterations: int = ITERATIONS) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", _normalised_password(password), salt, iterations)


def verifier(password: str, salt: bytes | None = None, iterations: int = ITERATIONS) -> str:
    """``SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`` for ``password``."""
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    salted = salted_password(password, salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    return f"SCRAM-SHA-256${iterations}:{_b64(salt)}${_b64(stored_key)}:{_b64(server_key)}"


def is_verifier(text: str) -> bool:
    return VERIFIER.fullmatch(text) is not None


def matches(password: str, stored: str) -> bool:
    """Whether ``password`` is the one ``stored`` was made from (constant time)."""
    parts = VERIFIER.fullmatch(stored)
    if parts is None:
        return False
    expected = verifier(password, base64.b64decode(parts["salt"]), int(parts["iterations"]))
    return hmac.compare_digest(expected, stored)


def scram_verifier(password: str, stored: str | None = None) -> str:
    """A verifier to hand to PostgreSQL: ``password`` itself when it is one, the
    ``stored`` verifier when the password still matches it (so that running again
    changes nothing), else a new verifier with a fresh salt."""
    if is_verifier(password):
        return password
    if stored and matches(password, stored):
        return stored
    return verifier(password)
