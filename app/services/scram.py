"""SCRAM-SHA-256 verifiers as PostgreSQL stores them: the service creates and changes
roles with a verifier, so a password's plaintext never leaves the request.

The implementation lives in the pg_user role (its ``scram_verifier`` filter turns an
SRE's plaintext into a verifier the same way); this module is its face in the service.
"""

from app import role_code

_scram = role_code.load("pg_user", "filter_plugins/scram.py")

ITERATIONS = _scram.ITERATIONS
VERIFIER = _scram.VERIFIER
saslprep = _scram.saslprep
verifier = _scram.verifier
is_verifier = _scram.is_verifier
matches = _scram.matches
salted_password = _scram.salted_password
